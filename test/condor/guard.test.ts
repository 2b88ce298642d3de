/**
 * A tick around terminations (src/tick/guard.ts through runTick): idle workers are re-checked with
 * HTCondor right before, the claimed ones spared; the terminated ones' ads are withdrawn right
 * after. A CondorPool stub stands in for HTCondor.
 */
import test from "ava";
import type { CondorPool, JobSelector, WorkerRef } from "../../src/condor/pool.js";
import { ProviderError } from "../../src/model/errors.js";
import { emptyMemory } from "../../src/model/memory.js";
import type { PoolPolicy } from "../../src/model/policy.js";
import type { IdleJob, Instance, StartdMachine } from "../../src/model/snapshot.js";
import { runTick } from "../../src/tick/tick.js";
import { constant, policyOf, START } from "../providers/settings.js";
import { memoryLog, ScriptedProvider, WARN } from "../tick/support.js";

const POLICY: PoolPolicy = {
  pool: "test",
  persistence: 60,
  clouds: [policyOf("alpha", { idleTimeout: "5m", minWorkers: 0 })],
};

function instance(id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    cloud: "alpha",
    name: `test-alpha-${id}`,
    status: "running",
    launchedAt: START - 3600,
    ...overrides,
  };
}

/** A machine idle for 10 minutes, advertising its instance id. */
function idleMachine(id: string): StartdMachine {
  return { name: `${id}@vm`, machine: "vm", instanceId: id, activity: "idle", idleSeconds: 600 };
}

/** HTCondor as a stub: fixed snapshot answers, scripted re-check, every call recorded. */
class StubPool implements CondorPool {
  readonly confirmed: WorkerRef[][] = [];
  readonly withdrawn: WorkerRef[][] = [];
  constructor(
    private readonly machineList: StartdMachine[],
    private readonly still: (workers: readonly WorkerRef[]) => Promise<Set<string>>,
    private readonly withdrawal: () => Promise<void> = async () => {},
  ) {}
  idleJobs(_selectors: readonly JobSelector[]): Promise<IdleJob[]> {
    return Promise.resolve([]);
  }
  machines(): Promise<StartdMachine[]> {
    return Promise.resolve(this.machineList);
  }
  confirmIdle(workers: readonly WorkerRef[]): Promise<Set<string>> {
    this.confirmed.push([...workers]);
    return this.still(workers);
  }
  withdraw(workers: readonly WorkerRef[]): Promise<void> {
    this.withdrawn.push([...workers]);
    return this.withdrawal();
  }
}

function tick(condor: CondorPool, provider: ScriptedProvider, dryRun = false) {
  const { log, records, messages } = memoryLog();
  const result = runTick({
    condor,
    providers: new Map([["alpha", provider]]),
    policy: POLICY,
    memory: emptyMemory(),
    now: START,
    dryRun,
    concurrency: 4,
    random: constant(0.5),
    log,
  });
  return { result, records, messages };
}

function terminated(provider: ScriptedProvider): string[] {
  return provider.calls.flatMap((call) => (call.method === "terminate" ? call.ids : [])).sort();
}

const THREE = ["i-1", "i-2", "i-3"];

test("an idle worker that the re-check finds busy is not terminated, and 'spared' is logged", async (t) => {
  const condor = new StubPool(THREE.map(idleMachine), async () => new Set(["i-1", "i-3"]));
  const provider = new ScriptedProvider("alpha", {
    list: async () => THREE.map((id) => instance(id)),
  });
  const { result, messages } = tick(condor, provider);
  await result;
  t.deepEqual(terminated(provider), ["i-1", "i-3"]);
  t.deepEqual(condor.confirmed, [
    [
      { instanceId: "i-1", startd: "i-1@vm" },
      { instanceId: "i-2", startd: "i-2@vm" },
      { instanceId: "i-3", startd: "i-3@vm" },
    ],
  ]);
  t.true(messages().includes("spared i-2 on alpha: no longer idle when re-checked"));
});

