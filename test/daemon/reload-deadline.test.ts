import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { createBackends } from "../../src/backends.js";
import type { CondorPool } from "../../src/condor/pool.js";
import { loadConfig } from "../../src/config/load.js";
import { poolPolicy } from "../../src/config/policies.js";
import { Daemon } from "../../src/daemon/daemon.js";
import type { TickFailure, TickObserver, TickReport } from "../../src/daemon/report.js";
import type { IdleJob, StartdMachine } from "../../src/model/snapshot.js";
import { seededRandom } from "../../src/random.js";
import { reloadBackends } from "../../src/reload.js";
import { ManualClock } from "../../src/sim/clock.js";
import { cli, ROOT, records, startCli } from "../cli/run-cli.js";
import { memoryLog } from "../tick/support.js";
import { labelSets, parseExposition, value } from "./reports.js";

const DEMO = join(ROOT, "examples/simulated");

function recorder(): TickObserver & { completed: TickReport[]; failed: TickFailure[] } {
  const completed: TickReport[] = [];
  const failed: TickFailure[] = [];
  return {
    completed,
    failed,
    tickCompleted: (report) => completed.push(report),
    tickFailed: (failure) => failed.push(failure),
  };
}

async function demoCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-reload-"));
  await cp(DEMO, dir, { recursive: true });
  return dir;
}

