/** Invariants of the planner over arbitrary pools, workers, queues, memories and times. */
import { isDeepStrictEqual } from "node:util";
import test from "ava";
import fc from "fast-check";
import { ERROR_KINDS } from "../../src/model/errors.js";
import type { CloudMemory, Memory } from "../../src/model/memory.js";
import type { Plan } from "../../src/model/plan.js";
import type { CloudPolicy, PoolPolicy } from "../../src/model/policy.js";
import type {
  Headroom,
  IdleJob,
  ObservationGap,
  Snapshot,
  Worker,
} from "../../src/model/snapshot.js";
import { spareTarget } from "../../src/policy/adaptive.js";
import { plan } from "../../src/policy/plan.js";
import { cloud, launchActions, launched, NOW, terminateActions } from "./builders.js";

const NAMES = ["alpha", "beta", "gamma", "delta"] as const;
/** A cloud some workers and jobs name but no policy has. */
const FOREIGN = "zeta";
const RUNS = 500;

interface Scenario {
  snapshot: Snapshot;
  policy: PoolPolicy;
  memory: Memory;
  now: number;
}

const cloudArb = fc
  .record({
    priority: fc.integer({ min: 1, max: 3 }),
    share: fc.constantFrom(0.5, 1, 2, 3),
    costPerHour: fc.constantFrom(0, 0.1, 0.5),
    limits: fc.tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 })),
    cpus: fc.constantFrom(1, 2, 4, 8),
    memoryMb: fc.constantFrom(2048, 4096, 8192, 16384),
    gpus: fc.constantFrom(0, 0, 1, 2),
    idleTimeout: fc.oneof(fc.integer({ min: 0, max: 1200 }), fc.constant("auto" as const)),
    bootTimeout: fc.integer({ min: 60, max: 1200 }),
    maxLaunchPerTick: fc.integer({ min: 1, max: 10 }),
  })
  .map(({ limits: [a, b], cpus, memoryMb, gpus, ...rest }) => ({
    ...rest,
    minWorkers: Math.min(a, b),
    maxWorkers: Math.max(a, b),
    worker: { cpus, memoryMb, gpus },
  }));

const workerArb = fc.record({
  cloud: fc.integer({ min: 0, max: NAMES.length }),
  state: fc.constantFrom("booting", "idle", "busy", "failed", "gone"),
  /** Seen in the pool on an earlier tick (memory's `joined`). */
  joined: fc.boolean(),
  idleSeconds: fc.integer({ min: 0, max: 2000 }),
  age: fc.integer({ min: 0, max: 2000 }),
});

const jobArb = fc.record({
  copies: fc.integer({ min: 1, max: 12 }),
  cpus: fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 4 }) },
    fc.integer({ min: 5, max: 9 }),
  ),
  memoryMb: fc.constantFrom(0, 1000, 2048, 2048, 4096, 9000, 20_000),
  gpus: fc.constantFrom(0, 0, 0, 0, 0, 1, 3),
  waited: fc.integer({ min: 0, max: 400 }),
  clouds: fc.subarray([...NAMES, FOREIGN]),
});

