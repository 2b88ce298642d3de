/**
 * The simulator on workloads small enough to follow by hand. One cloud: boot 2 min, join 30 s,
 * 1-cpu (or 4-cpu) workers at 0.5 per hour, idle timeout 5 min; ticks every 30 s, negotiation
 * every 60 s from t=0, persistence 0. A sample is taken after its tick acted and holds until the
 * next sample.
 */
import test from "ava";
import { loadConfig } from "../../src/config/load.js";
import { simulatedProviderSchema } from "../../src/config/schema.js";
import { ERROR_KINDS, ProviderError } from "../../src/model/errors.js";
import { SimulatedCloud } from "../../src/providers/simulated.js";
import { seededRandom } from "../../src/random.js";
import { elastiqClassic, staticPool } from "../../src/sim/baselines.js";
import { ManualClock } from "../../src/sim/clock.js";
import { chaosFailures, InvariantViolation, simulate } from "../../src/sim/engine.js";
import { summarise } from "../../src/sim/report.js";
import type { SimRun } from "../../src/sim/run.js";
import type { JobSpec } from "../../src/sim/scenarios.js";
import { configDir } from "../config/config-dir.js";

const GLOBAL = "pool: hand\ntickInterval: 30s\npersistence: 0s\ncondor:\n  kind: simulated\n";

function cloudFile(cpus: number, extra = ""): string {
  return `provider:
  kind: simulated
  bootDelay: 2m
  bootSpread: 0s
  joinDelay: 30s
${extra}costPerHour: 0.5
maxWorkers: 10
worker:
  cpus: ${cpus}
  memoryMb: 4000
idleTimeout: 5m
backoff:
  initial: 30s
  max: 30s
`;
}

async function run(cloud: string, jobs: JobSpec[]): Promise<SimRun> {
  const dir = await configDir({ "autoscaler.yaml": GLOBAL, "clouds.d/cloud.yaml": cloud });
  return simulate(jobs, { name: "hand", config: await loadConfig(dir) }, { seed: 1 });
}

function job(submitAt: number, runtime: number, cpus = 1): JobSpec {
  return { submitAt, runtime, cpus, memoryMb: 500, gpus: 0 };
}

/** Worker-seconds by state, leaving out the states no worker was in. */
function secondsByState(result: SimRun): Record<string, number> {
  return Object.fromEntries(
    Object.entries(result.usage.seconds).filter(([, seconds]) => seconds > 0),
  );
}

test("one job: launched at t=0, joins at 150, starts at the 180 s negotiation, ends at 780, its worker goes at 1110", async (t) => {
  const result = await run(cloudFile(1), [job(0, 600)]);
  t.deepEqual(result.jobs, [{ submitAt: 0, startedAt: 180, finishedAt: 780, cpus: 1 }]);
  t.is(result.launches, 1);
  t.is(result.terminations, 1);
  // Idle from 780; 300 s is not past the timeout, 330 s (the tick at 1110) is.
  t.is(result.endedAt, 1110);
  // Sampled after each tick acts: booting 0→150, idle 150→180, busy 180→780, idle 780→1110.
  t.deepEqual(secondsByState(result), { booting: 150, idle: 360, busy: 600 });
  t.deepEqual(result.errors, {});
});

test("skipping quiet ticks launches on the tick persistence runs out: a job idle since 0 with persistence 60 s is launched for at 60, not 90", async (t) => {
  const global = GLOBAL.replace("persistence: 0s", "persistence: 60s");
  const dir = await configDir({ "autoscaler.yaml": global, "clouds.d/cloud.yaml": cloudFile(1) });
  const config = await loadConfig(dir);
  const result = await simulate(
    [job(0, 600)],
    { name: "persistent", config },
    { seed: 1, negotiationInterval: 30 },
  );
  // Launched at 60, running at 180, joined at 210, matched at the 210 s negotiation.
  t.is(result.jobs[0]?.startedAt, 210);
});

test("worker states are accounted at the moment they change, not at the next tick: joined at 140, busy 180 to 770, gone at 1080", async (t) => {
  const result = await run(cloudFile(1).replace("joinDelay: 30s", "joinDelay: 20s"), [job(0, 590)]);
  t.deepEqual(result.jobs, [{ submitAt: 0, startedAt: 180, finishedAt: 770, cpus: 1 }]);
  // Idle from 770; at the tick at 1080 it has been idle 310 s, past the 300 s timeout.
  t.is(result.endedAt, 1080);
  t.deepEqual(secondsByState(result), { booting: 140, idle: 40 + 310, busy: 590 });
  t.true(Math.abs(result.usage.cost - 0.5 * (1080 / 3600)) < 1e-9, "0.5 an hour for 1080 s");
});

