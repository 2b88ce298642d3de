/**
 * The simulator's baselines on small hand-made snapshots: elastiq's classic algorithm (jobs per
 * VM, threshold, waiting time, deploy time, idle time, random victims) and a static pool, both
 * held to the clouds' caps, backoff and disabled state like our planner.
 */
import test, { type ExecutionContext } from "ava";
import type { ErrorKind } from "../../src/model/errors.js";
import { emptyMemory, type Memory } from "../../src/model/memory.js";
import type { Plan } from "../../src/model/plan.js";
import type { CloudPolicy } from "../../src/model/policy.js";
import type { IdleJob, ObservationGap, Worker } from "../../src/model/snapshot.js";
import { launchBlock, rememberOutcome } from "../../src/policy/backoff.js";
import { seededRandom } from "../../src/random.js";
import { type ElastiqOptions, elastiqClassic, staticPool } from "../../src/sim/baselines.js";
import type { Planner } from "../../src/tick/tick.js";
import {
  booting,
  type CloudOverrides,
  causes,
  cloud,
  idle,
  jobs,
  launchActions,
  launched,
  memory,
  NOW,
  pool,
  snapshot,
  terminateActions,
  terminated,
  worker,
} from "../policy/builders.js";

interface Situation {
  clouds?: CloudPolicy[];
  jobs?: IdleJob[];
  workers?: Worker[];
  gaps?: ObservationGap[];
  memory?: Memory;
}

/** Plans one tick, and checks what every plan must hold: positive sizes, reasons to read. */
function decide(t: ExecutionContext, planner: Planner, situation: Situation = {}): Plan {
  const seen = snapshot({
    jobs: situation.jobs ?? [],
    workers: situation.workers ?? [],
    gaps: situation.gaps ?? [],
  });
  const result = planner(seen, pool(situation.clouds), situation.memory ?? memory(), NOW);
  for (const action of launchActions(result)) {
    t.true(action.count > 0, `launch into ${action.cloud} of ${action.count}`);
    t.regex(action.reason, /\w{3,}/, `launch into ${action.cloud} has a reason`);
  }
  for (const action of terminateActions(result)) {
    t.true(action.instanceIds.length > 0, `termination in ${action.cloud} names instances`);
    t.regex(action.reason, /\w{3,}/, `termination of ${action.instanceIds.join(",")} has a reason`);
  }
  return result;
}

/** `count` jobs idle for `seconds`. */
function waiting(count: number, seconds: number, clouds = ["alpha"]): IdleJob[] {
  return jobs(count, { idleSince: NOW - seconds, clouds });
}

/** Memory after a launch into `policy` was answered with an error of `kind`. */
function refused(policy: CloudPolicy, kind: ErrorKind, before: Memory = emptyMemory()): Memory {
  return rememberOutcome(
    before,
    {
      cloud: policy.name,
      operation: "launch",
      requested: 3,
      succeeded: 0,
      error: { kind, message: `${kind} from the test` },
    },
    policy,
    NOW - 1,
    () => 0.5,
  );
}

const alpha = (overrides: CloudOverrides = {}) => cloud({ name: "alpha", ...overrides });
const beta = (overrides: CloudOverrides = {}) => cloud({ name: "beta", ...overrides });

// ---- elastiq ----

test("elastiq's published defaults: 4 jobs per VM, threshold 0, 40 s wait, 600 s deploy, 3600 s idle", (t) => {
  t.deepEqual(elastiqClassic().timers, [40, 600, 3600]);
  // Threshold 0: a single job that has waited past 40 s asks for one VM; one at 30 s does not.
  t.deepEqual(launched(decide(t, elastiqClassic(), { jobs: waiting(1, 41) })), { alpha: 1 });
  t.deepEqual(launched(decide(t, elastiqClassic(), { jobs: waiting(1, 30) })), {});
});

test("elastiq launches nothing while the waiting jobs do not exceed the threshold", (t) => {
  const planner = elastiqClassic({ waitingJobsThreshold: 10 });
  t.deepEqual(launched(decide(t, planner, { jobs: waiting(10, 120) })), {});
  t.deepEqual(launched(decide(t, planner, { jobs: waiting(3, 120) })), {});
});

