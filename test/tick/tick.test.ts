/** runTick over a simulated pool and simulated clouds, tick by tick on a clock moved by hand. */
import test from "ava";
import { emptyMemory, type Memory } from "../../src/model/memory.js";
import type { PoolPolicy } from "../../src/model/policy.js";
import type { CallOutcome } from "../../src/policy/backoff.js";
import { SimulatedCloud } from "../../src/providers/simulated.js";
import { seededRandom } from "../../src/random.js";
import { ManualClock } from "../../src/sim/clock.js";
import { type PoolEvent, SimulatedPool } from "../../src/sim/pool.js";
import { type JobSpec, scenario } from "../../src/sim/scenarios.js";
import { runTick, summarise, type TickResult } from "../../src/tick/tick.js";
import { type CloudFile, policyOf, START, simulatedSettings } from "../providers/settings.js";
import { memoryLog } from "./support.js";

const TICK = 30;

/** The two clouds of examples/simulated: a cheap one with a hidden quota, and a backup. */
const COMPETITIVE: CloudFile = {
  provider: {
    bootDelay: "90s",
    bootSpread: "20s",
    joinDelay: "20s",
    quota: { instances: 3 },
    reportsHeadroom: false,
    failures: [{ kind: "capacity", from: "8m", until: "14m" }],
  },
  priority: 1,
  costPerHour: 0.05,
  maxWorkers: 4,
  worker: { cpus: 4, memoryMb: 8000 },
  idleTimeout: "3m",
  bootTimeout: "10m",
  maxLaunchPerTick: 4,
  backoff: { initial: "1m", max: "10m", transient: "15s" },
};

const BACKUP: CloudFile = {
  provider: { bootDelay: "2m", bootSpread: "30s", joinDelay: "30s" },
  priority: 2,
  costPerHour: 0.2,
  maxWorkers: 6,
  worker: { cpus: 4, memoryMb: 8000 },
  idleTimeout: "3m",
  bootTimeout: "10m",
  maxLaunchPerTick: 6,
};

interface TickRecord {
  at: number;
  result: TickResult;
  /** Instances alive per cloud right after the tick acted. */
  alive: Record<string, number>;
}

function simulation(clouds: Record<string, CloudFile>, jobs: readonly JobSpec[], dryRun = false) {
  const clock = new ManualClock(START);
  const names = Object.keys(clouds);
  const policy: PoolPolicy = {
    pool: "test",
    persistence: 60,
    clouds: names.map((name) => policyOf(name, clouds[name])),
  };
  const providers = new Map(
    policy.clouds.map((cloud, index) => [
      cloud.name,
      new SimulatedCloud({
        pool: "test",
        cloud: cloud.name,
        shape: cloud.worker,
        settings: simulatedSettings(clouds[cloud.name]?.provider),
        clock,
        random: seededRandom(100 + index),
      }),
    ]),
  );
  const events: PoolEvent[] = [];
  const pool = new SimulatedPool({
    pool: "test",
    clock,
    jobs,
    fleets: [...providers.values()],
    negotiationInterval: 60,
    onEvent: (event) => events.push(event),
  });
  const { log, records, messages } = memoryLog();
  const random = seededRandom(7);
  const history: TickRecord[] = [];
  let memory: Memory = emptyMemory();

  const cloud = (name: string): SimulatedCloud => {
    const found = providers.get(name);
    if (found === undefined) throw new Error(`no cloud ${name}`);
    return found;
  };

  /** One tick at the clock's time, then the clock moves on by a tick interval. */
  async function tick(): Promise<TickResult> {
    const at = clock.now();
    const result = await runTick({
      condor: pool,
      providers,
      policy,
      memory,
      now: at,
      dryRun,
      concurrency: 4,
      random,
      log,
    });
    memory = result.memory;
    const alive: Record<string, number> = {};
    for (const [name, provider] of providers) alive[name] = provider.fleet().length;
    history.push({ at, result, alive });
    clock.advance(TICK);
    return result;
  }

  const outcomes = (): Array<CallOutcome & { at: number }> =>
    history.flatMap(({ at, result }) => result.outcomes.map((outcome) => ({ ...outcome, at })));
  const alive = () => [...providers.values()].reduce((sum, c) => sum + c.fleet().length, 0);

  return {
    clock,
    policy,
    pool,
    events,
    records,
    messages,
    history,
    tick,
    cloud,
    outcomes,
    alive,
    memory: () => memory,
  };
}

