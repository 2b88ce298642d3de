/** observe(): one snapshot from HTCondor and every cloud, gaps where a source failed. act(): the plan carried out. */
import test from "ava";
import type Logger from "bunyan";
import type { CondorPool } from "../../src/condor/pool.js";
import { ProviderError } from "../../src/model/errors.js";
import { emptyMemory } from "../../src/model/memory.js";
import type { Action, LaunchAction, TerminateAction } from "../../src/model/plan.js";
import type { PoolPolicy } from "../../src/model/policy.js";
import type { IdleJob, Instance, Snapshot } from "../../src/model/snapshot.js";
import { rememberOutcome } from "../../src/policy/backoff.js";
import type { Provider } from "../../src/providers/provider.js";
import { SimulatedCloud } from "../../src/providers/simulated.js";
import { ManualClock } from "../../src/sim/clock.js";
import { act } from "../../src/tick/act.js";
import { observe } from "../../src/tick/observe.js";
import { constant, policyOf, START, simulatedSettings } from "../providers/settings.js";
import { deferred, memoryLog, ScriptedPool, ScriptedProvider, settle, WARN } from "./support.js";

const POLICY: PoolPolicy = {
  pool: "test",
  persistence: 60,
  clouds: [policyOf("alpha", { jobs: 'Arch == "X86_64"' }), policyOf("beta")],
};

function instance(cloud: string, id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    cloud,
    name: `test-${cloud}-${id}`,
    status: "running",
    launchedAt: START - 600,
    ...overrides,
  };
}

function idleJob(id: string): IdleJob {
  return { id, idleSince: START - 300, cpus: 1, memoryMb: 2000, gpus: 0, clouds: ["alpha"] };
}

function providers(...list: Provider[]): Map<string, Provider> {
  return new Map(list.map((provider) => [provider.cloud, provider]));
}

/** One observation of POLICY at START: the pool and these clouds. */
function observeAt(log: Logger, condor: CondorPool, ...clouds: Provider[]): Promise<Snapshot> {
  return observe({ condor, providers: providers(...clouds) }, POLICY, START, log);
}

function launchAction(cloud: string, count: number, reason = "jobs wait"): LaunchAction {
  return { kind: "launch", cloud, count, reason };
}

function terminateAction(cloud: string, ids: string[], reason = "idle too long"): TerminateAction {
  return { kind: "terminate", cloud, instanceIds: ids, cause: "idle", reason };
}

// ---- observe ----

test("a complete observation joins every cloud's instances with the machines and has no gaps", async (t) => {
  const { log } = memoryLog();
  const condor = new ScriptedPool({
    idleJobs: async () => [idleJob("1.0")],
    machines: async () => [{ name: "x", machine: "x", instanceId: "a-1", activity: "busy" }],
  });
  const snapshot = await observe(
    {
      condor,
      providers: providers(
        new ScriptedProvider("alpha", { list: async () => [instance("alpha", "a-1")] }),
        new ScriptedProvider("beta", { list: async () => [instance("beta", "b-1")] }),
      ),
    },
    POLICY,
    START,
    log,
  );
  t.is(snapshot.takenAt, START);
  t.deepEqual(snapshot.gaps, []);
  t.deepEqual(
    snapshot.jobs.map((job) => job.id),
    ["1.0"],
  );
  t.deepEqual(
    snapshot.workers.map((w) => [w.instanceId, w.state]),
    [
      ["a-1", "busy"],
      ["b-1", "booting"],
    ],
  );
});

test("observe asks HTCondor for the jobs of every cloud with that cloud's constraint", async (t) => {
  const { log } = memoryLog();
  const condor = new ScriptedPool();
  await observe(
    {
      condor,
      providers: providers(new ScriptedProvider("alpha"), new ScriptedProvider("beta")),
    },
    POLICY,
    START,
    log,
  );
  t.deepEqual(condor.selectors, [
    [
      { cloud: "alpha", constraint: 'Arch == "X86_64"' },
      { cloud: "beta", constraint: "true" },
    ],
  ]);
});