test("a burst of 8 one-cpu jobs: two 4-cpu workers at once, every job waits 180 s", async (t) => {
  const result = await run(
    cloudFile(4),
    Array.from({ length: 8 }, () => job(0, 600)),
  );
  t.deepEqual(
    result.jobs.map((j) => [j.startedAt, j.finishedAt]),
    Array.from({ length: 8 }, () => [180, 780]),
  );
  t.is(result.launches, 2);
  t.is(result.terminations, 2);
  t.is(result.endedAt, 1110);
  t.deepEqual(secondsByState(result), { booting: 300, idle: 720, busy: 1200 });
  t.is(result.usage.peakWorkers, 2);
});

test("the same burst during a capacity outage until t=600: 20 capacity answers, a probe at 600, the second worker at 630, every job waits 780 s", async (t) => {
  const outage = "  failures:\n    - kind: capacity\n      operation: launch\n      until: 10m\n";
  const result = await run(
    cloudFile(4, outage),
    Array.from({ length: 8 }, () => job(0, 600)),
  );
  // Backoff of at most 30 s: every tick from 0 to 570 tries and is refused.
  t.deepEqual(result.errors, { capacity: 20 });
  t.is(result.launches, 2);
  // After a capacity answer the first launch is a probe of one; the second follows a tick later.
  // Both join by 780 (750 and 780), when the negotiator starts all eight jobs.
  t.deepEqual(
    result.jobs.map((j) => [j.startedAt, j.finishedAt]),
    Array.from({ length: 8 }, () => [780, 1380]),
  );
  t.is(result.endedAt, 1710);
});

test("the same trace and seed give the same run; chaos at 30 % breaks no invariant", async (t) => {
  const jobs = Array.from({ length: 40 }, (_, i) => job(i * 45, 300 + (i % 7) * 120, 1 + (i % 3)));
  const dir = await configDir({ "autoscaler.yaml": GLOBAL, "clouds.d/cloud.yaml": cloudFile(4) });
  const config = await loadConfig(dir);
  const a = await simulate(jobs, { name: "a", config }, { seed: 7, faults: 0.3 });
  const b = await simulate(jobs, { name: "a", config }, { seed: 7, faults: 0.3 });
  t.deepEqual(a, b);
  t.true(Object.values(a.errors).reduce((sum, n) => sum + (n ?? 0), 0) > 0, "faults were injected");
  t.true(
    a.jobs.every((j) => j.finishedAt !== undefined),
    "every job ran to the end",
  );
});

test("a planner that breaks an invariant is stopped at that tick, named", async (t) => {
  const dir = await configDir({ "autoscaler.yaml": GLOBAL, "clouds.d/cloud.yaml": cloudFile(1) });
  const config = await loadConfig(dir);
  const greedy = await simulate(
    [job(0, 600)],
    {
      name: "greedy",
      config,
      planner: () => ({
        demand: {},
        workers: [],
        actions: [{ kind: "launch", cloud: "cloud", count: 11, reason: "more than maxWorkers" }],
        unfit: { jobs: 0, examples: [] },
        notes: [],
      }),
    },
    { seed: 1, checkInvariants: true },
  ).catch((error: unknown) => error);
  t.true(greedy instanceof InvariantViolation);
  t.regex(
    String((greedy as Error).message),
    /^greedy: tick 1 \(t=0s\): cloud has 11 workers, above maxWorkers 10$/,
  );
});

test("a planner that launches into a cloud a schedule holds is stopped at that tick, naming the window", async (t) => {
  const held = `schedules:\n  - {cron: "0 12 * * *", for: 1h, hold: true}\n`;
  const dir = await configDir({
    "autoscaler.yaml": GLOBAL,
    "clouds.d/cloud.yaml": cloudFile(1, held),
  });
  const config = await loadConfig(dir);
  const blind = await simulate(
    [job(0, 600)],
    {
      name: "blind",
      config,
      planner: () => ({
        demand: {},
        workers: [],
        actions: [{ kind: "launch", cloud: "cloud", count: 1, reason: "ignores schedules" }],
        unfit: { jobs: 0, examples: [] },
        notes: [],
      }),
    },
    // The run starts at 12:26:40 UTC: inside the 12:00 window.
    { seed: 1, checkInvariants: true },
  ).catch((error: unknown) => error);
  t.true(blind instanceof InvariantViolation);
  t.regex(
    String((blind as Error).message),
    /^blind: tick 1 \(t=0s\): launch of 1 into cloud, held by launches held \(schedule "0 12 \* \* \*" for 1h\)/,
  );
});

/** Two clouds: `first` filled before `second`. */
async function twoClouds(): Promise<import("../../src/config/schema.js").AutoscalerConfig> {
  const dir = await configDir({
    "autoscaler.yaml": GLOBAL,
    "clouds.d/first.yaml": `${cloudFile(4)}priority: 0\n`,
    "clouds.d/second.yaml": `${cloudFile(4)}priority: 1\n`,
  });
  return loadConfig(dir);
}

