/** Every planner rule, as tables of cases: demand, scale-up, scale-down, backoff. */
import test, { type ExecutionContext } from "ava";
import type { ErrorKind } from "../../src/model/errors.js";
import type { CloudMemory, Memory } from "../../src/model/memory.js";
import type { Plan } from "../../src/model/plan.js";
import type { CloudPolicy } from "../../src/model/policy.js";
import type {
  Headroom,
  IdleJob,
  ObservationGap,
  Snapshot,
  Worker,
} from "../../src/model/snapshot.js";
import {
  backoffDelay,
  type CallOutcome,
  cloudMemory,
  launchBlock,
  rememberOutcome,
  rememberReload,
} from "../../src/policy/backoff.js";
import { plan } from "../../src/policy/plan.js";
import {
  backoff,
  booting,
  type CloudOverrides,
  causes,
  cloud,
  idle,
  job,
  jobs,
  launchActions,
  launched,
  memory,
  NOW,
  pool,
  snapshot,
  terminated,
  worker,
} from "./builders.js";

interface PlanCase {
  title: string;
  clouds?: CloudPolicy[];
  jobs?: IdleJob[];
  workers?: Worker[];
  gaps?: ObservationGap[];
  views?: Snapshot["clouds"];
  memory?: Memory;
  /** Workers launched per cloud; clouds left out launch nothing. */
  launched?: Record<string, number>;
  /** Instance ids terminated, in order. */
  terminated?: string[];
  check?: (t: ExecutionContext, result: Plan) => void;
}

function planTests(cases: readonly PlanCase[]): void {
  for (const c of cases) {
    test(c.title, (t) => {
      const seen = snapshot({
        jobs: c.jobs ?? [],
        workers: c.workers ?? [],
        gaps: c.gaps ?? [],
        clouds: c.views ?? {},
      });
      const result = plan(seen, pool(c.clouds), c.memory ?? memory(), NOW);
      if (c.launched !== undefined) t.deepEqual(launched(result), c.launched);
      if (c.terminated !== undefined) t.deepEqual(terminated(result), c.terminated);
      c.check?.(t, result);
    });
  }
}

const alpha = (overrides: CloudOverrides = {}) => cloud({ name: "alpha", ...overrides });
const beta = (overrides: CloudOverrides = {}) => cloud({ name: "beta", ...overrides });
const both = { clouds: ["alpha", "beta"] };
const failed = (id: string, message = "no reason") =>
  worker(id, { state: "failed", fault: { message } });
const reasonOf = (result: Plan, name: string) =>
  launchActions(result).find((action) => action.cloud === name)?.reason ?? "";
const hasNote = (result: Plan, pattern: RegExp) => result.notes.some((note) => pattern.test(note));

// ---- Demand ----