test("elastiq asks for ceil(waiting / 4) VMs once the threshold is exceeded", (t) => {
  const planner = elastiqClassic({ waitingJobsThreshold: 10 });
  t.deepEqual(launched(decide(t, planner, { jobs: waiting(11, 120) })), { alpha: 3 });
  t.deepEqual(launched(decide(t, elastiqClassic(), { jobs: waiting(9, 120) })), { alpha: 3 });
  t.deepEqual(launched(decide(t, elastiqClassic(), { jobs: waiting(8, 120) })), { alpha: 2 });
  t.deepEqual(launched(decide(t, elastiqClassic({ jobsPerVm: 1 }), { jobs: waiting(5, 120) })), {
    alpha: 5,
  });
});

test("elastiq subtracts the VMs still deploying from what it asks for", (t) => {
  const result = decide(t, elastiqClassic(), {
    jobs: waiting(9, 120),
    workers: [booting("b1", 60), booting("b2", 500), worker("busy1")],
  });
  t.deepEqual(launched(result), { alpha: 1 });
  t.regex(launchActions(result)[0]?.reason ?? "", /9 jobs waiting.*3 VMs.*2 still deploying/);
  // As many deploying as wanted: nothing more.
  const covered = decide(t, elastiqClassic(), {
    jobs: waiting(8, 120),
    workers: [booting("b1", 60), booting("b2", 120)],
  });
  t.deepEqual(launched(covered), {});
});

test("elastiq terminates a VM not joined after its deploy time and no longer counts it as deploying", (t) => {
  // 700 s: past elastiq's 600 s deploy time, before the cloud's 900 s bootTimeout.
  const result = decide(t, elastiqClassic(), {
    jobs: waiting(4, 120),
    workers: [booting("late", 700)],
  });
  t.deepEqual(terminated(result), ["late"]);
  t.deepEqual(causes(result), ["stuck"]);
  t.deepEqual(launched(result), { alpha: 1 });
});

test("elastiq counts a job only after it has waited the waiting-jobs time", (t) => {
  const planner = elastiqClassic({ waitingJobsTime: 300 });
  t.deepEqual(launched(decide(t, planner, { jobs: waiting(8, 299) })), {});
  t.deepEqual(launched(decide(t, planner, { jobs: waiting(8, 300) })), { alpha: 2 });
  const mixed = [...waiting(4, 600), ...jobs(12, { idleSince: NOW - 10, clouds: ["alpha"] }, "2")];
  t.deepEqual(launched(decide(t, planner, { jobs: mixed })), { alpha: 1 });
});

test("elastiq ignores jobs no configured cloud selects", (t) => {
  const result = decide(t, elastiqClassic(), { jobs: waiting(8, 120, ["elsewhere"]) });
  t.deepEqual(launched(result), {});
});