test("the demo workload is served and every worker is gone after the idle timeout, none over maxWorkers", async (t) => {
  const sim = simulation(
    { competitive: COMPETITIVE, backup: BACKUP },
    scenario("demo", seededRandom(1)),
  );
  const jobCount = sim.pool.counts().future + sim.pool.counts().idle;
  t.is(jobCount, 32);

  let finishedAt: number | undefined;
  for (let i = 0; i < 240; i += 1) {
    await sim.tick();
    if (finishedAt === undefined && sim.pool.finished()) finishedAt = sim.clock.now();
    if (finishedAt !== undefined && sim.alive() === 0) break;
  }

  // Everything ran.
  t.not(finishedAt, undefined, "the workload played out");
  t.like(sim.pool.counts(), { future: 0, idle: 0, running: 0, done: jobCount });
  // Workers were launched for the waiting jobs, from the first tick on.
  const launches = sim.outcomes().filter((o) => o.operation === "launch");
  t.true(
    launches.some((o) => o.at === START && o.succeeded > 0),
    "launched at the first tick",
  );
  t.true(launches.reduce((sum, o) => sum + o.succeeded, 0) >= 6);
  // Never more workers than a cloud allows.
  for (const record of sim.history) {
    for (const cloud of sim.policy.clouds) {
      t.true(
        (record.alive[cloud.name] ?? 0) <= cloud.maxWorkers,
        `${cloud.name} at +${record.at - START}s`,
      );
    }
  }
  // All gone at the end, each after idling past the timeout, none while running a job.
  t.is(sim.alive(), 0);
  const terminations = sim.history.flatMap(({ at, result }) =>
    result.plan.actions.flatMap((action) =>
      action.kind === "terminate" ? [{ at, cause: action.cause }] : [],
    ),
  );
  t.true(terminations.length > 0);
  t.true(terminations.every((termination) => termination.cause === "idle"));
  t.false(
    sim.events.some((event) => event.kind === "left" && event.evicted > 0),
    "no running job was evicted",
  );
  const lastJobEnd = Math.max(
    ...sim.events.flatMap((event) => (event.kind === "finished" ? [event.at] : [])),
  );
  const lastTermination = Math.max(...terminations.map((termination) => termination.at));
  t.true(lastTermination - lastJobEnd > 180, "the last worker idled past its idle timeout");
});

test("the demo's competitive cloud answers quota and the backup cloud takes the spill-over", async (t) => {
  const sim = simulation(
    { competitive: COMPETITIVE, backup: BACKUP },
    scenario("demo", seededRandom(1)),
  );
  for (let i = 0; i < 10; i += 1) await sim.tick();
  const quota = sim
    .outcomes()
    .filter((o) => o.cloud === "competitive" && o.error?.kind === "quota");
  t.true(quota.length > 0);
  t.true(
    sim.outcomes().some((o) => o.cloud === "backup" && o.operation === "launch" && o.succeeded > 0),
  );
  t.true(sim.history.some(({ alive }) => (alive.competitive ?? 0) === 3));
});