/** `arbitrary` one time in `1 + absent`, undefined otherwise. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, absent = 3): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

const memoryArb = fc.record({
  backoff: sometimes(
    fc.record({
      kind: fc.constantFrom(...ERROR_KINDS),
      left: fc.integer({ min: -100, max: 300 }),
      failures: fc.integer({ min: 1, max: 5 }),
    }),
  ),
  disabled: sometimes(fc.constantFrom("auth", "config"), 8),
  batchLimit: sometimes(fc.integer({ min: 1, max: 8 })),
  scopedLeft: sometimes(fc.integer({ min: -100, max: 300 })),
});

const headroomArb = fc.record(
  {
    instances: fc.integer({ min: 0, max: 10 }),
    cpus: fc.integer({ min: 0, max: 40 }),
    memoryMb: fc.integer({ min: 0, max: 100_000 }),
  },
  { requiredKeys: [] },
);

type RawGap = { source: ObservationGap["source"]; cloud: string };
const gapsArb: fc.Arbitrary<readonly RawGap[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant([]) },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.record({
        source: fc.constantFrom("queue", "machines", "cloud"),
        cloud: fc.constantFrom(...NAMES),
      }),
      { minLength: 1, maxLength: 2 },
    ),
  },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    clouds: fc.array(cloudArb, { minLength: 1, maxLength: 4 }),
    workers: fc.array(workerArb, { maxLength: 14 }),
    jobs: fc.array(jobArb, { maxLength: 8 }),
    memories: fc.array(memoryArb, { minLength: 4, maxLength: 4 }),
    headrooms: fc.array(sometimes(headroomArb, 2), { minLength: 4, maxLength: 4 }),
    gaps: gapsArb,
    persistence: fc.constantFrom(0, 60, 120, "auto" as const),
    now: fc.integer({ min: NOW, max: NOW + 100_000 }),
    /** What the adaptive defaults learned: arrival gaps, the last arrival's age, recent frees. */
    learned: sometimes(
      fc.record({
        gaps: fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 20 }),
        lastAge: fc.integer({ min: 0, max: 5000 }),
        frees: fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 10 }),
        quotaAt: sometimes(fc.integer({ min: 0, max: 8 }), 1),
      }),
      1,
    ),
  })
  .map(({ clouds, workers, jobs, memories, headrooms, gaps, persistence, now, learned }) => {
    const policies: CloudPolicy[] = clouds.map((c, i) =>
      cloud({ ...c, name: NAMES[i] ?? FOREIGN }),
    );
    const memory: Memory = { clouds: {} };
    if (learned !== undefined)
      memory.demand = {
        gaps: learned.gaps,
        lastArrival: now - learned.lastAge,
        frees: learned.frees.map((ago) => now - ago),
        busy: [],
      };
    const views: Record<string, { headroom?: Headroom }> = {};
    NAMES.forEach((name, i) => {
      const m = memories[i];
      if (m !== undefined) {
        const state: CloudMemory = { scoped: {} };
        if (m.backoff !== undefined) {
          const { kind, left, failures } = m.backoff;
          state.backoff = { kind, until: now + left, failures, message: kind };
        }
        if (m.disabled !== undefined)
          state.disabled = { kind: m.disabled, message: "no", since: now - 1 };
        if (m.batchLimit !== undefined) state.batchLimit = m.batchLimit;
        if (m.scopedLeft !== undefined) {
          state.scoped["zone=a"] = {
            kind: "capacity",
            until: now + m.scopedLeft,
            failures: 1,
            message: "c",
          };
        }
        if (learned?.quotaAt !== undefined)
          state.quotaSeen = { instances: learned.quotaAt, at: now - 60 };
        memory.clouds[name] = state;
      }
      const headroom = headrooms[i];
      if (headroom !== undefined) views[name] = { headroom: { ...headroom } };
    });
    const snapshotWorkers: Worker[] = workers.map((w, i) => ({
      cloud: NAMES[w.cloud] ?? FOREIGN,
      instanceId: `i-${i}`,
      name: `w${i}`,
      state: w.state,
      launchedAt: now - w.age,
      ...(w.state === "idle" ? { idleSeconds: w.idleSeconds } : {}),
    }));
    workers.forEach((w, i) => {
      const state = memory.clouds[NAMES[w.cloud] ?? FOREIGN];
      if (w.joined && state !== undefined) state.joined = [...(state.joined ?? []), `i-${i}`];
    });
    const snapshotJobs: IdleJob[] = jobs.flatMap((j, cluster) =>
      Array.from({ length: j.copies }, (_, proc) => ({
        id: `${cluster}.${proc}`,
        idleSince: now - j.waited,
        cpus: j.cpus,
        memoryMb: j.memoryMb,
        gpus: j.gpus,
        clouds: j.clouds,
      })),
    );
    const observationGaps: ObservationGap[] = gaps.map((g) =>
      g.source === "cloud" ? { ...g, message: "down" } : { source: g.source, message: "down" },
    );
    return {
      snapshot: {
        takenAt: now,
        jobs: snapshotJobs,
        workers: snapshotWorkers,
        clouds: views,
        gaps: observationGaps,
      },
      policy: { pool: "prop", persistence, clouds: policies },
      memory,
      now,
    };
  });