for (const [title, failure] of [
  ["a ProviderError", new ProviderError("throttled", "Rate exceeded")],
  ["a plain Error", new Error("socket hang up")],
] as const) {
  test(`a cloud whose list() rejects with ${title} leaves a cloud gap naming it, and its workers are absent`, async (t) => {
    const { log } = memoryLog();
    const snapshot = await observeAt(
      log,
      new ScriptedPool({
        machines: async () => [
          { name: "b", machine: "b", instanceId: "b-1", activity: "idle", idleSeconds: 9999 },
        ],
      }),
      new ScriptedProvider("alpha", { list: async () => [instance("alpha", "a-1")] }),
      new ScriptedProvider("beta", { list: () => Promise.reject(failure) }),
    );
    t.is(snapshot.gaps.length, 1);
    t.like(snapshot.gaps[0], { source: "cloud", cloud: "beta" });
    t.true(snapshot.gaps[0]?.message.includes(failure.message));
    t.deepEqual(
      snapshot.workers.map((w) => w.instanceId),
      ["a-1"],
    );
  });
}

test("the gap of a failed list says which kind of error it was", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool(),
    new ScriptedProvider("alpha", {
      list: () => Promise.reject(new ProviderError("auth", "token expired")),
    }),
    new ScriptedProvider("beta", { list: () => Promise.reject(new Error("ECONNRESET")) }),
  );
  const byCloud = new Map(snapshot.gaps.map((gap) => [gap.cloud, gap.message]));
  t.regex(byCloud.get("alpha") ?? "", /auth/);
  t.regex(byCloud.get("beta") ?? "", /transient/);
});

test("a simulated cloud inside an injected list failure leaves a cloud gap", async (t) => {
  const { log } = memoryLog();
  const clock = new ManualClock(START);
  const cloud = new SimulatedCloud({
    pool: "test",
    cloud: "beta",
    shape: { cpus: 4, memoryMb: 8000, gpus: 0 },
    settings: simulatedSettings({ failures: [{ kind: "transient", operation: "list" }] }),
    clock,
    random: constant(0.5),
  });
  await cloud.launch({ count: 1, avoid: [] });
  const snapshot = await observeAt(log, new ScriptedPool(), new ScriptedProvider("alpha"), cloud);
  t.deepEqual(
    snapshot.gaps.map((gap) => [gap.source, gap.cloud]),
    [["cloud", "beta"]],
  );
  t.deepEqual(snapshot.workers, []);
});

test("a cloud with no provider leaves a cloud gap", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(log, new ScriptedPool(), new ScriptedProvider("alpha"));
  t.deepEqual(
    snapshot.gaps.map((gap) => [gap.source, gap.cloud]),
    [["cloud", "beta"]],
  );
});

test("a pool whose idleJobs() rejects leaves a queue gap and no jobs, the workers still seen", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool({
      idleJobs: () => Promise.reject(new Error("condor_q timed out after 20s")),
      machines: async () => [{ name: "x", machine: "x", instanceId: "a-1", activity: "busy" }],
    }),
    new ScriptedProvider("alpha", { list: async () => [instance("alpha", "a-1")] }),
    new ScriptedProvider("beta"),
  );
  t.deepEqual(snapshot.gaps, [{ source: "queue", message: "condor_q timed out after 20s" }]);
  t.deepEqual(snapshot.jobs, []);
  t.deepEqual(
    snapshot.workers.map((w) => w.state),
    ["busy"],
  );
});

test("a pool whose machines() rejects leaves a machines gap and no worker looks idle", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool({
      idleJobs: async () => [idleJob("1.0")],
      machines: () => Promise.reject(new Error("condor_status: connection refused")),
    }),
    new ScriptedProvider("alpha", { list: async () => [instance("alpha", "a-1")] }),
    new ScriptedProvider("beta"),
  );
  t.deepEqual(
    snapshot.gaps.map((gap) => gap.source),
    ["machines"],
  );
  t.is(snapshot.jobs.length, 1);
  t.false(snapshot.workers.some((w) => w.state === "idle"));
});