const WORKLOAD = Array.from({ length: 60 }, (_, i) =>
  job(i * 120, 900 + (i % 5) * 300, 1 + (i % 4)),
);

test("partial observation (collector restarts every 2h for 5m, 90s listing lag): no busy worker killed, every job done, no more launches than fully observed", async (t) => {
  const config = await twoClouds();
  const clean = await simulate(WORKLOAD, { name: "clean", config }, { seed: 3 });
  const chaos = await simulate(
    WORKLOAD,
    { name: "chaos", config },
    {
      seed: 3,
      observation: { collectorRestart: { every: 7200, duration: 300 }, listingLag: 90 },
    },
  );
  t.true(chaos.jobs.every((j) => j.finishedAt !== undefined));
  t.true(
    chaos.launches <= clean.launches,
    `${chaos.launches} launched with partial observation, ${clean.launches} without`,
  );
});

test("a cloud whose every listing answers auth: the other cloud serves every job and its idle workers still go", async (t) => {
  const config = await twoClouds();
  const alone = await simulate(
    WORKLOAD,
    {
      name: "alone",
      config: { ...config, clouds: config.clouds.filter((c) => c.name === "second") },
    },
    { seed: 3 },
  );
  const broken = await simulate(
    WORKLOAD,
    { name: "broken", config },
    { seed: 3, observation: { brokenCloud: "first" } },
  );
  t.true(broken.jobs.every((j) => j.finishedAt !== undefined));
  t.is(broken.errors.auth !== undefined && broken.errors.auth > 0, true);
  // The broken cloud changes nothing for the healthy one: the same launches and worker-hours.
  t.is(broken.launches, alone.launches);
  t.is(broken.terminations, alone.terminations);
  t.deepEqual(secondsByState(broken), secondsByState(alone));
});

test("the truth catches a planner that kills a worker running a job while the collector hides it", async (t) => {
  const dir = await configDir({ "autoscaler.yaml": GLOBAL, "clouds.d/cloud.yaml": cloudFile(1) });
  const config = await loadConfig(dir);
  // A blind planner: whatever shows no ads after 1000 s is "stuck". During the collector's
  // restart at t=1800 the busy worker shows none.
  const blind = await simulate(
    [job(0, 3600)],
    {
      name: "blind",
      config,
      planner: (snapshot, _policy, _memory, now) => ({
        demand: {},
        workers: [],
        actions:
          snapshot.workers.length === 0
            ? [{ kind: "launch", cloud: "cloud", count: 1, reason: "one" }]
            : snapshot.workers
                .filter((w) => w.state === "booting" && now - w.launchedAt > 1000)
                .map((w) => ({
                  kind: "terminate" as const,
                  cloud: "cloud",
                  instanceIds: [w.instanceId],
                  cause: "stuck" as const,
                  reason: "blind",
                })),
        unfit: { jobs: 0, examples: [] },
        notes: [],
      }),
    },
    { seed: 1, observation: { collectorRestart: { every: 1800, duration: 300 } } },
  ).catch((error: unknown) => error);
  t.true(blind instanceof InvariantViolation);
  t.regex(
    String((blind as Error).message),
    /^blind: tick \d+ \(t=1800s\): terminated \S+ on cloud while it ran a job \(the tick saw booting\)$/,
  );
});

/** Calls of each operation that fail with `--faults rate`, by kind, over `calls` calls. */
async function injected(rate: number, calls: number) {
  const cloud = new SimulatedCloud({
    pool: "p",
    cloud: "c",
    shape: { cpus: 1, memoryMb: 1000, gpus: 0 },
    settings: {
      ...simulatedProviderSchema.parse({ kind: "simulated" }),
      failures: chaosFailures(rate),
    },
    clock: new ManualClock(0),
    random: seededRandom(5),
  });
  const failed = { launch: {} as Record<string, number>, list: {} as Record<string, number> };
  const count = (into: Record<string, number>, kind: string) => {
    into[kind] = (into[kind] ?? 0) + 1;
  };
  for (let i = 0; i < calls; i += 1) {
    const result = await cloud.launch({ count: 1, avoid: [] });
    if (result.error !== undefined) count(failed.launch, result.error.kind);
    await cloud.list().catch((error: unknown) => {
      if (error instanceof ProviderError) count(failed.list, error.kind);
    });
  }
  const total = (by: Record<string, number>) => Object.values(by).reduce((a, b) => a + b, 0);
  return { ...failed, launches: total(failed.launch), lists: total(failed.list) };
}