// ---- What the invariants count ----

const nonGone = (s: Scenario, name: string) =>
  s.snapshot.workers.filter((w) => w.cloud === name && w.state !== "gone").length;

function terminatedIn(result: Plan, name: string): number {
  return terminateActions(result)
    .filter((a) => a.cloud === name)
    .reduce((sum, a) => sum + a.instanceIds.length, 0);
}

/** Jobs that count as demand and that the cloud selects and can hold. */
function eligibleFitting(s: Scenario, c: CloudPolicy): number {
  if (s.snapshot.gaps.some((g) => g.source === "queue")) return 0;
  return s.snapshot.jobs.filter(
    (j) =>
      // `auto` counts a job at once at the earliest.
      j.idleSince <= s.now - (s.policy.persistence === "auto" ? 0 : s.policy.persistence) &&
      j.clouds.includes(c.name) &&
      Math.max(1, j.cpus) <= c.worker.cpus &&
      j.memoryMb <= c.worker.memoryMb &&
      j.gpus <= c.worker.gpus,
  ).length;
}

function property(title: string, invariant: (s: Scenario, result: Plan) => void): void {
  test(`${title} (${RUNS} runs)`, (t) => {
    fc.assert(
      fc.property(scenarioArb, (s) => invariant(s, plan(s.snapshot, s.policy, s.memory, s.now))),
      { numRuns: RUNS },
    );
    t.pass();
  });
}

