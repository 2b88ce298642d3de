/**
 * The simulator on workloads small enough to follow by hand. One cloud: boot 2 min, join 30 s,
 * 1-cpu (or 4-cpu) workers at 0.5 per hour, idle timeout 5 min; ticks every 30 s, negotiation
 * every 60 s from t=0, persistence 0. A sample is taken after its tick acted and holds until the
 * next sample.
 */
import test from "ava";
import { loadConfig } from "../../src/config/load.js";
import { InvariantViolation, simulate } from "../../src/sim/engine.js";
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

/** Seconds spent in each worker state, samples holding until the next one. */
function secondsByState(result: SimRun): Record<string, number> {
  const seconds: Record<string, number> = {};
  result.samples.forEach((sample, i) => {
    const until = result.samples[i + 1]?.at ?? result.endedAt;
    for (const [state, count] of Object.entries(sample.workers))
      if (count > 0) seconds[state] = (seconds[state] ?? 0) + count * (until - sample.at);
  });
  return seconds;
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
  t.is(
    Math.max(...result.samples.map((s) => s.workers.busy + s.workers.idle + s.workers.booting)),
    2,
  );
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