test("a cloud answering quota backs off and the lower-priority cloud gets the spill-over", async (t) => {
  const sim = simulation(
    {
      cheap: {
        provider: {
          bootDelay: 60,
          bootSpread: 0,
          joinDelay: 30,
          quota: { instances: 2 },
          reportsHeadroom: false,
        },
        priority: 1,
        maxWorkers: 10,
        idleTimeout: "5m",
        backoff: { initial: "2m", max: "10m" },
      },
      dear: {
        provider: { bootDelay: 60, bootSpread: 0, joinDelay: 30 },
        priority: 2,
        maxWorkers: 10,
        idleTimeout: "5m",
      },
    },
    Array.from({ length: 16 }, () => ({
      submitAt: -120,
      runtime: 600,
      cpus: 1,
      memoryMb: 2000,
      gpus: 0,
    })),
  );
  const before = sim.memory();

  // Tick 1: all 16 jobs fit the cheap cloud's plan (4 workers); it makes 2 and answers quota.
  const first = await sim.tick();
  t.deepEqual(
    first.outcomes.map((o) => [o.cloud, o.operation, o.requested, o.succeeded, o.error?.kind]),
    [["cheap", "launch", 4, 2, "quota"]],
  );
  const backoff = first.memory.clouds.cheap?.backoff;
  t.like(backoff, { kind: "quota", failures: 1 });
  t.true((backoff?.until ?? 0) > START, "backing off into the future");
  t.true((backoff?.until ?? 0) <= START + 120);
  t.is(first.memory.clouds.cheap?.batchLimit, 1, "slow start after the quota answer");
  t.deepEqual(before, emptyMemory(), "the memory passed in is left as it was");
  t.true(sim.messages().some((m) => /^cheap: backing off for \d+s after quota$/.test(m)));

  // Tick 2: the 2 cheap workers booting take 8 jobs; the other 8 spill over to the dear cloud.
  const second = await sim.tick();
  t.deepEqual(
    second.outcomes.map((o) => [o.cloud, o.operation, o.requested, o.succeeded]),
    [["dear", "launch", 2, 2]],
  );
  const spill = second.plan.actions.find((a) => a.kind === "launch" && a.cloud === "dear");
  t.regex(spill?.reason ?? "", /spilled over from cheap/);
  t.true(
    second.plan.notes.some((note) => note.startsWith("cheap:") && note.includes("backing off")),
  );
  t.like(second.memory.clouds.cheap?.backoff, { kind: "quota" });

  // From then on the jobs all run: 2 + 2 workers, no more launches, no call to the cheap cloud
  // while it backs off.
  for (let i = 0; i < 8; i += 1) await sim.tick();
  t.deepEqual(
    sim
      .outcomes()
      .filter((o) => o.operation === "launch")
      .map((o) => [o.cloud, o.succeeded]),
    [
      ["cheap", 2],
      ["dear", 2],
    ],
  );
  t.like(sim.pool.counts(), { idle: 0, running: 16 });
});

test("a backoff still running blocks launches into that cloud on the next ticks", async (t) => {
  // A fixed idleTimeout (the default before `auto`): under the adaptive defaults the cloud's
  // quota answer is also remembered, and the probe waits AUTO_QUOTA_HOLD (test/policy/adaptive).
  const sim = simulation(
    {
      cheap: {
        provider: {
          bootDelay: 60,
          bootSpread: 0,
          joinDelay: 30,
          quota: { instances: 1 },
          reportsHeadroom: false,
        },
        priority: 1,
        maxWorkers: 10,
        idleTimeout: "10m",
        backoff: { initial: "10m", max: "10m" },
      },
      dear: {
        provider: { bootDelay: 60, bootSpread: 0, joinDelay: 30 },
        priority: 2,
        maxWorkers: 1,
        idleTimeout: "10m",
      },
    },
    // More work than both clouds can hold: demand stays unmet tick after tick.
    Array.from({ length: 40 }, () => ({
      submitAt: -120,
      runtime: 3600,
      cpus: 1,
      memoryMb: 2000,
      gpus: 0,
    })),
  );
  const first = await sim.tick();
  const until = first.memory.clouds.cheap?.backoff?.until ?? 0;
  t.true(until >= START + 300, "at least half of the 10m initial backoff");
  while (sim.clock.now() < until) await sim.tick();
  const cheapLaunches = sim
    .outcomes()
    .filter((o) => o.cloud === "cheap" && o.operation === "launch");
  t.deepEqual(
    cheapLaunches.map((o) => o.at),
    [START],
    "no launch into the cheap cloud while it backs off",
  );
  // The first attempt after the backoff is a probe of one worker.
  await sim.tick();
  const probe = sim.outcomes().filter((o) => o.cloud === "cheap" && o.operation === "launch")[1];
  t.like(probe, { requested: 1 });
});