test("a re-check that throws spares every idle termination, but not stuck or failed instances", async (t) => {
  const condor = new StubPool(THREE.map(idleMachine), async () => {
    throw new Error("condor_status -startd: no answer within 30s");
  });
  const provider = new ScriptedProvider("alpha", {
    list: async () => [
      ...THREE.map((id) => instance(id)),
      instance("i-4", { status: "failed", fault: { message: "ERROR state" } }),
    ],
  });
  const { result, records } = tick(condor, provider);
  await result;
  t.deepEqual(terminated(provider), ["i-4"]);
  const warning = records.find((r) => r.msg.startsWith("cannot re-check idle workers"));
  t.is(warning?.level, WARN);
  t.is(
    warning?.msg,
    "cannot re-check idle workers before terminating, sparing them this tick: condor_status -startd: no answer within 30s",
  );
});

test("withdraw is called once, with the ids the cloud terminated only", async (t) => {
  const condor = new StubPool(
    THREE.map(idleMachine),
    async (workers) => new Set(workers.map((w) => w.instanceId)),
  );
  const provider = new ScriptedProvider("alpha", {
    list: async () => THREE.map((id) => instance(id)),
    terminate: async () => ({
      terminated: ["i-1", "i-3"],
      error: new ProviderError("transient", "i-2: 503 Service Unavailable"),
    }),
  });
  const { result } = tick(condor, provider);
  await result;
  t.deepEqual(terminated(provider), THREE);
  t.deepEqual(condor.withdrawn, [
    [
      { instanceId: "i-1", startd: "i-1@vm" },
      { instanceId: "i-3", startd: "i-3@vm" },
    ],
  ]);
});

test("spared workers are not withdrawn", async (t) => {
  const condor = new StubPool(THREE.map(idleMachine), async () => new Set(["i-2"]));
  const provider = new ScriptedProvider("alpha", {
    list: async () => THREE.map((id) => instance(id)),
  });
  await tick(condor, provider).result;
  t.deepEqual(condor.withdrawn, [[{ instanceId: "i-2", startd: "i-2@vm" }]]);
});

test("nothing terminated: no withdraw call", async (t) => {
  const condor = new StubPool(THREE.map(idleMachine), async () => new Set());
  const provider = new ScriptedProvider("alpha", {
    list: async () => THREE.map((id) => instance(id)),
  });
  await tick(condor, provider).result;
  t.deepEqual(terminated(provider), []);
  t.deepEqual(condor.withdrawn, []);
});

test("a failed withdraw is logged as a warning and the tick completes", async (t) => {
  const condor = new StubPool(
    [idleMachine("i-1")],
    async () => new Set(["i-1"]),
    async () => {
      throw new Error("condor_advertise INVALIDATE_STARTD_ADS /tmp/x: exit code 1");
    },
  );
  const provider = new ScriptedProvider("alpha", { list: async () => [instance("i-1")] });
  const { result, records } = tick(condor, provider);
  const outcome = await result;
  t.is(outcome.outcomes.length, 1);
  t.deepEqual(terminated(provider), ["i-1"]);
  t.true(
    records.some(
      (r) =>
        r.level === WARN &&
        r.msg.startsWith(
          "could not withdraw the ads of terminated workers (they expire by themselves)",
        ),
    ),
  );
});

test("a dry run neither re-checks nor withdraws nor terminates", async (t) => {
  const condor = new StubPool(THREE.map(idleMachine), async () => new Set(THREE));
  const provider = new ScriptedProvider("alpha", {
    list: async () => THREE.map((id) => instance(id)),
  });
  const { result, messages } = tick(condor, provider, true);
  const outcome = await result;
  t.is(outcome.plan.actions.filter((a) => a.kind === "terminate").length, 3);
  t.deepEqual(condor.confirmed, []);
  t.deepEqual(condor.withdrawn, []);
  t.deepEqual(terminated(provider), []);
  t.true(messages().some((m) => m.startsWith("would terminate i-")));
});