test("--faults 1 fails every provider call, and --faults 0.3 three calls in ten, each kind alike", async (t) => {
  const all = await injected(1, 1000);
  t.is(all.launches, 1000);
  t.is(all.lists, 1000);
  const some = await injected(0.3, 20_000);
  t.true(Math.abs(some.launches / 20_000 - 0.3) < 0.015, `launches failed: ${some.launches}`);
  t.true(Math.abs(some.lists / 20_000 - 0.3) < 0.015, `lists failed: ${some.lists}`);
  for (const kind of ["transient", "throttled", "quota", "capacity"])
    t.true(Math.abs((some.launch[kind] ?? 0) / 20_000 - 0.075) < 0.01, `launch ${kind}`);
  t.deepEqual(Object.keys(some.list).sort(), [...ERROR_KINDS].sort());
});

test("static:6 never runs more than 6 workers under --faults, though failed listings hide a cloud", async (t) => {
  const config = await twoClouds();
  for (const faults of [0.05, 0.3]) {
    const baseline = staticPool(6);
    const result = await simulate(
      WORKLOAD,
      { name: "static:6", config, planner: baseline.planner, timers: baseline.timers },
      { seed: 3, faults },
    );
    t.is(summarise(result).peakWorkers, 6, `faults ${faults}`);
  }
});

test("elastiq-classic launches nothing for a job no worker can hold, the run ends, and the job says why it never started", async (t) => {
  const dir = await configDir({ "autoscaler.yaml": GLOBAL, "clouds.d/cloud.yaml": cloudFile(4) });
  const config = await loadConfig(dir);
  const elastiq = (jobs: JobSpec[]) => {
    const planner = elastiqClassic();
    return simulate(
      jobs,
      { name: "elastiq-classic", config, planner: planner.planner, timers: planner.timers },
      { seed: 1 },
    );
  };
  const result = await elastiq([job(0, 600, 8), job(0, 600, 1)]);
  const without = await elastiq([job(0, 600, 1)]);
  t.is(result.launches, without.launches, "no VM for the job that fits none");
  t.true(result.endedAt < 86_400, `ended at ${result.endedAt}`);
  t.is(result.jobs[0]?.unstarted, "unfit");
  t.is(result.jobs[1]?.unstarted, undefined);
  t.deepEqual(summarise(result).unstartedBy, { "fits no worker shape of any cloud": 1 });
  // A job that fits but is never given a worker is still queued when the run ends.
  const none = staticPool(0);
  const idle = await simulate(
    [job(0, 600, 1)],
    { name: "static:0", config, planner: none.planner, timers: none.timers },
    { seed: 1 },
  );
  t.is(idle.jobs[0]?.unstarted, "queued");
});

// ---- Schedules, on the trace's clock ----

const WARM_MORNINGS = `schedules:
  - cron: "0 8 * * *"
    for: 2h
    minWorkers: 3
`;

test("a warm-pool window is honoured while the run is quiet: each morning's opening wakes the skipped ticks and tops the cloud up to 3", async (t) => {
  // One job of three days from 2020-09-13 12:26:40 UTC (the default start): nothing else happens
  // until it ends, so without a wake at each window's edges the top-ups would never come.
  const result = await simulate(
    [job(0, 3 * 86400)],
    {
      name: "hand",
      config: await loadConfig(
        await configDir({
          "autoscaler.yaml": GLOBAL,
          "clouds.d/cloud.yaml": cloudFile(1, WARM_MORNINGS),
        }),
      ),
    },
    { seed: 1 },
  );
  // The job's worker, then 2 more on each of the mornings of 14, 15 and 16 September.
  t.is(result.launches, 1 + 3 * 2);
  t.is(result.usage.peakWorkers, 3);
  // The job's worker is idle 330 s at its end; each extra worker from joining (150 s after its
  // launch) until the first tick after its window closes (their idle timeout has long passed).
  const extraIdle = (result.usage.seconds.idle - 330) / 6;
  t.true(extraIdle >= 7200 - 150 && extraIdle < 7200 - 150 + 30, `${extraIdle}`);
});

test("a window without a time zone is read on the trace's clock, in the trace's zone", async (t) => {
  const config = await loadConfig(
    await configDir({
      "autoscaler.yaml": GLOBAL,
      "clouds.d/cloud.yaml": cloudFile(1, WARM_MORNINGS),
    }),
  );
  const startAt = Date.parse("2026-12-07T07:00:00Z") / 1000;
  const runIn = (timezone: string) =>
    simulate([job(0, 4 * 3600)], { name: "hand", config }, { seed: 1, startAt, timezone });
  // 08:00 UTC comes an hour into the job; 08:00 in Los Angeles (16:00 UTC) after it has ended.
  t.is((await runIn("UTC")).launches, 3);
  t.is((await runIn("America/Los_Angeles")).launches, 1);
});