test("headroom is copied into snapshot.clouds; a cloud without headroom() gets an empty view", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool(),
    new ScriptedProvider("alpha", { headroom: async () => ({ instances: 3, cpus: 12 }) }),
    new ScriptedProvider("beta"),
  );
  t.deepEqual(snapshot.clouds, { alpha: { headroom: { instances: 3, cpus: 12 } }, beta: {} });
});

test("headroom of a simulated cloud reaches the snapshot", async (t) => {
  const { log } = memoryLog();
  const cloud = new SimulatedCloud({
    pool: "test",
    cloud: "alpha",
    shape: { cpus: 4, memoryMb: 8000, gpus: 0 },
    settings: simulatedSettings({ quota: { instances: 5, cpus: 40 } }),
    clock: new ManualClock(START),
    random: constant(0.5),
  });
  await cloud.launch({ count: 2, avoid: [] });
  const snapshot = await observeAt(log, new ScriptedPool(), cloud, new ScriptedProvider("beta"));
  t.deepEqual(snapshot.clouds.alpha, { headroom: { instances: 3, cpus: 32 } });
});

test("a failed headroom() is logged, leaves the headroom unknown and is not a gap", async (t) => {
  const { log, records } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool(),
    new ScriptedProvider("alpha", {
      list: async () => [instance("alpha", "a-1")],
      headroom: () => Promise.reject(new ProviderError("throttled", "slow down")),
    }),
    new ScriptedProvider("beta"),
  );
  t.deepEqual(snapshot.gaps, []);
  t.deepEqual(snapshot.clouds.alpha, {});
  t.is(snapshot.workers.length, 1);
  const warning = records.find((r) => r.level === WARN && r.msg.includes("headroom"));
  t.truthy(warning);
  t.is(warning?.cloud, "alpha");
});

test("headroom is kept even when the cloud's list fails", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool(),
    new ScriptedProvider("alpha", {
      list: () => Promise.reject(new Error("503")),
      headroom: async () => ({ instances: 1 }),
    }),
    new ScriptedProvider("beta"),
  );
  t.is(snapshot.gaps.length, 1);
  t.deepEqual(snapshot.clouds.alpha, { headroom: { instances: 1 } });
});

// A provider method that throws instead of rejecting must not make the cloud's instances vanish
// without a gap: the planner would launch blind into it.
test("a provider whose list() throws synchronously still leaves a cloud gap", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool(),
    new ScriptedProvider("alpha", {
      list: () => {
        throw new Error("credentials file unreadable");
      },
    }),
    new ScriptedProvider("beta"),
  );
  t.deepEqual(
    snapshot.gaps.map((gap) => [gap.source, gap.cloud]),
    [["cloud", "alpha"]],
  );
});

// Likewise on the HTCondor side: a gap, not a failed observation.
test("a pool whose idleJobs() throws synchronously leaves a queue gap", async (t) => {
  const { log } = memoryLog();
  const snapshot = await observeAt(
    log,
    new ScriptedPool({
      idleJobs: () => {
        throw new Error("condor_q not found");
      },
    }),
    new ScriptedProvider("alpha"),
    new ScriptedProvider("beta"),
  );
  t.deepEqual(
    snapshot.gaps.map((gap) => gap.source),
    ["queue"],
  );
});

// ---- act ----