function check(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

// ---- Invariants ----

property(
  "a. no cloud is ever planned above maxWorkers, and one already above launches nothing",
  (s, r) => {
    const counts = launched(r);
    for (const c of s.policy.clouds) {
      const present = nonGone(s, c.name);
      const launches = counts[c.name] ?? 0;
      check(
        launches === 0 || present + launches <= c.maxWorkers,
        () => `${c.name}: ${present} present + ${launches} launched > maxWorkers ${c.maxWorkers}`,
      );
    }
  },
);

property(
  "b. only non-busy workers of the same configured cloud are terminated, each once",
  (s, r) => {
    const configured = new Set(s.policy.clouds.map((c) => c.name));
    const seen = new Set<string>();
    for (const action of terminateActions(r)) {
      check(configured.has(action.cloud), () => `terminate in unconfigured cloud ${action.cloud}`);
      for (const id of action.instanceIds) {
        const target = s.snapshot.workers.find(
          (w) => w.instanceId === id && w.cloud === action.cloud,
        );
        check(target !== undefined, () => `${id} is not a worker of ${action.cloud}`);
        check(
          target?.state !== "busy" && target?.state !== "gone",
          () => `${id} is ${target?.state}`,
        );
        check(!seen.has(id), () => `${id} terminated twice`);
        seen.add(id);
      }
    }
  },
);

property("c. no launch into a cloud backing off, disabled or unobserved", (s, r) => {
  for (const action of launchActions(r)) {
    const state = s.memory.clouds[action.cloud];
    check(state?.disabled === undefined, () => `launch into disabled ${action.cloud}`);
    check(
      (state?.backoff?.until ?? s.now) <= s.now,
      () => `launch into ${action.cloud} backing off`,
    );
    check(
      !s.snapshot.gaps.some((g) => g.source === "cloud" && g.cloud === action.cloud),
      () => `launch into unobserved ${action.cloud}`,
    );
  }
});

property(
  "d. never more launched than eligible jobs, the minWorkers shortfall and the warm buffer need",
  (s, r) => {
    const counts = launched(r);
    // idleTimeout auto keeps this many spare workers while jobs keep arriving (pool-wide).
    const spare = spareTarget(s.memory, s.policy, s.now);
    let buffered = 0;
    let anyDemand = false;
    let allAtMin = true;
    for (const c of s.policy.clouds) {
      const fitting = eligibleFitting(s, c);
      const remaining = nonGone(s, c.name) - terminatedIn(r, c.name);
      const shortfall = Math.max(0, c.minWorkers - remaining);
      const launches = counts[c.name] ?? 0;
      const buffer = c.idleTimeout === "auto" ? Math.max(0, launches - fitting - shortfall) : 0;
      buffered += buffer;
      check(
        launches <= fitting + shortfall + buffer && buffer <= spare,
        () =>
          `${c.name}: ${launches} launched > ${fitting} jobs + ${shortfall} below minWorkers + ${buffer} spare of ${spare}`,
      );
      anyDemand ||= fitting > 0;
      allAtMin &&= shortfall === 0;
    }
    check(buffered <= spare, () => `${buffered} spare workers launched, the buffer is ${spare}`);
    if (!anyDemand && allAtMin && spare === 0) {
      check(
        r.actions.every((a) => a.kind !== "launch"),
        () => "launch with no demand and every cloud at min",
      );
    }
  },
);

property("e. nothing is terminated in a cloud whose listing failed this tick", (s, r) => {
  for (const gap of s.snapshot.gaps) {
    if (gap.source !== "cloud") continue;
    check(
      terminateActions(r).every((a) => a.cloud !== gap.cloud),
      () => `terminate in ${gap.cloud} despite its failed listing`,
    );
  }
});

property("e. without the collector's ads no worker is terminated as idle or stuck", (s, r) => {
  if (s.snapshot.gaps.some((gap) => gap.source === "machines")) {
    check(
      terminateActions(r).every((a) => a.cause === "failed"),
      () => "idle or stuck termination without the collector",
    );
  }
});

property("e. a worker that has joined before is never terminated as stuck", (s, r) => {
  const joined = new Set(Object.values(s.memory.clouds).flatMap((cloud) => cloud.joined ?? []));
  for (const action of terminateActions(r)) {
    if (action.cause !== "stuck") continue;
    check(
      action.instanceIds.every((id) => !joined.has(id)),
      () => `${action.instanceIds.join(",")} joined before, terminated as stuck`,
    );
  }
});

property(
  "a plan that launches nothing launches nothing when one cloud's listing fails: its last-seen workers still count",
  (s, r) => {
    if (r.actions.some((a) => a.kind === "launch") || s.snapshot.gaps.length > 0) return;
    for (const hidden of s.policy.clouds) {
      const seen = s.snapshot.workers.filter((w) => w.cloud === hidden.name);
      const state = s.memory.clouds[hidden.name] ?? { scoped: {} };
      const blind = plan(
        {
          ...s.snapshot,
          workers: s.snapshot.workers.filter((w) => w.cloud !== hidden.name),
          gaps: [{ source: "cloud", cloud: hidden.name, message: "RequestLimitExceeded" }],
        },
        s.policy,
        {
          ...s.memory,
          clouds: {
            ...s.memory.clouds,
            [hidden.name]: { ...state, lastSeen: { at: s.now, workers: seen } },
          },
        },
        s.now,
      );
      check(
        blind.actions.every((a) => a.kind !== "launch"),
        () => `${hidden.name} unlisted: launched ${JSON.stringify(launched(blind))}`,
      );
    }
  },
);

property("every action has a positive size and a non-empty reason", (_s, r) => {
  for (const action of r.actions) {
    check(action.reason.trim() !== "", () => `${action.kind} in ${action.cloud} without a reason`);
    const size = action.kind === "launch" ? action.count : action.instanceIds.length;
    check(Number.isInteger(size) && size > 0, () => `${action.kind} of ${size}`);
  }
});

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

property("plan is deterministic and does not mutate its inputs", (s) => {
  const before = structuredClone(s);
  const first = plan(deepFreeze(s.snapshot), deepFreeze(s.policy), deepFreeze(s.memory), s.now);
  const again = plan(structuredClone(before.snapshot), before.policy, before.memory, s.now);
  check(isDeepStrictEqual(first, again), () => "two plans of the same inputs differ");
  check(isDeepStrictEqual(s, before), () => "plan mutated its inputs");
});