async function edit(file: string, from: string | RegExp, to: string): Promise<void> {
  const text = await readFile(file, "utf8");
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file}: ${String(from)} not found`);
  await writeFile(file, changed);
}

test("a reload takes effect at the next tick: new caps apply, a removed cloud's workers are left running and logged", async (t) => {
  const dir = await demoCopy();
  const config = await loadConfig(dir);
  const clock = new ManualClock(1_700_000_000);
  const { log, messages } = memoryLog();
  const backends = await createBackends(config, log, { clock });
  const observer = recorder();
  const daemon = new Daemon({
    policy: poolPolicy(config),
    tickInterval: config.global.tickInterval,
    sources: backends,
    clock,
    log,
    dryRun: false,
    random: seededRandom(3),
    observers: [observer],
  });
  // Run until both clouds have workers.
  for (let i = 0; i < 40; i += 1) {
    await daemon.tick();
    clock.advance(config.global.tickInterval);
    const clouds = new Set(daemon.lastResult?.snapshot.workers.map((w) => w.cloud));
    if (clouds.has("backup") && clouds.has("competitive")) break;
  }
  const backupWorkers = (daemon.lastResult?.snapshot.workers ?? []).filter(
    (w) => w.cloud === "backup" && w.state !== "gone",
  );
  t.true(backupWorkers.length > 0, "backup has workers before the reload");

  // The new directory drops `backup` and caps `competitive` at 1.
  await edit(join(dir, "clouds.d/competitive.yaml"), /^maxWorkers: \d+$/m, "maxWorkers: 1");
  await rm(join(dir, "clouds.d/backup.yaml"));
  const next = await loadConfig(dir);
  const nextBackends = await reloadBackends({ config, backends }, next, log);
  t.is(nextBackends.condor, backends.condor, "the simulated pool is kept");
  t.is(nextBackends.providers.get("competitive"), backends.providers.get("competitive"));
  t.false(nextBackends.providers.has("backup"));
  daemon.reload({
    policy: poolPolicy(next),
    sources: nextBackends,
    tickInterval: next.global.tickInterval,
    tickDeadline: next.global.tickDeadline,
  });
  t.deepEqual(
    observer.completed.at(-1)?.policy.clouds.map((c) => c.name),
    ["backup", "competitive"],
    "the last tick before the reload ran with the old policy",
  );

  const seenBefore = messages().length;
  await daemon.tick();
  const after = messages().slice(seenBefore);
  const removed = after.find((m) => m.startsWith("cloud backup removed by the reload"));
  t.truthy(removed, after.join("\n"));
  t.regex(removed ?? "", new RegExp(`its ${backupWorkers.length} workers are left running`));
  t.deepEqual(
    observer.completed.at(-1)?.policy.clouds.map((c) => c.name),
    ["competitive"],
  );
  t.false(
    after.some((m) => /^terminate .* on backup/.test(m)),
    "nothing terminated on backup",
  );
  // The backup workers still exist in their cloud.
  const backupProvider = backends.providers.get("backup");
  const stillThere = (await backupProvider?.list()) ?? [];
  for (const worker of backupWorkers)
    t.true(
      stillThere.some((i) => i.id === worker.instanceId && i.status !== "gone"),
      worker.instanceId,
    );
  // From now on, competitive never goes above its new cap of 1 through launches.
  for (let i = 0; i < 10; i += 1) {
    clock.advance(next.global.tickInterval);
    const result = await daemon.tick();
    const launches = (result?.plan.actions ?? []).filter((a) => a.kind === "launch");
    const alive = (result?.snapshot.workers ?? []).filter(
      (w) => w.cloud === "competitive" && w.state !== "gone",
    ).length;
    const launched = launches.reduce((sum, a) => sum + (a.kind === "launch" ? a.count : 0), 0);
    t.true(launched === 0 || alive + launched <= 1, `alive ${alive}, launching ${launched}`);
  }
});

test("a reload that would change a simulated pool's clouds is refused and nothing changes", async (t) => {
  const dir = await demoCopy();
  const config = await loadConfig(dir);
  const { log } = memoryLog();
  const backends = await createBackends(config, log, { clock: new ManualClock(1_700_000_000) });
  await edit(join(dir, "clouds.d/backup.yaml"), "bootDelay: 2m", "bootDelay: 5m");
  const next = await loadConfig(dir);
  await t.throwsAsync(reloadBackends({ config, backends }, next, log), {
    message: /simulated pool and its simulated clouds cannot change on reload/,
  });
});

function hangingPool(gate: Promise<void>, calls: { count: number }): CondorPool {
  return {
    idleJobs: async (): Promise<IdleJob[]> => {
      calls.count += 1;
      await gate;
      // Demand that would launch workers, had the tick not been abandoned.
      return Array.from({ length: 4 }, (_, i) => ({
        id: `1.${i}`,
        idleSince: 0,
        cpus: 1,
        memoryMb: 100,
        gpus: 0,
        clouds: ["backup", "competitive"],
      }));
    },
    machines: async (): Promise<StartdMachine[]> => [],
  };
}

test("a tick past its deadline is abandoned: reported at the deadline, and nothing it planned is done", async (t) => {
  const config = await loadConfig(DEMO);
  const { log, messages } = memoryLog();
  const backends = await createBackends(config, log, { clock: new ManualClock(1_700_000_000) });
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const calls = { count: 0 };
  const observer = recorder();
  const daemon = new Daemon({
    policy: poolPolicy(config),
    tickInterval: 30,
    tickDeadline: 0.2,
    sources: { condor: hangingPool(gate, calls), providers: backends.providers },
    clock: { now: () => Date.now() / 1000 },
    log,
    dryRun: false,
    random: seededRandom(1),
    observers: [observer],
  });
  const ticking = daemon.tick();
  while (observer.failed.length === 0) await new Promise((r) => setTimeout(r, 20));
  t.like(observer.failed[0], { tick: 1, reason: "deadline" });
  t.true(messages().some((m) => m.startsWith("tick 1 overran its deadline of 0.2s: abandoned")));
  // A tick asked for now joins the abandoned one: ticks never overlap.
  const joined = daemon.tick();
  release();
  t.is(await ticking, undefined);
  t.is(await joined, undefined);
  t.is(calls.count, 1);
  t.true(messages().some((m) => m.startsWith("tick 1 ended after it was abandoned")));
  t.false(
    messages().some((m) => /^launch /.test(m)),
    "no launch from an abandoned tick",
  );
  for (const provider of backends.providers.values()) t.deepEqual(await provider.list(), []);
  t.is(observer.completed.length, 0);
});

test("the running daemon: /metrics, /healthz and `status` answer; a second daemon on its pidfile is refused; SIGHUP valid/invalid; SIGTERM exits 0", async (t) => {
  const dir = await demoCopy();
  // Slower than the demo, so that it is still running when the signals come.
  await edit(join(dir, "autoscaler.yaml"), "clockSpeed: 30", "clockSpeed: 5");
  // Tests run side by side: any free port for the status endpoint.
  await edit(join(dir, "autoscaler.yaml"), "port: 9464", "port: 0");
  const pidfile = join(dir, "daemon.pid");
  const child = startCli(["run", "--config", dir, "--log-format", "json", "--pidfile", pidfile]);
  let stdout = "";
  const waitFor = (pattern: RegExp, from: number) =>
    new Promise<number>((resolve, reject) => {
      const check = () => {
        const index = records(stdout).findIndex((r, i) => i >= from && pattern.test(String(r.msg)));
        if (index >= 0) {
          child.stdout?.off("data", check);
          resolve(index);
        }
      };
      child.stdout?.on("data", check);
      child.once("exit", () => reject(new Error(`exited before ${pattern}:\n${stdout}`)));
      check();
    });
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  try {
    let at = await waitFor(/^tick 1: /, 0);
    const url = String(records(stdout).find((r) => typeof r.url === "string")?.url);
    t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/);

    // Scraped and parsed: the tick counted, the demo's clouds reported.
    const scrape = await fetch(`${url}/metrics`);
    t.regex(scrape.headers.get("content-type") ?? "", /^text\/plain/);
    const samples = parseExposition(await scrape.text());
    t.true((value(samples, "condor_autoscaler_ticks_total", { outcome: "ok" }) ?? 0) >= 1);
    t.deepEqual(
      labelSets(samples, "condor_autoscaler_idle_jobs")
        .map((l) => l.cloud)
        .sort(),
      ["backup", "competitive"],
    );
    t.is((await fetch(`${url}/healthz`)).status, 200);
    const status = await cli(["status", "--url", url]);
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /^cloud competitive: min 0 max \d+/m);
    t.regex(status.stdout, /^cloud backup: min 0 max 6/m);

    // The pidfile names this daemon; a second one on it is refused and exits 1.
    t.is((await readFile(pidfile, "utf8")).split("\n")[0], String(child.pid));
    const second = await cli(["run", "--config", dir, "--pidfile", pidfile]);
    t.is(second.code, 1);
    t.regex(
      second.stderr,
      new RegExp(`another condor-autoscaler \\(pid ${child.pid}\\) runs pool demo`),
    );

    await edit(join(dir, "clouds.d/backup.yaml"), "maxWorkers: 6", "maxWorkers: 2");
    child.kill("SIGHUP");
    at = await waitFor(/^reload accepted/, at);
    at = await waitFor(/^configuration reloaded: clouds backup, competitive/, at);

    await edit(join(dir, "clouds.d/backup.yaml"), "maxWorkers: 2", "maxWorkers: six");
    child.kill("SIGHUP");
    at = await waitFor(/^reload rejected, the running configuration stays/, at);
    const rejected = records(stdout)[at];
    t.regex(String(rejected?.msg), /backup\.yaml:\d+: maxWorkers:/);
    t.is((rejected?.problems as Array<{ field: string }> | undefined)?.[0]?.field, "maxWorkers");
    // It goes on ticking with the configuration it had.
    at = await waitFor(/^tick \d+: /, at);

    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    t.is(code, 0);
    const messages = records(stdout).map((r) => String(r.msg));
    t.is(messages.at(-1), "stopped");
    await t.throwsAsync(readFile(pidfile, "utf8"), { code: "ENOENT" }, "the pidfile is removed");
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test("a reload that changes condor.headNode, condor.tokenFile or a cloud's jobs makes new providers: user-data follows", async (t) => {
  const config = await loadConfig(join(import.meta.dirname, "../../examples/docker"));
  const { log } = memoryLog();
  const backends = await createBackends(config, log, { clock: new ManualClock(1_700_000_000) });
  const condor = config.global.condor;
  if (condor.kind !== "htcondor") throw new Error("examples/docker is an HTCondor pool");
  const withCondor = (change: Partial<typeof condor>): typeof config => ({
    ...config,
    global: { ...config.global, condor: { ...condor, ...change } },
  });
  const same = await reloadBackends({ config, backends }, config, log);
  for (const cloud of config.clouds)
    t.is(same.providers.get(cloud.name), backends.providers.get(cloud.name), `${cloud.name} kept`);
  for (const [what, next] of [
    ["headNode", withCondor({ headNode: "cm2.example.org" })],
    ["tokenFile", withCondor({ tokenFile: "/etc/condor/autoscaler/rotated.token" })],
  ] as const) {
    const reloaded = await reloadBackends({ config, backends }, next, log);
    for (const cloud of config.clouds)
      t.not(reloaded.providers.get(cloud.name), backends.providers.get(cloud.name), what);
  }
  const [first, ...rest] = config.clouds;
  if (first === undefined) throw new Error("examples/docker has clouds");
  const jobsChanged = { ...config, clouds: [{ ...first, jobs: "RequestCpus == 3" }, ...rest] };
  const reloaded = await reloadBackends({ config, backends }, jobsChanged, log);
  t.not(reloaded.providers.get(first.name), backends.providers.get(first.name));
  for (const cloud of rest)
    t.is(reloaded.providers.get(cloud.name), backends.providers.get(cloud.name));
});