test("elastiq launches nothing for jobs no worker of any cloud can hold", (t) => {
  const big = jobs(3, { idleSince: NOW - 120, cpus: 64 });
  const result = decide(t, elastiqClassic(), { jobs: big });
  t.deepEqual(launched(result), {});
  t.true(result.notes.some((note) => /no cloud's worker shape can hold 3 jobs/.test(note)));
  const mixed = decide(t, elastiqClassic(), { jobs: [...big, ...waiting(5, 120)] });
  t.deepEqual(launched(mixed), { alpha: 2 });
});

test("elastiq never goes above a cloud's maxWorkers", (t) => {
  const result = decide(t, elastiqClassic(), {
    clouds: [alpha({ maxWorkers: 5 })],
    jobs: waiting(40, 120),
    workers: [worker("w1"), worker("w2"), worker("w3")],
  });
  t.deepEqual(launched(result), { alpha: 2 });
  t.regex(launchActions(result)[0]?.reason ?? "", /maxWorkers 5/);
  t.true(result.notes.some((note) => /8 VMs wanted that no cloud can take/.test(note)));
  // Full already: nothing.
  const full = decide(t, elastiqClassic(), {
    clouds: [alpha({ maxWorkers: 2 })],
    jobs: waiting(40, 120),
    workers: [worker("w1"), idle("w2", 10)],
  });
  t.deepEqual(launched(full), {});
});

test("elastiq fills the clouds in priority order, the next taking what the first has no room for", (t) => {
  const clouds = [beta({ priority: 2 }), alpha({ priority: 1, maxWorkers: 2 })];
  const result = decide(t, elastiqClassic(), { clouds, jobs: waiting(20, 120, ["alpha", "beta"]) });
  t.deepEqual(launched(result), { alpha: 2, beta: 3 });
});

test("elastiq shuts down VMs idle longer than the idle time, and only those", (t) => {
  const result = decide(t, elastiqClassic(), {
    workers: [idle("old", 3601), idle("young", 3599), worker("busy")],
  });
  t.deepEqual(terminated(result), ["old"]);
  t.deepEqual(causes(result), ["idle"]);
  const shorter = decide(t, elastiqClassic({ idleTime: 600 }), {
    workers: [idle("old", 3601), idle("young", 3599), worker("busy")],
  });
  t.deepEqual(terminated(shorter).sort(), ["old", "young"]);
});

test("elastiq never shuts down idle VMs below the cloud's minWorkers", (t) => {
  const result = decide(t, elastiqClassic(), {
    clouds: [alpha({ minWorkers: 2 })],
    workers: [idle("i1", 7200), idle("i2", 7200), idle("i3", 7200)],
  });
  t.is(terminated(result).length, 1);
  const atMinimum = decide(t, elastiqClassic(), {
    clouds: [alpha({ minWorkers: 2 })],
    workers: [idle("i1", 7200), worker("busy")],
  });
  t.deepEqual(terminated(atMinimum), []);
});

test("elastiq tops a cloud up to its minWorkers, counting that against the jobs' VMs", (t) => {
  const empty = decide(t, elastiqClassic(), { clouds: [alpha({ minWorkers: 2 })] });
  t.deepEqual(launched(empty), { alpha: 2 });
  const busy = decide(t, elastiqClassic(), {
    clouds: [alpha({ minWorkers: 2 })],
    jobs: waiting(12, 120),
  });
  t.deepEqual(launched(busy), { alpha: 3 });
});

test("elastiq draws its idle victims at random, the same ones for the same seed", (t) => {
  const workers = ["i1", "i2", "i3", "i4", "i5", "i6"].map((id) => idle(id, 7200));
  const clouds = [alpha({ minWorkers: 4 })];
  const victims = (seed: number, listed: Worker[] = workers) =>
    terminated(
      decide(t, elastiqClassic({ random: seededRandom(seed) }), { clouds, workers: listed }),
    )
      .sort()
      .join(",");
  t.is(victims(7).split(",").length, 2);
  t.is(victims(7), victims(7));
  // The listing's order does not change the draw.
  t.is(victims(7, [...workers].reverse()), victims(7));
  // A seed in the options draws as the seeded generator does.
  const bySeed = decide(t, elastiqClassic({ seed: 7 }).planner, { clouds, workers });
  t.is(terminated(bySeed).sort().join(","), victims(7));
  // Different seeds draw different victims.
  const draws = new Set(Array.from({ length: 20 }, (_, seed) => victims(seed)));
  t.true(draws.size > 1, `20 seeds drew ${[...draws].join(" | ")}`);
});

test("elastiq terminates failed VMs", (t) => {
  const failed = worker("f1", { state: "failed", fault: { message: "no valid host" } });
  const result = decide(t, elastiqClassic(), { workers: [failed, worker("busy")] });
  t.deepEqual(terminated(result), ["f1"]);
  t.deepEqual(causes(result), ["failed"]);
  t.regex(terminateActions(result)[0]?.reason ?? "", /no valid host/);
});

test("elastiq launches nothing into a cloud backing off or disabled, and spills to the next", (t) => {
  const first = alpha({ priority: 1 });
  const second = beta({ priority: 2 });
  const backingOff = refused(first, "quota");
  t.not(launchBlock(backingOff.clouds.alpha ?? { scoped: {} }, NOW), undefined);
  const both = ["alpha", "beta"];
  t.deepEqual(
    launched(
      decide(t, elastiqClassic(), {
        clouds: [first, second],
        jobs: waiting(8, 120, both),
        memory: backingOff,
      }),
    ),
    { beta: 2 },
  );
  const alone = decide(t, elastiqClassic(), {
    clouds: [first],
    jobs: waiting(8, 120),
    memory: backingOff,
  });
  t.deepEqual(launched(alone), {});
  t.true(alone.notes.some((note) => /alpha: backing off after quota/.test(note)));
  const disabled = decide(t, elastiqClassic(), {
    clouds: [first, second],
    jobs: waiting(8, 120, both),
    memory: refused(first, "auth"),
  });
  t.deepEqual(launched(disabled), { beta: 2 });
  const bothDisabled = refused(second, "config", refused(first, "auth"));
  const none = decide(t, elastiqClassic({ waitingJobsThreshold: 0 }), {
    clouds: [first, second],
    jobs: waiting(8, 120, both),
    memory: bothDisabled,
  });
  t.deepEqual(launched(none), {});
});

test("elastiq calls a throttled cloud not at all and terminates nothing on an incomplete observation", (t) => {
  const throttled = decide(t, elastiqClassic(), {
    jobs: waiting(8, 120),
    workers: [idle("old", 7200)],
    memory: refused(alpha(), "throttled"),
  });
  t.deepEqual(throttled.actions, []);
  const partial = decide(t, elastiqClassic(), {
    workers: [idle("old", 7200)],
    gaps: [{ source: "machines", message: "collector timed out" }],
  });
  t.deepEqual(terminated(partial), []);
});

test("elastiq counts no waiting job when the queue could not be read", (t) => {
  const result = decide(t, elastiqClassic(), {
    jobs: waiting(8, 120),
    gaps: [{ source: "queue", message: "schedd timed out" }],
  });
  t.deepEqual(launched(result), {});
});

test("elastiq reports demand by its waiting time and the workers with their states", (t) => {
  const options: ElastiqOptions = { waitingJobsTime: 100 };
  const result = decide(t, elastiqClassic(options), {
    jobs: [...waiting(3, 200), ...jobs(2, { idleSince: NOW - 50, clouds: ["alpha"] }, "2")],
    workers: [booting("b1", 60), idle("i1", 30)],
  });
  t.is(result.demand.alpha?.idleJobs, 3);
  t.is(result.demand.alpha?.cpus, 3);
  t.deepEqual(
    result.workers.map((w) => [w.instanceId, w.state]),
    [
      ["b1", "booting"],
      ["i1", "idle"],
    ],
  );
});

test("elastiq refuses options that make no sense", (t) => {
  t.throws(() => elastiqClassic({ jobsPerVm: 0 }), { instanceOf: RangeError });
  t.throws(() => elastiqClassic({ jobsPerVm: 2.5 }), { instanceOf: RangeError });
  t.throws(() => elastiqClassic({ idleTime: -1 }), { instanceOf: RangeError });
  t.throws(() => elastiqClassic({ waitingJobsTime: Number.NaN }), { instanceOf: RangeError });
});

// ---- Static pool ----

test("a static pool tops up to its size whatever the queue holds", (t) => {
  const result = decide(t, staticPool(5), { workers: [worker("w1"), booting("b1", 60)] });
  t.deepEqual(launched(result), { alpha: 3 });
  t.regex(launchActions(result)[0]?.reason ?? "", /static pool of 5 workers has 2 alive/);
  const full = decide(t, staticPool(2), {
    jobs: waiting(100, 600),
    workers: [worker("w1"), worker("w2")],
  });
  t.deepEqual(full.actions, []);
});

test("a static pool spreads over the clouds in priority order, each up to its maxWorkers", (t) => {
  const clouds = [beta({ priority: 2, maxWorkers: 2 }), alpha({ priority: 1, maxWorkers: 2 })];
  t.deepEqual(launched(decide(t, staticPool(3), { clouds })), { alpha: 2, beta: 1 });
  const short = decide(t, staticPool(6), { clouds });
  t.deepEqual(launched(short), { alpha: 2, beta: 2 });
  t.true(short.notes.some((note) => /2 workers missing that no cloud can take/.test(note)));
});

test("a static pool never terminates idle workers while it has no more than its size", (t) => {
  const result = decide(t, staticPool(3), {
    workers: [idle("i1", 86_400), idle("i2", 86_400), idle("i3", 86_400)],
  });
  t.deepEqual(result.actions, []);
});

test("a static pool terminates idle workers above its size, the least preferred cloud's first, never a busy one", (t) => {
  const clouds = [alpha({ priority: 1 }), beta({ priority: 2 })];
  const workers = [
    worker("a1", { cloud: "alpha" }),
    idle("a2", 600, { cloud: "alpha" }),
    idle("b1", 60, { cloud: "beta" }),
    worker("b2", { cloud: "beta" }),
  ];
  const one = decide(t, staticPool(3), { clouds, workers });
  t.deepEqual(terminated(one), ["b1"]);
  t.deepEqual(launched(one), {});
  t.deepEqual(terminated(decide(t, staticPool(2), { clouds, workers })), ["b1", "a2"]);
  t.deepEqual(terminated(decide(t, staticPool(1), { clouds, workers })), ["b1", "a2"]);
});

test("a static pool counts an unlisted cloud by its last listing, however old, and tops up nowhere else", (t) => {
  const clouds = [alpha({ priority: 1 }), beta({ priority: 2 })];
  const gap = {
    source: "cloud" as const,
    cloud: "alpha",
    kind: "transient" as const,
    message: "timeout",
  };
  const lastSeen = { at: NOW - 7200, workers: [worker("a1"), worker("a2"), idle("a3", 60)] };
  const blind = decide(t, staticPool(4), {
    clouds,
    workers: [worker("b1", { cloud: "beta" })],
    gaps: [gap],
    memory: memory({ alpha: { lastSeen, launched: [{ id: "a4", at: NOW - 30 }] } }),
  });
  t.deepEqual(launched(blind), {});
  const short = decide(t, staticPool(6), {
    clouds,
    workers: [worker("b1", { cloud: "beta" })],
    gaps: [gap],
    memory: memory({ alpha: { lastSeen } }),
  });
  t.deepEqual(launched(short), { beta: 2 });
  // Launched and not listed yet: counted as booting, not launched again.
  const lagging = decide(t, staticPool(3), {
    workers: [worker("w1")],
    memory: memory({ alpha: { launched: [{ id: "new1", at: NOW - 30 }] } }),
  });
  t.deepEqual(launched(lagging), { alpha: 1 });
});

test("a static pool terminates failed and stuck workers and replaces them", (t) => {
  const failed = worker("f1", { state: "failed", fault: { message: "spot reclaimed" } });
  const result = decide(t, staticPool(4), {
    workers: [worker("w1"), worker("w2"), failed, booting("s1", 1000)],
  });
  t.deepEqual(terminated(result), ["f1", "s1"]);
  t.deepEqual(causes(result), ["failed", "stuck"]);
  t.deepEqual(launched(result), { alpha: 2 });
  t.regex(terminateActions(result)[1]?.reason ?? "", /bootTimeout 15m/);
  const sooner = decide(t, staticPool(1, { stuckAfter: 300 }), { workers: [booting("s1", 301)] });
  t.deepEqual(terminated(sooner), ["s1"]);
});

test("a static pool launches nothing into a cloud backing off or disabled", (t) => {
  const first = alpha({ priority: 1 });
  const second = beta({ priority: 2 });
  t.deepEqual(
    launched(
      decide(t, staticPool(3), { clouds: [first, second], memory: refused(first, "capacity") }),
    ),
    { beta: 3 },
  );
  t.deepEqual(
    launched(decide(t, staticPool(3), { clouds: [first], memory: refused(first, "auth") })),
    {},
  );
});

test("a static pool decides by no timer of its own unless told when a worker is stuck", (t) => {
  t.deepEqual(staticPool(3).timers, []);
  t.deepEqual(staticPool(3, { stuckAfter: 300 }).timers, [300]);
});

test("a static pool's size must be a whole number of workers", (t) => {
  t.throws(() => staticPool(-1), { instanceOf: RangeError });
  t.throws(() => staticPool(1.5), { instanceOf: RangeError });
  t.deepEqual(launched(decide(t, staticPool(0))), {});
});
