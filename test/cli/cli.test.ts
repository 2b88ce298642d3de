import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { cli, ROOT, records, startCli } from "./run-cli.js";

const DEMO = join(ROOT, "examples/simulated");

test("--help lists the commands", async (t) => {
  const result = await cli(["--help"]);
  t.is(result.code, 0);
  for (const command of ["run", "plan", "validate", "schema"])
    t.regex(result.stdout, new RegExp(`\\b${command}\\b`));
});

test("validate exits 0 on the shipped simulated example", async (t) => {
  const result = await cli(["validate", DEMO]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /valid/);
});

test("validate exits non-zero on a broken copy, naming file, line and field", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-cli-"));
  await cp(DEMO, dir, { recursive: true });
  const file = join(dir, "clouds.d/backup.yaml");
  await writeFile(
    file,
    (await readFile(file, "utf8")).replace("maxWorkers: 6", "maxWorkers: lots"),
  );
  const result = await cli(["validate", dir]);
  t.is(result.code, 1);
  t.regex(
    result.stderr,
    /clouds\.d\/backup\.yaml:\d+: maxWorkers: .*expected number, received string/,
  );
  const line = Number(/backup\.yaml:(\d+):/.exec(result.stderr)?.[1]);
  const lines = (await readFile(file, "utf8")).split("\n");
  t.is(lines[line - 1], "maxWorkers: lots");
});

test("schema prints a JSON Schema for both file kinds", async (t) => {
  const result = await cli(["schema"]);
  t.is(result.code, 0);
  const schema = JSON.parse(result.stdout) as { $defs: Record<string, unknown> };
  t.truthy(schema.$defs.global);
  t.truthy(schema.$defs.cloud);
});

test("plan --json prints demand, workers and actions with reasons, in the public shape", async (t) => {
  const result = await cli(["plan", "--config", DEMO, "--json"]);
  t.is(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout) as {
    demand: Record<string, { idleJobs: number; cpus: number; memoryMb: number }>;
    workers: unknown[];
    actions: Array<{
      kind: string;
      cloud: string;
      count?: number;
      instanceIds?: string[];
      reason: string;
    }>;
  };
  t.deepEqual(Object.keys(plan.demand).sort(), ["backup", "competitive"]);
  t.is(plan.demand.competitive?.idleJobs, 24);
  t.is(plan.demand.competitive?.cpus, 24);
  t.deepEqual(plan.workers, []);
  // 24 one-cpu jobs in 4-cpu workers: 6 workers, 4 on the preferred cloud (its max), 2 spilled over.
  const launches = plan.actions.filter((a) => a.kind === "launch");
  t.deepEqual(
    launches.map((a) => [a.cloud, a.count]),
    [
      ["competitive", 4],
      ["backup", 2],
    ],
  );
  for (const action of plan.actions) t.true(action.reason.length > 0);
});

test("plan honours the schedule windows open now: a held cloud gets no launch, its demand spills over, and a note names the window", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-cli-"));
  await cp(DEMO, dir, { recursive: true });
  // Opens every minute for a minute: open whenever the test runs.
  const file = join(dir, "clouds.d/competitive.yaml");
  await writeFile(
    file,
    `${await readFile(file, "utf8")}schedules:\n  - {cron: "* * * * *", for: 1m, hold: true}\n`,
  );
  const result = await cli(["plan", "--config", dir, "--json"]);
  await rm(dir, { recursive: true, force: true });
  t.is(result.code, 0, result.stderr);
  const plan = JSON.parse(result.stdout) as {
    actions: Array<{ kind: string; cloud: string; count?: number }>;
    notes: string[];
  };
  t.deepEqual(
    plan.actions.filter((a) => a.kind === "launch").map((a) => [a.cloud, a.count]),
    [["backup", 6]],
  );
  t.true(
    plan.notes.some((note) => note.startsWith('competitive: launches held (schedule "* * * * *"')),
    plan.notes.join("\n"),
  );
});

test("plan without --json prints a table", async (t) => {
  const result = await cli(["plan"]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^DEMAND\nCLOUD\s+IDLE JOBS/m);
  t.regex(result.stdout, /^launch 4 on competitive: /m);
  // Both demo clouds select every job: each row counts all 24, the total counts each job once.
  t.regex(result.stdout, /^competitive +24 +24 +48000$/m);
  t.regex(
    result.stdout,
    /^all clouds +24 +24 +48000\n\(24 jobs that several clouds select counted under each; "all clouds" counts each job once\)$/m,
  );
});

test("run --once --dry-run logs the actions it would take and launches nothing", async (t) => {
  const result = await cli([
    "run",
    "--config",
    DEMO,
    "--once",
    "--dry-run",
    "--log-format",
    "json",
  ]);
  t.is(result.code, 0, result.stderr);
  const logged = records(result.stdout);
  const messages = logged.map((r) => String(r.msg));
  t.true(
    messages.some((m) => /^would launch 4 on competitive: /.test(m)),
    messages.join("\n"),
  );
  t.false(messages.some((m) => /launched/.test(m)));
  t.true(logged.some((r) => r.summary === true));
});

test("run --once launches and logs one summary line for the tick", async (t) => {
  const result = await cli(["run", "--config", DEMO, "--once", "--log-format", "json"]);
  t.is(result.code, 0, result.stderr);
  const logged = records(result.stdout);
  const messages = logged.map((r) => String(r.msg));
  t.true(
    messages.some((m) => /^competitive: launched 3 of 4/.test(m)),
    messages.join("\n"),
  );
  t.true(messages.some((m) => /^competitive: launch answered quota/.test(m)));
  const summaries = logged.filter((r) => r.summary === true);
  t.is(summaries.length, 1);
  t.regex(
    String(summaries[0]?.msg),
    /^tick 1: 24 idle jobs; .*launched 5 of 6, terminated 0 of 0$/,
  );
});

test("run refuses an invalid config directory with its problems", async (t) => {
  const result = await cli(["run", "--config", join(ROOT, "test")]);
  t.is(result.code, 1);
  t.regex(result.stderr, /autoscaler\.yaml: file not found/);
});

/** A copy of the demo whose autoscaler.yaml logs to `file`. */
async function demoLoggingTo(file: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-log-"));
  await cp(DEMO, dir, { recursive: true });
  const global = join(dir, "autoscaler.yaml");
  const text = await readFile(global, "utf8");
  await writeFile(global, text.replace("logging:\n", `logging:\n  file: ${file}\n`));
  return dir;
}

test("a log file on a full disk (/dev/full) does not crash the daemon: it says so once on stderr and ticks on", async (t) => {
  const dir = await demoLoggingTo("/dev/full");
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const result = await cli(["run", "--config", dir, "--once"]);
  t.is(result.code, 0, result.stderr);
  t.is(
    result.stderr.match(/the log \(\/dev\/full\) cannot be written, records are dropped: ENOSPC/g)
      ?.length,
    1,
    result.stderr,
  );
});

test("a log file in a directory that does not exist is refused by validate with its file, line and field", async (t) => {
  const dir = await demoLoggingTo("/nonexistent-dir/autoscaler.log");
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const result = await cli(["validate", dir]);
  t.is(result.code, 1);
  t.regex(
    result.stderr,
    /autoscaler\.yaml:\d+: logging\.file: its directory \/nonexistent-dir does not exist/,
  );
});

test("a closed standard output does not crash the daemon (EPIPE): the tick completes, exit 0", async (t) => {
  const child = startCli(["run", "--config", DEMO, "--once", "--log-format", "json"]);
  child.stdout?.destroy(); // the reader went away
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  t.is(code, 0);
});
