import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import Logger from "bunyan";
import { createBackends } from "../../src/backends.js";
import type { CondorPool } from "../../src/condor/pool.js";
import { loadConfig } from "../../src/config/load.js";
import { poolPolicy } from "../../src/config/policies.js";
import { Daemon, type DaemonOptions } from "../../src/daemon/daemon.js";
import type { TickReport } from "../../src/daemon/report.js";
import type { IdleJob, StartdMachine } from "../../src/model/snapshot.js";
import { seededRandom } from "../../src/random.js";
import { ManualClock } from "../../src/sim/clock.js";
import { ROOT, records, startCli } from "../cli/run-cli.js";

const DEMO = join(ROOT, "examples/simulated");

interface LogLine {
  msg: string;
  level: number;
}

function memoryLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const write = (record: object) => {
    if ("msg" in record && "level" in record)
      lines.push({ msg: String(record.msg), level: Number(record.level) });
  };
  const log = Logger.createLogger({
    name: "test",
    streams: [{ type: "raw", level: "trace", stream: { write } }],
  });
  return { log, lines };
}

/** The demo's clouds on a manual clock, logging to memory. */
async function demo() {
  const config = await loadConfig(DEMO);
  const clock = new ManualClock(1_700_000_000);
  const { log, lines } = memoryLog();
  const backends = await createBackends(config, log, { clock });
  return { config, clock, log, lines, backends, policy: poolPolicy(config) };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test("the daemon plays the demo workload out on a manual clock: launches, runs every job, ends with no workers", async (t) => {
  const { config, clock, log, lines, backends, policy } = await demo();
  const daemon = new Daemon({
    policy,
    tickInterval: config.global.tickInterval,
    sources: backends,
    clock,
    log,
    dryRun: false,
    random: seededRandom(7),
  });
  let peak = 0;
  for (let tick = 0; tick < 200; tick += 1) {
    const result = await daemon.tick();
    if (result === undefined) return t.fail("a tick failed");
    for (const cloud of policy.clouds) {
      const alive = result.snapshot.workers.filter(
        (w) => w.cloud === cloud.name && w.state !== "gone",
      ).length;
      t.true(alive <= cloud.maxWorkers, `${cloud.name} above max`);
    }
    peak = Math.max(peak, result.snapshot.workers.length);
    if (backends.workloadDone?.() && result.snapshot.workers.length === 0) break;
    clock.advance(config.global.tickInterval);
  }
  t.true(backends.workloadDone?.());
  t.true(peak >= 6, `peak workers ${peak}`);
  const messages = lines.map((line) => line.msg);
  t.true(messages.some((m) => /^launch \d+ on competitive: /.test(m)));
  t.true(messages.some((m) => /spilled over from competitive/.test(m)));
  t.true(messages.some((m) => /^terminate .*idle for/.test(m)));
  t.true(messages.some((m) => /backing off .* after (quota|capacity)/.test(m)));
});

function blockingPool(gate: Promise<void>, calls: { count: number }): CondorPool {
  return {
    idleJobs: async (): Promise<IdleJob[]> => {
      calls.count += 1;
      await gate;
      return [];
    },
    machines: async (): Promise<StartdMachine[]> => [],
  };
}

async function daemonOver(
  condor: CondorPool,
  tickInterval = 1,
): Promise<{ daemon: Daemon; lines: Array<{ msg: string }> }> {
  const config = await loadConfig(DEMO);
  const { log, lines } = memoryLog();
  const options: DaemonOptions = {
    policy: { ...poolPolicy(config), clouds: [] },
    tickInterval,
    sources: { condor, providers: new Map() },
    clock: { now: () => Date.now() / 1000 },
    log,
    dryRun: false,
    random: seededRandom(1),
  };
  return { daemon: new Daemon(options), lines };
}

test("ticks never overlap: a tick asked for while one runs joins the running one", async (t) => {
  const gate = deferred();
  const calls = { count: 0 };
  const { daemon } = await daemonOver(blockingPool(gate.promise, calls));
  const first = daemon.tick();
  const second = daemon.tick();
  gate.resolve();
  const [a, b] = await Promise.all([first, second]);
  t.is(calls.count, 1);
  t.is(a, b);
  t.is(daemon.ticks, 1);
});

test("stop() waits for the current tick to finish", async (t) => {
  const gate = deferred();
  const calls = { count: 0 };
  const { daemon, lines } = await daemonOver(blockingPool(gate.promise, calls));
  const running = daemon.run();
  while (calls.count === 0) await new Promise((r) => setTimeout(r, 5));
  let stopped = false;
  const stopping = daemon.stop().then(() => {
    stopped = true;
  });
  await new Promise((r) => setTimeout(r, 50));
  t.false(stopped, "stop() returned while a tick was running");
  gate.resolve();
  await stopping;
  await running;
  t.true(lines.some((line) => /^tick 1: /.test(line.msg)));
});

test("the loop runs a tick each interval of the daemon's clock", async (t) => {
  const { daemon } = await daemonOver(blockingPool(Promise.resolve(), { count: 0 }), 1);
  const running = daemon.run();
  await new Promise((r) => setTimeout(r, 2500));
  await daemon.stop();
  await running;
  t.true(daemon.ticks >= 2 && daemon.ticks <= 4, `ticks: ${daemon.ticks}`);
});

test("observers (status, metrics) are told the bounds in force: an open window's minWorkers, with the window named", async (t) => {
  const { clock, log, backends, policy } = await demo();
  const reports: TickReport[] = [];
  const daemon = new Daemon({
    policy: {
      ...policy,
      clouds: policy.clouds.map((cloud) =>
        // Opens every minute for a minute: always open.
        cloud.name === "backup"
          ? { ...cloud, schedules: [{ cron: "* * * * *", for: 60, minWorkers: 2 }] }
          : cloud,
      ),
    },
    tickInterval: 30,
    sources: backends,
    clock,
    log,
    dryRun: false,
    random: seededRandom(1),
    observers: [{ tickCompleted: (r) => reports.push(r), tickFailed: () => undefined }],
  });
  await daemon.tick();
  const backup = reports[0]?.policy.clouds.find((c) => c.name === "backup");
  t.is(backup?.minWorkers, 2);
  t.regex(backup?.windows?.[0] ?? "", /^minWorkers 2 \(schedule "\* \* \* \* \*" for 1m\)/);
});

test("a note that repeats tick after tick is logged at info once, then at debug, and a new note at info again", async (t) => {
  const { clock, log, lines, backends, policy } = await demo();
  const hold = (cron: string) => ({
    ...policy,
    clouds: policy.clouds.map((cloud) =>
      cloud.name === "backup" ? { ...cloud, schedules: [{ cron, for: 3600, hold: true }] } : cloud,
    ),
  });
  // Opens every hour for an hour: the same window at every tick of this test (22:13 to 22:15).
  const daemon = new Daemon({
    policy: hold("0 * * * *"),
    tickInterval: 30,
    sources: backends,
    clock,
    log,
    dryRun: false,
    random: seededRandom(1),
  });
  const window = (line: LogLine) => line.msg.startsWith("backup: launches held (schedule");
  await daemon.tick();
  clock.advance(30);
  await daemon.tick();
  clock.advance(30);
  await daemon.tick();
  t.deepEqual(
    lines.filter(window).map((line) => line.level),
    [Logger.INFO, Logger.DEBUG, Logger.DEBUG],
  );
  lines.length = 0;
  daemon.reload({
    policy: hold("0 */1 * * *"),
    sources: backends,
    tickInterval: 30,
    tickDeadline: 60,
  });
  clock.advance(30);
  await daemon.tick();
  t.deepEqual(
    lines.filter(window).map((line) => line.level),
    [Logger.INFO],
    "another window's note is news",
  );
});

test("a tick that throws is logged and the next tick runs", async (t) => {
  let broken = true;
  const condor: CondorPool = {
    idleJobs: async () => [],
    machines: async () => {
      if (broken) return null as unknown as StartdMachine[];
      return [];
    },
  };
  const config = await loadConfig(DEMO);
  const { log, lines } = memoryLog();
  const clock = new ManualClock(1_700_000_000);
  const backends = await createBackends(config, log, { clock });
  const daemon = new Daemon({
    policy: poolPolicy(config),
    tickInterval: 30,
    sources: { condor, providers: backends.providers },
    clock,
    log,
    dryRun: false,
    random: seededRandom(1),
  });
  t.is(await daemon.tick(), undefined);
  t.true(lines.some((line) => /^tick 1 failed: /.test(line.msg) && line.level === 50));
  broken = false;
  clock.advance(30);
  t.truthy(await daemon.tick());
});

test("SIGTERM stops the running daemon after the current tick, exit code 0", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-demo-"));
  await cp(DEMO, dir, { recursive: true });
  // Tests run side by side: any free port for the status endpoint.
  const global = join(dir, "autoscaler.yaml");
  await writeFile(global, (await readFile(global, "utf8")).replace("port: 9464", "port: 0"));
  const child = startCli(["run", "--config", dir, "--log-format", "json"]);
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (/"summary":true/.test(stdout) && !child.killed) child.kill("SIGTERM");
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  t.is(code, 0);
  const messages = records(stdout).map((r) => String(r.msg));
  t.true(messages.includes("SIGTERM: stopping after the current tick"), messages.join("\n"));
  t.is(messages.at(-1), "stopped");
});

