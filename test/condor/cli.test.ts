/**
 * End to end: the real command line with `condor.binDir` pointing at the fake HTCondor tools, and
 * simulated clouds already holding the workers the captured startd ads describe. worker1
 * advertises AutoscalerInstanceId "i-worker1" (cloud alpha); worker2 advertises no id and is
 * joined by its address (127.0.0.1, from StartdIpAddr) to beta's instance "os-beta-2".
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "ava";
import { parseClassAds } from "../../src/condor/classads.js";
import { cli, records } from "../cli/run-cli.js";
import { configDir } from "../config/config-dir.js";
import {
  type Answer,
  fixture,
  removeScenarios,
  type Scenario,
  scenario,
  slotQueries,
} from "./fake-condor.js";

test.after.always(removeScenarios);

interface Existing {
  id: string;
  name: string;
  address?: string;
  age?: string;
}

interface PlanJson {
  unobserved: { queue: boolean; collector: boolean; clouds: string[] };
  demand: Record<string, { idleJobs: number; cpus: number; memoryMb: number; gpus: number }>;
  workers: Array<{
    cloud: string;
    name: string;
    instanceId: string;
    state: string;
    idleSeconds: number | null;
  }>;
  actions: Array<{
    kind: string;
    cloud: string;
    count?: number;
    instanceIds?: string[];
    cause?: string;
    reason: string;
  }>;
  notes: string[];
}

const WORKER1: Existing = { id: "i-worker1", name: "worker1" };
const BETA2: Existing = { id: "os-beta-2", name: "beta-2", address: "127.0.0.1" };

/** An -af:t answer with each job's cloud flags (alpha, beta) appended, as HTCondor prints them. */
function flagged(file: string, flags: (line: number) => string): string {
  return fixture(file)
    .split("\n")
    .filter((line) => line !== "")
    .map((line, index) => `${line}\t${flags(index)}\n`)
    .join("");
}

/** What condor_q -af prints for the idle jobs of 02/04: 1.4 only alpha's, 1.5 both clouds'. */
const AF_02 = flagged("02_condor_q_idle_only.af.txt", (line) => (line === 0 ? "1\t0" : "1\t1"));

const SCHEDD_DOWN =
  "-- Failed to fetch ads from: <127.0.0.1:9618?addrs=127.0.0.1-9618&alias=vm&noUDP&sock=schedd_1234_5678> : vm\n" +
  "SECMAN:2007:Failed to end classad message.\n";

function existing(list: readonly Existing[]): string {
  if (list.length === 0) return "  existing: []\n";
  return `  existing:\n${list
    .map(
      (e) =>
        `    - id: ${e.id}\n      name: ${e.name}\n` +
        (e.address === undefined ? "" : `      address: "${e.address}"\n`) +
        `      age: ${e.age ?? "1h"}\n`,
    )
    .join("")}`;
}

async function config(
  fakes: Scenario,
  clouds: { alpha?: Existing[]; beta?: Existing[] },
  timeout = "10s",
): Promise<string> {
  const cloud = (list: readonly Existing[], priority: number, jobs: string) =>
    `provider:\n  kind: simulated\n${existing(list)}priority: ${priority}\nmaxWorkers: 4\n` +
    `worker:\n  cpus: 2\n  memoryMb: 4096\nidleTimeout: 1m\nbootTimeout: 15m\njobs: '${jobs}'\n`;
  return configDir({
    "autoscaler.yaml":
      "pool: test\ntickInterval: 30s\ncondor:\n  kind: htcondor\n" +
      `  binDir: ${JSON.stringify(fakes.binDir)}\n  timeout: ${timeout}\n  retries: 0\n`,
    "clouds.d/alpha.yaml": cloud(clouds.alpha ?? [WORKER1], 1, "RequestCpus <= 2"),
    "clouds.d/beta.yaml": cloud(clouds.beta ?? [BETA2], 2, 'Owner == "submitter" && ProcId >= 5'),
  });
}