planTests([
  {
    title: "jobs idle shorter than persistence are not demand; at exactly persistence they are",
    jobs: [...jobs(3, { idleSince: NOW - 59 }, "1"), ...jobs(2, { idleSince: NOW - 60 }, "2")],
    launched: { alpha: 1 },
    check: (t, r) => t.deepEqual(r.demand.alpha, { idleJobs: 2, cpus: 2, memoryMb: 4096, gpus: 0 }),
  },
  {
    title: "each cloud's demand counts only the jobs whose clouds include it",
    clouds: [alpha(), beta()],
    jobs: [
      ...jobs(2, { clouds: ["alpha"] }, "1"),
      ...jobs(3, { clouds: ["alpha", "beta"], cpus: 2, memoryMb: 1000 }, "2"),
      ...jobs(1, { clouds: ["beta"], memoryMb: 500 }, "3"),
      ...jobs(4, { clouds: ["gamma"] }, "4"),
    ],
    check: (t, r) =>
      t.deepEqual(r.demand, {
        alpha: { idleJobs: 5, cpus: 8, memoryMb: 7096, gpus: 0 },
        beta: { idleJobs: 4, cpus: 7, memoryMb: 3500, gpus: 0 },
      }),
  },
  {
    title: "ten one-cpu jobs pack into three 4-cpu workers",
    jobs: jobs(10),
    launched: { alpha: 3 },
  },
  {
    title: "memory-bound jobs pack by memory: five 3000 MB jobs need three 8192 MB workers",
    jobs: jobs(5, { memoryMb: 3000 }),
    launched: { alpha: 3 },
  },
  {
    title: "mixed jobs pack first-fit decreasing: three 2-cpu and two 1-cpu jobs fill two workers",
    jobs: [...jobs(3, { cpus: 2 }, "1"), ...jobs(2, {}, "2")],
    launched: { alpha: 2 },
  },
  {
    title: "a job asking for no cpus counts as one cpu",
    jobs: jobs(5, { cpus: 0 }),
    launched: { alpha: 2 },
    check: (t, r) => t.is(r.demand.alpha?.cpus, 5),
  },
  {
    title: "gpu jobs launch only on a gpu worker shape; cpu jobs take the cpu cloud first",
    clouds: [
      cloud({ name: "cpu", priority: 1 }),
      cloud({ name: "gpu", priority: 2, worker: { memoryMb: 16384, gpus: 1 } }),
    ],
    jobs: [
      ...jobs(2, { gpus: 1, clouds: ["cpu", "gpu"] }, "1"),
      ...jobs(4, { clouds: ["cpu", "gpu"] }, "2"),
    ],
    launched: { cpu: 1, gpu: 2 },
  },
  {
    title: "jobs no selecting cloud can hold are reported unfit and not launched for",
    jobs: [
      ...jobs(2, { cpus: 8 }, "1"),
      job("2.0", { memoryMb: 100_000 }),
      job("3.0", { cpus: 64, clouds: ["gamma"] }),
      job("4.0", { gpus: 1 }),
    ],
    launched: {},
    check: (t, r) => {
      t.is(r.unfit.jobs, 4);
      t.deepEqual(r.unfit.examples, [
        "1.0 (8 cpus, 2048 MB)",
        "2.0 (1 cpus, 100000 MB)",
        "4.0 (1 cpus, 2048 MB, 1 gpus)",
      ]);
      t.true(hasNote(r, /no cloud's worker shape can hold 4 jobs/));
    },
  },
  {
    title: "a job too big for one selecting cloud goes to another that can hold it",
    clouds: [alpha(), beta({ worker: { cpus: 8 } })],
    jobs: jobs(2, { cpus: 8, ...both }),
    launched: { beta: 2 },
    check: (t, r) => t.is(r.unfit.jobs, 0),
  },
]);

// ---- Scale-up ----

const headroomCases: Array<[string, Headroom]> = [
  ["instances", { instances: 2 }],
  ["cpus (11 cpus hold two 4-cpu workers)", { cpus: 11 }],
  ["memory (20000 MB hold two 8192 MB workers)", { memoryMb: 20_000 }],
];
const disabled = { kind: "auth", message: "bad key", since: NOW } as const;
const spillCases: Array<[string, CloudOverrides, Memory, Record<string, number>]> = [
  ["capped at maxWorkers", { maxWorkers: 1 }, memory(), { alpha: 1, beta: 3 }],
  ["backing off", {}, memory({ alpha: { backoff: backoff("quota", 120) } }), { beta: 4 }],
  ["disabled", {}, memory({ alpha: { disabled } }), { beta: 4 }],
];

planTests([
  {
    title: "workers already booting or idle take jobs before any launch",
    jobs: jobs(10),
    workers: [booting("b1", 60), idle("i1", 30)],
    launched: { alpha: 1 },
    check: (t, r) => t.regex(reasonOf(r, "alpha"), /8 more jobs fit on workers booting or idle/),
  },
  {
    title: "a stuck booting worker is no capacity: it is terminated and replaced",
    jobs: jobs(4),
    workers: [booting("s1", 901)],
    launched: { alpha: 1 },
    terminated: ["s1"],
  },
  {
    title:
      "without the collector a stuck worker is kept (and is no capacity); a failed one is still terminated",
    jobs: jobs(4),
    workers: [booting("s1", 901), failed("f1")],
    gaps: [{ source: "machines", message: "collector down" }],
    launched: { alpha: 1 },
    terminated: ["f1"],
  },
  {
    title: "failed workers terminated this tick do not count towards minWorkers",
    clouds: [alpha({ minWorkers: 2 })],
    workers: [failed("f1"), failed("f2")],
    launched: { alpha: 2 },
    terminated: ["f1", "f2"],
  },
  {
    title: "launches are capped by maxWorkers counting every worker that is not gone",
    clouds: [alpha({ maxWorkers: 5 })],
    jobs: jobs(40),
    workers: [worker("w1"), worker("w2"), worker("w3"), worker("g1", { state: "gone" })],
    launched: { alpha: 2 },
    check: (t, r) => t.regex(reasonOf(r, "alpha"), /capped by maxWorkers 5/),
  },
  {
    title: "a cloud already above maxWorkers launches nothing",
    clouds: [alpha({ maxWorkers: 2 })],
    jobs: jobs(40),
    workers: [worker("w1"), worker("w2"), worker("w3")],
    launched: {},
  },
  ...headroomCases.map(([what, headroom]) => ({
    title: `launches are capped by the quota headroom in ${what}`,
    jobs: jobs(40),
    views: { alpha: { headroom } },
    launched: { alpha: 2 },
  })),
  {
    title: "launches are capped by maxLaunchPerTick",
    clouds: [alpha({ maxLaunchPerTick: 3 })],
    jobs: jobs(40),
    launched: { alpha: 3 },
  },
  {
    title: "launches are capped by the slow-start batch limit",
    jobs: jobs(40),
    memory: memory({ alpha: { batchLimit: 2 } }),
    launched: { alpha: 2 },
    check: (t, r) => t.regex(reasonOf(r, "alpha"), /slow start \(2 at a time\)/),
  },
  {
    title: "clouds are filled in priority order, lower number first",
    clouds: [alpha({ priority: 20 }), beta({ priority: 10 })],
    jobs: jobs(12, both),
    launched: { beta: 3 },
  },
  {
    title: "clouds of equal priority split new workers by share (3:1)",
    clouds: [alpha({ share: 3 }), beta({ share: 1 })],
    jobs: jobs(32, both),
    launched: { alpha: 6, beta: 2 },
  },
  {
    title: "within a priority the most starved cloud (fewest workers per share) goes first",
    clouds: [alpha(), beta()],
    jobs: jobs(24, both),
    workers: ["1", "2", "3", "4"].map((id) => worker(id)),
    launched: { alpha: 1, beta: 5 },
  },
  {
    title: "equally starved clouds of equal priority go cheaper first",
    clouds: [alpha({ costPerHour: 0.5 }), beta({ costPerHour: 0.1 })],
    jobs: jobs(12, both),
    launched: { alpha: 1, beta: 2 },
  },
  ...spillCases.map(([what, overrides, state, expected]) => ({
    title: `demand a cloud ${what} cannot take spills to the next priority`,
    clouds: [alpha({ priority: 1, ...overrides }), beta({ priority: 2 })],
    jobs: jobs(16, both),
    memory: state,
    launched: expected,
    check: (t: ExecutionContext, r: Plan) =>
      t.regex(reasonOf(r, "beta"), /spilled over from alpha/),
  })),
  {
    title: "jobs only a backing-off cloud selects wait, with a note, and go nowhere else",
    clouds: [alpha({ priority: 1 }), beta({ priority: 2 })],
    jobs: jobs(8),
    memory: memory({ alpha: { backoff: backoff("capacity", 120) } }),
    launched: {},
    check: (t, r) => t.true(hasNote(r, /^alpha: could not take 8 more jobs: backing off/)),
  },
  {
    title: "a cloud below minWorkers launches up to it without any demand",
    clouds: [alpha({ minWorkers: 3 })],
    workers: [worker("w1"), booting("b1", 30)],
    launched: { alpha: 1 },
    check: (t, r) => t.regex(reasonOf(r, "alpha"), /1 to keep minWorkers 3/),
  },
  {
    title: "workers launched to keep minWorkers take jobs before more are launched",
    clouds: [alpha({ minWorkers: 2 })],
    jobs: jobs(8),
    launched: { alpha: 2 },
  },
  {
    title:
      "a cloud with a cloud gap gets no launches, not even for minWorkers; others take its jobs",
    clouds: [alpha({ minWorkers: 2 }), beta()],
    jobs: jobs(8, both),
    gaps: [{ source: "cloud", cloud: "alpha", message: "timeout" }],
    launched: { beta: 2 },
  },
  {
    title: "a queue gap means no demand-driven launches; minWorkers is still kept",
    clouds: [alpha({ minWorkers: 1 })],
    jobs: jobs(40),
    gaps: [{ source: "queue", message: "schedd down" }],
    launched: { alpha: 1 },
    check: (t, r) => t.deepEqual(r.demand.alpha, { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 }),
  },
  {
    title: "a machines gap does not stop demand-driven launches",
    jobs: jobs(8),
    gaps: [{ source: "machines", message: "collector down" }],
    launched: { alpha: 2 },
  },
]);

// ---- Scale-down ----

const messy = [idle("i1", 9999), booting("s1", 9999), failed("f1")];
/** Each source a termination needs, what a gap in it stops, and the note saying so. */
const gapCases: Array<{ gap: ObservationGap; terminated: string[]; note: RegExp }> = [
  // Idle, stuck and failed terminations do not need the queue.
  {
    gap: { source: "queue", message: "schedd down" },
    terminated: ["s1", "f1", "i1"],
    note: /^queue not read, no job counts as demand this tick: schedd down$/,
  },
  // Without the collector nobody is judged idle or stuck; the cloud still says what failed.
  {
    gap: { source: "machines", message: "collector down" },
    terminated: ["f1"],
    note: /^collector not read, no idle or stuck worker is terminated this tick: collector down$/,
  },
  // Another cloud's listing failing changes nothing in alpha.
  {
    gap: { source: "cloud", cloud: "beta", message: "api timeout" },
    terminated: ["s1", "f1", "i1"],
    note: /^beta: not listed this tick \(api timeout\); never listed before; no launches, no terminations there$/,
  },
  // Its own listing failing stops every termination in it.
  {
    gap: { source: "cloud", cloud: "alpha", message: "api timeout" },
    terminated: [],
    note: /^alpha: not listed this tick \(api timeout\)/,
  },
];

planTests([
  {
    title:
      "a worker idle past its idle timeout is terminated, longest-idle first, never below minWorkers",
    clouds: [alpha({ minWorkers: 2 })],
    workers: [idle("i1", 700), idle("i2", 900), idle("i3", 650), worker("b1")],
    terminated: ["i2", "i1"],
    check: (t, r) => t.deepEqual(causes(r), ["idle", "idle"]),
  },
  {
    title: "a worker idle for exactly its idle timeout is kept",
    workers: [idle("i1", 600)],
    terminated: [],
  },
  {
    title:
      "a booting worker past its boot timeout is terminated as stuck; one at the timeout is kept",
    workers: [booting("s1", 901), booting("s2", 900)],
    terminated: ["s1"],
    check: (t, r) => {
      t.deepEqual(causes(r), ["stuck"]);
      t.deepEqual(
        r.workers.map((w) => w.state),
        ["stuck", "booting"],
      );
    },
  },
  {
    title: "a failed worker is terminated, with the cloud's fault in the reason",
    workers: [failed("f1", "No valid host")],
    terminated: ["f1"],
    check: (t, r) => t.regex(r.actions[0]?.reason ?? "", /No valid host/),
  },
  {
    title: "stuck and failed workers are terminated even at minWorkers",
    clouds: [alpha({ minWorkers: 5, maxWorkers: 5 })],
    workers: [booting("s1", 901), failed("f1")],
    terminated: ["s1", "f1"],
  },
  {
    title: "a busy worker is never terminated, whatever its idle time says",
    workers: [worker("b1", { idleSeconds: 99_999 })],
    terminated: [],
  },
  {
    title: "gone workers and workers of clouds not in the policy are never terminated",
    workers: [worker("g1", { state: "gone" }), idle("x1", 9999, { cloud: "gamma" })],
    terminated: [],
  },
  ...gapCases.map(({ gap, terminated, note }) => ({
    title: `a ${gap.source}${gap.cloud === undefined ? "" : ` (${gap.cloud})`} gap stops exactly the terminations that need it: ${terminated.length === 0 ? "none" : terminated.join(", ")} still go`,
    clouds: [alpha(), beta()],
    workers: gap.cloud === "alpha" ? [] : messy,
    gaps: [gap],
    terminated,
    check: (t: ExecutionContext, r: Plan) => t.true(hasNote(r, note), r.notes.join("\n")),
  })),
  {
    title: "a throttled cloud gets no terminations; other clouds still do",
    clouds: [alpha(), beta()],
    workers: [...messy, idle("i2", 9999, { cloud: "beta" })],
    memory: memory({ alpha: { backoff: backoff("throttled", 30) } }),
    terminated: ["i2"],
  },
  {
    title: "a cloud backing off after quota, or whose throttling has ended, still scales down",
    clouds: [alpha(), beta()],
    workers: [idle("i1", 9999), idle("i2", 9999, { cloud: "beta" })],
    memory: memory({
      alpha: { backoff: backoff("quota", 300) },
      beta: { backoff: backoff("throttled", 0) },
    }),
    terminated: ["i1", "i2"],
  },
  {
    title: "every action has a non-empty reason",
    clouds: [alpha({ minWorkers: 2 })],
    jobs: jobs(30),
    workers: [...messy, idle("i2", 700), worker("b1")],
    check: (t, r) => {
      t.deepEqual(causes(r), ["stuck", "failed", "idle"]);
      t.is(launchActions(r).length, 1);
      for (const action of r.actions) t.not(action.reason.trim(), "");
    },
  },
]);

// ---- Backoff ----

const policy = alpha();
type ErrorDetails = { retryAfterSeconds?: number; scope?: string };

/** A launch of 4 workers in alpha that failed with `kind`, message `<kind> from the test`. */
function failure(
  kind: ErrorKind,
  details: ErrorDetails = {},
  operation: CallOutcome["operation"] = "launch",
): CallOutcome {
  const error = { kind, message: `${kind} from the test`, ...details };
  return { cloud: "alpha", operation, requested: 4, succeeded: 0, error };
}

function success(requested: number, succeeded = requested): CallOutcome {
  return { cloud: "alpha", operation: "launch", requested, succeeded };
}

function remember(before: Partial<CloudMemory>, outcome: CallOutcome, random = 0): CloudMemory {
  return cloudMemory(
    rememberOutcome(memory({ alpha: before }), outcome, policy, NOW, () => random),
    "alpha",
  );
}

test("backoff delays grow exponentially, jittered between half and all of base × 2^(n−1), up to the cap", (t) => {
  for (let failures = 1; failures <= 12; failures += 1) {
    const exponential = Math.min(1800, 60 * 2 ** (failures - 1));
    t.is(backoffDelay(60, 1800, failures, 0), exponential / 2);
    const high = backoffDelay(60, 1800, failures, 0.999);
    t.true(high >= exponential * 0.999 && high < exponential, `failure ${failures}: ${high}`);
  }
});

interface OutcomeCase {
  title: string;
  before?: Partial<CloudMemory>;
  outcome: CallOutcome;
  random?: number;
  after: Partial<CloudMemory>;
}

const outcomeCases: OutcomeCase[] = [
  {
    title: "quota backs off by half the initial delay at random 0 and starts a probe of one",
    outcome: failure("quota"),
    after: { backoff: backoff("quota", 30, 1), batchLimit: 1 },
  },
  {
    title: "capacity after two failures backs off 2^2 × initial, halved at random 0",
    before: { backoff: backoff("capacity", -5, 2) },
    outcome: failure("capacity"),
    after: { backoff: backoff("capacity", 120, 3), batchLimit: 1 },
  },
  {
    title: "quota after many failures waits at most the cap",
    before: { backoff: backoff("quota", -5, 30) },
    outcome: failure("quota"),
    random: 0.5,
    after: { backoff: backoff("quota", 1350, 31), batchLimit: 1 },
  },
  {
    title: "capacity in one scope backs off that scope only, without slow start",
    outcome: failure("capacity", { scope: "zone=a" }),
    after: { scoped: { "zone=a": backoff("capacity", 30, 1) } },
  },
  {
    title: "throttled waits the Retry-After when it is longer than the transient delay",
    outcome: failure("throttled", { retryAfterSeconds: 300 }),
    random: 0.999,
    after: { backoff: backoff("throttled", 300, 1) },
  },
  {
    title: "throttled with a short Retry-After waits the transient delay",
    outcome: failure("throttled", { retryAfterSeconds: 1 }),
    after: { backoff: backoff("throttled", 7.5, 1) },
  },
  {
    title: "transient backs off briefly, from backoff.transient, and grows exponentially",
    before: { backoff: backoff("transient", -1, 1) },
    outcome: failure("transient"),
    after: { backoff: backoff("transient", 15, 2) },
  },
  ...(["auth", "config"] as const).map((kind) => ({
    title: `${kind} disables the cloud`,
    outcome: failure(kind),
    after: { disabled: { kind, message: `${kind} from the test`, since: NOW } },
  })),
  {
    title: "a full success resets the backoff and doubles the batch limit",
    before: { backoff: backoff("quota", -1, 3), batchLimit: 1 },
    outcome: success(4),
    after: { batchLimit: 2 },
  },
  {
    title: "a partial success keeps the backoff and the batch limit",
    before: { backoff: backoff("quota", -1, 3), batchLimit: 1 },
    outcome: success(4, 3),
    after: { backoff: backoff("quota", -1, 3), batchLimit: 1 },
  },
  {
    title: "the batch limit disappears once doubling reaches maxLaunchPerTick",
    before: { batchLimit: 5 },
    outcome: success(4),
    after: {},
  },
];

for (const c of outcomeCases) {
  test(c.title, (t) =>
    t.deepEqual(remember(c.before ?? {}, c.outcome, c.random), { scoped: {}, ...c.after }),
  );
}

test("the batch limit grows 1, 2, 4, 8 with full successes and then disappears", (t) => {
  let state = remember({}, failure("quota"));
  const limits: Array<number | undefined> = [];
  for (let round = 0; round < 5; round += 1) {
    limits.push(state.batchLimit);
    state = remember(state, success(1));
  }
  t.deepEqual(limits, [1, 2, 4, 8, undefined]);
});

test("after a full success the next failure starts over from the initial delay", (t) => {
  const reset = remember({ backoff: backoff("quota", -1, 6) }, success(2));
  t.deepEqual(remember(reset, failure("quota")).backoff, backoff("quota", 30, 1));
});

// Terminations still run during a quota backoff; a transient or throttled answer to one must not
// end the quota backoff early.
for (const [kind, details] of [
  ["transient", {}],
  ["throttled", { retryAfterSeconds: 1 }],
] as const) {
  test(`a ${kind} error of a later call never cuts short a quota backoff still running`, (t) => {
    const running = { backoff: backoff("quota", 400, 4), batchLimit: 1 };
    const state = remember(running, failure(kind, details, "terminate"));
    const result = plan(
      snapshot({ jobs: jobs(8) }),
      pool([policy]),
      memory({ alpha: state }),
      NOW + 200,
    );
    t.deepEqual(launched(result), {});
    t.true(
      (state.backoff?.until ?? 0) >= NOW + 400,
      `ends at NOW + ${(state.backoff?.until ?? 0) - NOW}`,
    );
  });
}

test("auth and config errors block launches until rememberReload, which keeps backoff and forgets unconfigured clouds", (t) => {
  const before = memory({ alpha: { backoff: backoff("quota", 60, 1) }, gone: {} });
  const disabled = rememberOutcome(before, failure("auth"), policy, NOW, () => 0);
  t.regex(
    launchBlock(cloudMemory(disabled, "alpha"), NOW + 10 ** 9) ?? "",
    /^disabled after auth error/,
  );
  const reloaded = rememberReload(disabled, ["alpha", "beta"]);
  t.deepEqual(reloaded, memory({ alpha: { backoff: backoff("quota", 60, 1) } }));
  t.is(launchBlock(cloudMemory(reloaded, "alpha"), NOW + 61), undefined);
});

planTests([
  {
    title: "launches never happen while backing off: one second left",
    jobs: jobs(8),
    memory: memory({ alpha: { backoff: backoff("transient", 1) } }),
    launched: {},
  },
  {
    title: "launches resume the moment a backoff ends",
    jobs: jobs(8),
    memory: memory({ alpha: { backoff: backoff("transient", 0) } }),
    launched: { alpha: 2 },
  },
  {
    title: "capacity in one scope still launches, avoiding the scope that backs off",
    jobs: jobs(8),
    memory: memory({
      alpha: { scoped: { "zone=a": backoff("capacity", 300), "zone=b": backoff("capacity", -1) } },
    }),
    launched: { alpha: 2 },
    check: (t, r) => t.deepEqual(launchActions(r)[0]?.avoid, ["zone=a"]),
  },
]);

test("once a quota backoff has run out, the next launch is a probe of one", (t) => {
  const state = memory({ alpha: remember({}, failure("quota"), 0.5) });
  const until = state.clouds.alpha?.backoff?.until ?? NOW;
  const launchesAt = (now: number) =>
    launched(plan(snapshot({ jobs: jobs(40) }), pool([policy]), state, now));
  t.deepEqual(launchesAt(until - 1), {});
  t.deepEqual(launchesAt(until), { alpha: 1 });
});