test("a cloud that cannot be listed is not scaled down until it can be seen again", async (t) => {
  const sim = simulation(
    {
      alpha: {
        provider: {
          bootDelay: 60,
          bootSpread: 0,
          joinDelay: 30,
          failures: [{ kind: "transient", operation: "list", from: 600, until: 900 }],
        },
        maxWorkers: 2,
        idleTimeout: 500,
      },
    },
    Array.from({ length: 4 }, () => ({
      submitAt: -120,
      runtime: 60,
      cpus: 1,
      memoryMb: 1000,
      gpus: 0,
    })),
  );
  // One worker joins at 90, runs the jobs from 120 to 180, then idles: due for termination from
  // 690, inside the window in which its cloud cannot be listed.
  while (sim.clock.now() < START + 900) {
    const result = await sim.tick();
    const at = result.snapshot.takenAt - START;
    const terminating = result.plan.actions.some((a) => a.kind === "terminate");
    t.false(terminating, `nothing terminated at +${at}s`);
    if (at >= 600) {
      t.true(
        result.snapshot.gaps.some((gap) => gap.cloud === "alpha"),
        `gap at +${at}s`,
      );
      t.is(result.plan.actions.length, 0);
    }
  }
  t.is(sim.alive(), 1);
  const seenAgain = await sim.tick();
  t.deepEqual(seenAgain.snapshot.gaps, []);
  t.deepEqual(
    seenAgain.outcomes.map((o) => [o.operation, o.succeeded]),
    [["terminate", 1]],
  );
  t.is(sim.alive(), 0);
});

test("a dry-run tick over the simulation plans launches but creates nothing", async (t) => {
  const sim = simulation(
    { alpha: { provider: { bootDelay: 60 }, maxWorkers: 5 } },
    Array.from({ length: 8 }, () => ({
      submitAt: -120,
      runtime: 60,
      cpus: 1,
      memoryMb: 1000,
      gpus: 0,
    })),
    true,
  );
  const result = await sim.tick();
  t.deepEqual(result.outcomes, []);
  t.true(result.plan.actions.some((a) => a.kind === "launch" && a.count === 2));
  t.is(sim.alive(), 0);
  t.true(sim.messages().some((m) => m.startsWith("would launch 2 on alpha:")));
  // A dry run remembers what it saw, never what it did: no backoff, no launches.
  t.deepEqual(result.memory.clouds.alpha?.launched, undefined);
  t.deepEqual(result.memory.clouds.alpha?.backoff, undefined);
  t.deepEqual(result.memory.clouds.alpha?.listing, { lastOk: 1_700_000_000, failures: 0 });
});

test("the tick summary counts what the clouds did, not what was planned; a dry run says what it would do", (t) => {
  const result = {
    snapshot: { takenAt: 0, jobs: [], workers: [], clouds: {}, gaps: [] },
    plan: {
      demand: {},
      workers: [],
      unfit: { jobs: 0, examples: [] },
      notes: [],
      actions: [
        { kind: "launch" as const, cloud: "a", count: 5, reason: "r" },
        {
          kind: "terminate" as const,
          cloud: "a",
          instanceIds: ["x", "y"],
          cause: "idle" as const,
          reason: "r",
        },
      ],
    },
    outcomes: [
      { cloud: "a", operation: "launch" as const, requested: 5, succeeded: 3 },
      { cloud: "a", operation: "terminate" as const, requested: 2, succeeded: 1 },
    ],
  };
  t.is(summarise(result), "0 idle jobs; workers: none; launched 3 of 5, terminated 1 of 2");
  t.is(
    summarise({ ...result, outcomes: [] }, true),
    "0 idle jobs; workers: none; would launch 5, terminate 2",
  );
  t.is(
    summarise({
      ...result,
      snapshot: { ...result.snapshot, gaps: [{ source: "queue", message: "down" }] },
    }),
    "idle jobs unknown; workers: none; launched 3 of 5, terminated 1 of 2; INCOMPLETE (1 gaps)",
  );
});