test("a dry run calls no provider method and logs what it would do, with the reason", async (t) => {
  const { log, records } = memoryLog();
  const alpha = new ScriptedProvider("alpha", { headroom: async () => ({}) });
  const beta = new ScriptedProvider("beta");
  const actions: Action[] = [
    launchAction("alpha", 3, "12 idle jobs need 3 new workers"),
    terminateAction("beta", ["b-1", "b-2"], "idle for 10m (idleTimeout 5m)"),
  ];
  const outcomes = await act(
    actions,
    providers(alpha, beta),
    { dryRun: true, concurrency: 4 },
    log,
  );
  t.deepEqual(outcomes, []);
  t.deepEqual(alpha.calls, []);
  t.deepEqual(beta.calls, []);
  t.deepEqual(
    records.map((r) => r.msg),
    [
      "would launch 3 on alpha: 12 idle jobs need 3 new workers",
      "would terminate b-1, b-2 on beta: idle for 10m (idleTimeout 5m)",
    ],
  );
  t.true(records.every((r) => r.dryRun === true));
});

test("a real run logs each action without 'would'", async (t) => {
  const { log, messages } = memoryLog();
  await act(
    [launchAction("alpha", 1, "a job waits"), terminateAction("beta", ["b-1"], "idle")],
    providers(new ScriptedProvider("alpha"), new ScriptedProvider("beta")),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.true(messages().includes("launch 1 on alpha: a job waits"));
  t.true(messages().includes("terminate b-1 on beta: idle"));
  t.false(messages().some((m) => m.startsWith("would")));
});

test("a launch that succeeds reports every instance and logs their ids", async (t) => {
  const { log, messages } = memoryLog();
  const alpha = new ScriptedProvider("alpha", {
    launch: async () => ({ instances: [instance("alpha", "a-1"), instance("alpha", "a-2")] }),
  });
  const outcomes = await act(
    [launchAction("alpha", 2)],
    providers(alpha),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.deepEqual(outcomes, [
    {
      cloud: "alpha",
      operation: "launch",
      requested: 2,
      succeeded: 2,
      instanceIds: ["a-1", "a-2"],
    },
  ]);
  t.true(messages().some((m) => m.includes("a-1") && m.includes("a-2")));
});

test("a launch passes the scopes to avoid to the provider, none when the action has none", async (t) => {
  const { log } = memoryLog();
  const alpha = new ScriptedProvider("alpha");
  await act(
    [{ ...launchAction("alpha", 1), avoid: ["zone=a"] }, launchAction("alpha", 2)],
    providers(alpha),
    { dryRun: false, concurrency: 1 },
    log,
  );
  t.deepEqual(alpha.calls, [
    { method: "launch", request: { count: 1, avoid: ["zone=a"] } },
    { method: "launch", request: { count: 2, avoid: [] } },
  ]);
});

test("a provider that throws a plain Error on launch gives a transient outcome, not an exception", async (t) => {
  const { log, records } = memoryLog();
  const alpha = new ScriptedProvider("alpha", {
    launch: () => Promise.reject(new Error("ECONNRESET")),
  });
  const outcomes = await act(
    [launchAction("alpha", 2)],
    providers(alpha),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.is(outcomes.length, 1);
  t.like(outcomes[0], { cloud: "alpha", operation: "launch", requested: 2, succeeded: 0 });
  t.is(outcomes[0]?.error?.kind, "transient");
  t.regex(outcomes[0]?.error?.message ?? "", /ECONNRESET/);
  t.true(records.some((r) => r.level === WARN && r.kind === "transient"));
});

test("a provider whose launch throws synchronously gives a transient outcome too", async (t) => {
  const { log } = memoryLog();
  const alpha = new ScriptedProvider("alpha", {
    launch: () => {
      throw new TypeError("cannot read properties of undefined");
    },
  });
  const outcomes = await act(
    [launchAction("alpha", 1)],
    providers(alpha),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.is(outcomes[0]?.error?.kind, "transient");
});

test("a provider that throws a plain Error on terminate gives a transient outcome", async (t) => {
  const { log } = memoryLog();
  const alpha = new ScriptedProvider("alpha", {
    terminate: () => Promise.reject(new Error("HTTP 502")),
  });
  const outcomes = await act(
    [terminateAction("alpha", ["a-1"])],
    providers(alpha),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.deepEqual(outcomes, [
    {
      cloud: "alpha",
      operation: "terminate",
      requested: 1,
      succeeded: 0,
      error: { kind: "transient", message: "unclassified error: HTTP 502" },
    },
  ]);
});

test("a classified error keeps its kind, Retry-After and scope in the outcome", async (t) => {
  const { log } = memoryLog();
  const alpha = new ScriptedProvider("alpha", {
    launch: () =>
      Promise.reject(
        new ProviderError("throttled", "RequestLimitExceeded", {
          retryAfterSeconds: 90,
          scope: "zone=a",
        }),
      ),
  });
  const [outcome] = await act(
    [launchAction("alpha", 1)],
    providers(alpha),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.deepEqual(outcome?.error, {
    kind: "throttled",
    message: "RequestLimitExceeded",
    retryAfterSeconds: 90,
    scope: "zone=a",
  });
});

test("a partial launch reports succeeded < requested with the error's kind", async (t) => {
  const { log, records } = memoryLog();
  const cloud = new SimulatedCloud({
    pool: "test",
    cloud: "alpha",
    shape: { cpus: 4, memoryMb: 8000, gpus: 0 },
    settings: simulatedSettings({ quota: { instances: 2 }, reportsHeadroom: false }),
    clock: new ManualClock(START),
    random: constant(0.5),
  });
  const [outcome] = await act(
    [launchAction("alpha", 5)],
    providers(cloud),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.like(outcome, { cloud: "alpha", operation: "launch", requested: 5, succeeded: 2 });
  t.is(outcome?.error?.kind, "quota");
  t.is((await cloud.list()).length, 2);
  const warning = records.find((r) => r.level === WARN);
  t.like(warning, { cloud: "alpha", kind: "quota", requested: 5, launched: 2 });
});

test("terminations of one cloud are batched into one terminate() call", async (t) => {
  const { log } = memoryLog();
  const alpha = new ScriptedProvider("alpha");
  const beta = new ScriptedProvider("beta");
  const outcomes = await act(
    [
      terminateAction("alpha", ["a-1"]),
      terminateAction("beta", ["b-1"]),
      { kind: "terminate", cloud: "alpha", instanceIds: ["a-2"], cause: "stuck", reason: "stuck" },
      {
        kind: "terminate",
        cloud: "alpha",
        instanceIds: ["a-3"],
        cause: "failed",
        reason: "failed",
      },
    ],
    providers(alpha, beta),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.deepEqual(alpha.calls, [{ method: "terminate", ids: ["a-1", "a-2", "a-3"] }]);
  t.deepEqual(beta.calls, [{ method: "terminate", ids: ["b-1"] }]);
  t.deepEqual(
    outcomes.map((o) => [o.cloud, o.operation, o.requested, o.succeeded]),
    [
      ["alpha", "terminate", 3, 3],
      ["beta", "terminate", 1, 1],
    ],
  );
});

test("a terminate that removes only some instances reports how many and why not the rest", async (t) => {
  const { log } = memoryLog();
  const alpha = new ScriptedProvider("alpha", {
    terminate: async (ids) => ({
      terminated: ids.slice(0, 1),
      error: new ProviderError("throttled", "too many requests", { retryAfterSeconds: 10 }),
    }),
  });
  const [outcome] = await act(
    [terminateAction("alpha", ["a-1", "a-2"])],
    providers(alpha),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.like(outcome, { requested: 2, succeeded: 1 });
  t.like(outcome?.error, { kind: "throttled", retryAfterSeconds: 10 });
});

test("an action for a cloud with no provider is skipped without an outcome", async (t) => {
  const { log } = memoryLog();
  const outcomes = await act(
    [launchAction("nowhere", 1), terminateAction("nowhere", ["x"])],
    providers(new ScriptedProvider("alpha")),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.deepEqual(outcomes, []);
});

test("no more provider calls than the concurrency limit are ever in flight", async (t) => {
  const { log } = memoryLog();
  let inFlight = 0;
  let most = 0;
  const waiting: Array<() => void> = [];
  const hold = async () => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    const gate = deferred<void>();
    waiting.push(() => gate.resolve());
    await gate.promise;
    inFlight -= 1;
  };
  const alpha = new ScriptedProvider("alpha", {
    launch: async () => {
      await hold();
      return { instances: [] };
    },
    terminate: async (ids) => {
      await hold();
      return { terminated: [...ids] };
    },
  });
  const beta = new ScriptedProvider("beta", {
    launch: async () => {
      await hold();
      return { instances: [] };
    },
    terminate: async (ids) => {
      await hold();
      return { terminated: [...ids] };
    },
  });
  const actions: Action[] = [
    ...Array.from({ length: 4 }, () => launchAction("alpha", 1)),
    ...Array.from({ length: 3 }, () => launchAction("beta", 1)),
    terminateAction("alpha", ["a-1"]),
    terminateAction("beta", ["b-1"]),
  ];
  const running = act(actions, providers(alpha, beta), { dryRun: false, concurrency: 3 }, log);

  await settle();
  t.is(inFlight, 3, "the limit is used");
  let released = 0;
  while (waiting.length > 0) {
    const release = waiting.shift();
    release?.();
    released += 1;
    await settle();
    t.true(inFlight <= 3, `${inFlight} in flight`);
  }
  const outcomes = await running;
  t.is(released, 9);
  t.is(most, 3);
  t.is(outcomes.length, 9);
  t.is(alpha.calls.length + beta.calls.length, 9);
});

test("a concurrency of one runs the calls one after another", async (t) => {
  const { log } = memoryLog();
  const order: string[] = [];
  const alpha = new ScriptedProvider("alpha", {
    launch: async (request) => {
      order.push(`start ${request.count}`);
      await settle();
      order.push(`end ${request.count}`);
      return { instances: [] };
    },
  });
  await act(
    [launchAction("alpha", 1), launchAction("alpha", 2)],
    providers(alpha),
    { dryRun: false, concurrency: 1 },
    log,
  );
  t.deepEqual(order, ["start 1", "end 1", "start 2", "end 2"]);
});

test("one failing call does not stop the others", async (t) => {
  const { log } = memoryLog();
  const alpha = new ScriptedProvider("alpha", { launch: () => Promise.reject(new Error("boom")) });
  const beta = new ScriptedProvider("beta", {
    launch: async () => ({ instances: [instance("beta", "b-1")] }),
  });
  const outcomes = await act(
    [launchAction("alpha", 1), launchAction("beta", 1), terminateAction("alpha", ["a-9"])],
    providers(alpha, beta),
    { dryRun: false, concurrency: 2 },
    log,
  );
  t.deepEqual(
    outcomes.map((o) => [o.cloud, o.operation, o.succeeded, o.error?.kind]),
    [
      ["alpha", "launch", 0, "transient"],
      ["beta", "launch", 1, undefined],
      ["alpha", "terminate", 1, undefined],
    ],
  );
});

test("a launch the provider skips because every scope backs off already adds no backoff of its own", async (t) => {
  const alpha = new ScriptedProvider("alpha", {
    launch: async () => ({
      instances: [],
      skipped: "every instance type and subnet is backing off",
    }),
  });
  const { log, messages } = memoryLog();
  const outcomes = await act(
    [{ kind: "launch", cloud: "alpha", count: 2, reason: "jobs wait", avoid: ["zone=a"] }],
    providers(alpha),
    { dryRun: false, concurrency: 4 },
    log,
  );
  t.deepEqual(outcomes, [
    { cloud: "alpha", operation: "launch", requested: 2, succeeded: 0, skipped: true },
  ]);
  const policy = policyOf("alpha");
  const before = emptyMemory();
  const outcome = outcomes[0];
  if (outcome === undefined) return t.fail("no outcome");
  t.is(rememberOutcome(before, outcome, policy, START, constant(0.5)), before);
  t.true(
    messages().includes("alpha: no launch made: every instance type and subnet is backing off"),
  );
});