async function plan(
  answers: Record<string, Answer>,
  clouds: { alpha?: Existing[]; beta?: Existing[] } = {},
  timeout = "10s",
): Promise<{ plan: PlanJson; fakes: Scenario; stderr: string; code: number }> {
  const fakes = await scenario(answers);
  const result = await cli(["plan", "--config", await config(fakes, clouds, timeout), "--json"]);
  // 3: printed, but a source could not be read.
  if (result.code !== 0 && result.code !== 3)
    throw new Error(`plan exited ${result.code}: ${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as PlanJson;
  return { plan: parsed, fakes, stderr: result.stderr, code: result.code };
}

function terminations(p: PlanJson) {
  return p.actions.filter((action) => action.kind === "terminate");
}

const NO_DEMAND = { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 };

test("plan: busy partitionable slots are busy workers; idle jobs are demand per cloud as HTCondor selected them", async (t) => {
  const { plan: p, fakes } = await plan({
    "condor_q.af": AF_02,
    condor_status: fixture("02_condor_status_busy_pslots_autoscaler.json"),
  });
  t.deepEqual(p.demand, {
    alpha: { idleJobs: 2, cpus: 2, memoryMb: 256, gpus: 0 },
    beta: { idleJobs: 1, cpus: 1, memoryMb: 128, gpus: 0 },
  });
  t.deepEqual(p.workers, [
    { cloud: "alpha", name: "worker1", instanceId: "i-worker1", state: "busy", idleSeconds: null },
    { cloud: "beta", name: "beta-2", instanceId: "os-beta-2", state: "busy", idleSeconds: null },
  ]);
  t.deepEqual(terminations(p), []);
  t.deepEqual(
    p.notes.filter((n) => n.includes("incomplete")),
    [],
  );
  // The clouds' constraints differ: still exactly one condor_q, flags in cloud order.
  const queries = await fakes.callsOf("condor_q");
  t.is(queries.length, 1);
  t.deepEqual(queries[0]?.argv.slice(-2), [
    "ifThenElse((RequestCpus <= 2) =?= true, 1, 0)",
    'ifThenElse((Owner == "submitter" && ProcId >= 5) =?= true, 1, 0)',
  ]);
  t.is((await slotQueries(fakes)).length, 1);
});

test("plan: idle static slots and an idle partitionable slot, empty queue: idle workers, the one past its timeout terminated", async (t) => {
  const { plan: p } = await plan({
    "condor_q.af": fixture("condor_q_global_empty_queue.txt"),
    condor_status: fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  });
  t.deepEqual(p.demand, { alpha: NO_DEMAND, beta: NO_DEMAND });
  t.deepEqual(p.workers, [
    // Static slots: 1795348066 − 1795347995 on the worker's own clock.
    { cloud: "alpha", name: "worker1", instanceId: "i-worker1", state: "idle", idleSeconds: 71 },
    // Partitionable slot: since its last dynamic slot went, 1795348068 − NumDynamicSlotsTime 1795348033.
    { cloud: "beta", name: "beta-2", instanceId: "os-beta-2", state: "idle", idleSeconds: 35 },
  ]);
  t.deepEqual(
    terminations(p).map((a) => [a.cloud, a.instanceIds, a.cause, a.reason]),
    [["alpha", ["i-worker1"], "idle", "worker1: idle for 1m11s (idleTimeout 1m)"]],
  );
  t.deepEqual(p.notes, []);
});

test("plan predicts the idle termination of a worker on a partitionable slot, as the daemon makes it", async (t) => {
  // The same pool 200 s after the last dynamic slot went (NumDynamicSlotsTime moved back).
  const idle = fixture("05_condor_status_idle_static_and_pslot_autoscaler.json").replace(
    '"NumDynamicSlotsTime": 1795348033',
    '"NumDynamicSlotsTime": 1795347868',
  );
  t.not(idle, fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"));
  const { plan: p } = await plan({
    "condor_q.af": fixture("condor_q_global_empty_queue.txt"),
    condor_status: idle,
  });
  t.deepEqual(
    terminations(p).map((a) => [a.cloud, a.instanceIds, a.reason]),
    [
      ["alpha", ["i-worker1"], "worker1: idle for 1m11s (idleTimeout 1m)"],
      ["beta", ["os-beta-2"], "beta-2: idle for 3m20s (idleTimeout 1m)"],
    ],
  );
});

test("plan: an empty pool with a queue of idle jobs: no workers, demand, and launches", async (t) => {
  const { plan: p } = await plan(
    {
      "condor_q.af": flagged("01_condor_q_idle_jobs.af.txt", (n) => `1\t${n === 5 ? 1 : 0}`),
      condor_status: fixture("01_condor_status_startd_empty.json"),
    },
    { alpha: [], beta: [] },
  );
  t.deepEqual(p.demand, {
    alpha: { idleJobs: 6, cpus: 6, memoryMb: 768, gpus: 0 },
    beta: { idleJobs: 1, cpus: 1, memoryMb: 128, gpus: 0 },
  });
  t.deepEqual(p.workers, []);
  t.deepEqual(
    p.actions.map((a) => [a.kind, a.cloud, a.count]),
    [["launch", "alpha", 3]],
  );
});

test("plan: stale ads of a worker we already terminated are no worker and no capacity", async (t) => {
  // worker1's idle ads still name i-worker1, which alpha no longer has.
  const { plan: p } = await plan(
    {
      "condor_q.af": flagged("02_condor_q_idle_only.af.txt", () => "1\t0"),
      condor_status: fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
    },
    { alpha: [] },
  );
  t.deepEqual(p.workers, [
    { cloud: "beta", name: "beta-2", instanceId: "os-beta-2", state: "idle", idleSeconds: 35 },
  ]);
  t.false(JSON.stringify(p.actions).includes("i-worker1"));
  // Its two idle slots would hold both jobs; counted as nothing, alpha launches a worker for them.
  t.deepEqual(
    p.actions.map((a) => [a.kind, a.cloud, a.count]),
    [["launch", "alpha", 1]],
  );
});

test("plan: stale ads at the address of a new instance do not make that instance look idle", async (t) => {
  // Only worker1's idle ads, which name i-worker1 (terminated); the cloud reused their address.
  const stale = parseClassAds(
    fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
    "condor_status",
  ).filter((ad) => ad.AutoscalerInstanceId === "i-worker1");
  t.is(stale.length, 2);
  const { plan: p } = await plan(
    {
      "condor_q.af": fixture("condor_q_global_empty_queue.txt"),
      condor_status: JSON.stringify(stale),
    },
    { alpha: [{ id: "i-worker9", name: "worker9", address: "127.0.0.1", age: "2m" }], beta: [] },
  );
  t.deepEqual(p.workers, [
    {
      cloud: "alpha",
      name: "worker9",
      instanceId: "i-worker9",
      state: "booting",
      idleSeconds: null,
    },
  ]);
  t.deepEqual(terminations(p), []);
});

test("plan: a failing condor_q: demand unknown, exit 3, notes say so; idle workers past their timeout still go (no queue needed)", async (t) => {
  const { plan: p, code } = await plan({
    "condor_q.af": { err: SCHEDD_DOWN, exit: 1 },
    condor_status: fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  });
  t.deepEqual(p.workers[0], {
    cloud: "alpha",
    name: "worker1",
    instanceId: "i-worker1",
    state: "idle",
    idleSeconds: 71,
  });
  t.is(code, 3);
  t.deepEqual(p.unobserved, { queue: true, collector: false, clouds: [] });
  t.deepEqual(
    terminations(p).map((a) => a.instanceIds),
    [["i-worker1"]],
  );
  const note = p.notes.find((n) => n.startsWith("queue not read"));
  t.truthy(note, p.notes.join("\n"));
  t.regex(
    note ?? "",
    /^queue not read, no job counts as demand this tick: condor_q -global -constraint '.*' -af:t/,
  );
  t.regex(note ?? "", /exit code 1 \(stderr: -- Failed to fetch ads from: /);
});

test("plan: a hanging condor_status times out: incomplete, workers unseen, nothing terminated", async (t) => {
  const { plan: p } = await plan(
    {
      "condor_q.af": fixture("condor_q_global_empty_queue.txt"),
      condor_status: { mode: "hang" },
    },
    {},
    "1s",
  );
  // Unseen by HTCondor for an hour: would be stuck, but without the collector nobody is.
  t.deepEqual(
    p.workers.map((w) => [w.instanceId, w.state]),
    [
      ["i-worker1", "stuck"],
      ["os-beta-2", "stuck"],
    ],
  );
  t.deepEqual(terminations(p), []);
  t.regex(
    p.notes.join("\n"),
    /collector not read, no idle or stuck worker is terminated this tick: condor_status -slots -json .*: no answer within 1s/,
  );
});

test("run --once: truncated condor_status output is logged with the command, the tick is INCOMPLETE, exit 0", async (t) => {
  const fakes = await scenario({
    "condor_q.af": fixture("condor_q_global_empty_queue.txt"),
    condor_status: fixture("05_condor_status_idle_autoscaler_truncated.json"),
  });
  const dir = await config(fakes, {});
  const result = await cli(["run", "--once", "--config", dir, "--log-format", "json"]);
  t.is(result.code, 0, result.stderr);
  const logged = records(result.stdout);
  const gap = logged.find((r) => String(r.msg).startsWith("observation gap in machines"));
  t.truthy(gap, result.stdout);
  t.regex(
    String(gap?.msg),
    /condor_status -slots -json -attributes MyType,Name,.* -constraint 'AutoscalerPool == "test"': malformed or truncated JSON \(8192 bytes\)/,
  );
  const summary = logged.find((r) => r.summary === true);
  t.regex(String(summary?.msg), /INCOMPLETE \(1 gaps?\)/);
  t.deepEqual(await fakes.withdrawals(), [], "nothing terminated, nothing withdrawn");
});

test("plan as a table: what could not be read is 'unknown', never 0, and the exit status is 3", async (t) => {
  const fakes = await scenario({
    "condor_q.af": { err: SCHEDD_DOWN, exit: 1 },
    condor_status: fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  });
  const result = await cli(["plan", "--config", await config(fakes, {})]);
  t.is(result.code, 3, result.stderr);
  t.true(
    result.stdout.startsWith("INCOMPLETE: unknown this time: the queue (condor_q)\n"),
    result.stdout,
  );
  t.regex(result.stdout, /^alpha\s+unknown\s+unknown\s+unknown\s*$/m);
  t.notRegex(result.stdout, /^alpha\s+0\s/m);
});

test("run --state keeps who joined across a restart: after a collector restart the restarted daemon kills no joined worker as stuck", async (t) => {
  const fakes = await scenario({
    "condor_q.af": fixture("condor_q_global_empty_queue.txt"),
    // Run 1 sees both workers busy; then the collector restarts and shows no ads at all.
    "condor_status.1": fixture("02_condor_status_busy_pslots_autoscaler.json"),
    condor_status: fixture("01_condor_status_startd_empty.json"),
  });
  const dir = await config(fakes, {});
  const state = join(dir, "state.json");
  const once = ["run", "--once", "--config", dir, "--log-format", "json"];
  const first = await cli([...once, "--state", state]);
  t.is(first.code, 0, first.stderr);
  t.deepEqual(JSON.parse(await readFile(state, "utf8")), {
    version: 1,
    pool: "test",
    clouds: { alpha: { joined: ["i-worker1"] }, beta: { joined: ["os-beta-2"] } },
  });

  const restarted = await cli([...once, "--state", state]);
  t.is(restarted.code, 0, restarted.stderr);
  const said = records(restarted.stdout).map((r) => String(r.msg));
  t.true(said.includes("state file: 2 workers known to have joined"), said.join("\n"));
  t.false(
    said.some((m) => m.startsWith("terminate ")),
    "no joined worker is taken for stuck after the restart",
  );
  t.true(said.some((m) => m.startsWith("tick 1: 0 idle jobs; workers: 2 missing")));

  // Without the file the same restart takes them for stuck booting workers (an hour old).
  const forgetful = await cli(once);
  const terminated = records(forgetful.stdout)
    .map((r) => String(r.msg))
    .filter((m) => m.startsWith("terminate "));
  t.is(terminated.length, 2, terminated.join("\n"));
});

test("plan --json: a tool's error that echoes the worker token shows it nowhere, plain or base64", async (t) => {
  const token = "wt-9f8e7d6c5b4a39281706fedcba";
  const fakes = await scenario({
    "condor_q.af": {
      err: `ERROR: bad config near TOKEN=${token} (${Buffer.from(`xx${token}`).toString("base64")})\n`,
      exit: 1,
    },
    condor_status: fixture("01_condor_status_startd_empty.json"),
  });
  const dir = await config(fakes, {});
  const tokenFile = join(dir, "worker.token");
  await writeFile(tokenFile, `${token}\n`);
  const global = join(dir, "autoscaler.yaml");
  await writeFile(
    global,
    (await readFile(global, "utf8")).replace(
      "  kind: htcondor\n",
      `  kind: htcondor\n  tokenFile: ${tokenFile}\n`,
    ),
  );
  const result = await cli(["plan", "--config", dir, "--json"]);
  t.is(result.code, 3, result.stderr);
  t.false(result.stdout.includes(token), result.stdout);
  t.false(result.stdout.includes(Buffer.from(`xx${token}`).toString("base64").slice(4, -4)));
  t.true(result.stdout.includes("[REDACTED]"));
  t.false(result.stderr.includes(token));
});