test("the demo, sped up, shows jobs arrive, workers launched, jobs run, idle workers terminated, then stops", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-demo-"));
  await cp(DEMO, dir, { recursive: true });
  const global = join(dir, "autoscaler.yaml");
  await writeFile(
    global,
    (await readFile(global, "utf8"))
      .replace("clockSpeed: 30", "clockSpeed: 300")
      .replace("port: 9464", "port: 0")
      .replace("tickInterval: 30s", "tickInterval: 60s"),
  );
  const child = startCli(["run", "--config", dir, "--log-format", "json"]);
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  t.is(code, 0);
  const messages = records(stdout).map((r) => String(r.msg));
  const order = [
    /jobs submitted/,
    /^launch \d+ on \w+: .*idle jobs/,
    /launched \d+ of \d+/,
    /joined the pool/,
    /negotiator matched/,
    /jobs? finished/,
    /^terminate .*idle for/,
    /simulated workload played out; stopped/,
  ];
  let from = 0;
  for (const pattern of order) {
    const index = messages.findIndex((m, i) => i >= from && pattern.test(m));
    t.true(index >= 0, `${pattern} not found after line ${from}`);
    if (index >= 0) from = index;
  }
});

test("a status endpoint on every address warns that its bearer token crosses the network, and a short token is refused", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-demo-"));
  await cp(DEMO, dir, { recursive: true });
  const global = join(dir, "autoscaler.yaml");
  const tokenFile = join(dir, "status.token");
  const token = "9c1d5e7f2a4b6c8d0e1f";
  await writeFile(tokenFile, "short\n");
  await writeFile(
    global,
    (await readFile(global, "utf8"))
      .replace("port: 9464", `port: 0\n  tokenFile: ${tokenFile}`)
      .replace("address: 127.0.0.1", "address: 0.0.0.0"),
  );
  const refused = startCli(["run", "--config", dir, "--log-format", "json"]);
  let stderr = "";
  refused.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.is(await new Promise<number | null>((resolve) => refused.on("exit", resolve)), 1);
  t.regex(
    stderr,
    new RegExp(
      `status.tokenFile ${tokenFile}: the token must be one word of at least 16 characters`,
    ),
  );

  await writeFile(tokenFile, `${token}\n`);
  const child = startCli(["run", "--config", dir, "--log-format", "json"]);
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (/"summary":true/.test(stdout) && !child.killed) child.kill("SIGTERM");
  });
  t.is(await new Promise<number | null>((resolve) => child.on("exit", resolve)), 0);
  const warnings = records(stdout)
    .filter((r) => r.level === 40)
    .map((r) => String(r.msg));
  t.true(
    warnings.some((m) =>
      /reachable from other hosts: every request must carry the token in .*status\.token, which crosses the network in plain HTTP/.test(
        m,
      ),
    ),
    warnings.join("\n"),
  );
  t.false(stdout.includes(token));
});
