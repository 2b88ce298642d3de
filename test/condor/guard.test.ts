/**
 * A tick around terminations (src/tick/guard.ts through runTick): idle workers are re-checked with
 * HTCondor right before, the claimed ones spared; the terminated ones' ads are withdrawn right
 * after. A CondorPool stub stands in for HTCondor.
 */
import test from "ava";
import type { CondorPool, JobSelector, RecheckedState, WorkerRef } from "../../src/condor/pool.js";
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
  return {
    name: `${id}@vm`,
    machine: "vm",
    instanceId: id,
    cloud: "alpha",
    pool: "test",
    activity: "idle",
    idleSeconds: 600,
  };
}

/**
 * HTCondor as a stub: fixed snapshot answers, scripted re-check (the ids `still` returns are idle,
 * those in `absent` have no ads, the rest busy), every call recorded.
 */
class StubPool implements CondorPool {
  readonly confirmed: WorkerRef[][] = [];
  readonly withdrawn: WorkerRef[][] = [];
  constructor(
    private readonly machineList: StartdMachine[],
    private readonly still: (workers: readonly WorkerRef[]) => Promise<Set<string>>,
    private readonly withdrawal: () => Promise<void> = async () => {},
    private readonly absent: ReadonlySet<string> = new Set(),
  ) {}
  idleJobs(_selectors: readonly JobSelector[]): Promise<IdleJob[]> {
    return Promise.resolve([]);
  }
  machines(): Promise<StartdMachine[]> {
    return Promise.resolve(this.machineList);
  }
  async recheck(workers: readonly WorkerRef[]): Promise<Map<string, RecheckedState>> {
    this.confirmed.push([...workers]);
    const idle = await this.still(workers);
    return new Map(
      workers.map(({ instanceId: id }) => [
        id,
        this.absent.has(id) ? "absent" : idle.has(id) ? "idle" : "busy",
      ]),
    );
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
    throw new Error("condor_status -slots: no answer within 30s");
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
  const warning = records.find((r) => r.msg.startsWith("cannot re-check workers"));
  t.is(warning?.level, WARN);
  t.is(
    warning?.msg,
    "cannot re-check workers before terminating, sparing them this tick: condor_status -slots: no answer within 30s",
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

test("a worker stuck booting is re-checked too: still without ads it is terminated, with ads it is spared", async (t) => {
  // i-1 and i-2 never joined in the snapshot and are past the boot timeout; i-2 joined since.
  const condor = new StubPool([], async () => new Set(["i-2"]), undefined, new Set(["i-1"]));
  const provider = new ScriptedProvider("alpha", {
    list: async () => [instance("i-1"), instance("i-2")],
  });
  const { result, messages } = tick(condor, provider);
  const outcome = await result;
  t.deepEqual(
    outcome.plan.actions.map((a) => (a.kind === "terminate" ? a.cause : a.kind)),
    ["stuck", "stuck"],
  );
  t.deepEqual(terminated(provider), ["i-1"]);
  t.true(messages().includes("spared i-2 on alpha: it is idle in the pool"));
});

test("an idle worker whose ads vanished before the re-check is spared, not read as idle", async (t) => {
  const condor = new StubPool(
    [idleMachine("i-1")],
    async () => new Set(),
    undefined,
    new Set(["i-1"]),
  );
  const provider = new ScriptedProvider("alpha", { list: async () => [instance("i-1")] });
  const { result, messages } = tick(condor, provider);
  await result;
  t.deepEqual(terminated(provider), []);
  t.true(
    messages().includes("spared i-1 on alpha: its ads are gone from the collector when re-checked"),
  );
});

test("ads of a worker whose instance its cloud no longer lists are withdrawn (it died on its own)", async (t) => {
  // i-9 was killed outside the daemon: its idle ads linger, alpha lists only i-1 (busy).
  const busy: StartdMachine = { ...idleMachine("i-1"), activity: "busy" };
  delete busy.idleSeconds;
  const condor = new StubPool([busy, idleMachine("i-9")], async () => new Set());
  const provider = new ScriptedProvider("alpha", { list: async () => [instance("i-1")] });
  const { result, messages } = tick(condor, provider);
  await result;
  t.deepEqual(terminated(provider), []);
  t.deepEqual(condor.withdrawn, [[{ instanceId: "i-9", startd: "i-9@vm" }]]);
  t.true(messages().includes("withdrawing the ads of i-9@vm: alpha no longer has i-9"));
});

test("no ads are withdrawn for a cloud whose listing failed: its instances are unknown, not gone", async (t) => {
  const condor = new StubPool([idleMachine("i-9")], async () => new Set());
  const provider = new ScriptedProvider("alpha", {
    list: async () => {
      throw new ProviderError("throttled", "RequestLimitExceeded");
    },
  });
  await tick(condor, provider).result;
  t.deepEqual(condor.withdrawn, []);
});

test("a dry run withdraws no ads of gone workers", async (t) => {
  const condor = new StubPool([idleMachine("i-9")], async () => new Set());
  const provider = new ScriptedProvider("alpha", { list: async () => [] });
  await tick(condor, provider, true).result;
  t.deepEqual(condor.withdrawn, []);
});

test("a collector that answers no ads after a restart kills nothing: workers that ran jobs a tick ago are missing, not stuck", async (t) => {
  let machines: StartdMachine[] = THREE.map((id) => ({ ...idleMachine(id), activity: "busy" }));
  const condor: CondorPool = {
    idleJobs: async () => [],
    machines: async () => machines,
    recheck: async (workers) => new Map(workers.map((w) => [w.instanceId, "absent"])),
    withdraw: async () => {},
  };
  const provider = new ScriptedProvider("alpha", {
    // Launched long before the boot timeout: without ads and unknown they would be "stuck".
    list: async () => THREE.map((id) => instance(id)),
  });
  const { log, messages } = memoryLog();
  const input = {
    condor,
    providers: new Map([["alpha", provider]]),
    policy: POLICY,
    dryRun: false,
    concurrency: 4,
    random: constant(0.5),
    log,
  };
  const first = await runTick({ ...input, memory: emptyMemory(), now: START });
  t.deepEqual(
    first.plan.workers.map((w) => w.state),
    ["busy", "busy", "busy"],
  );
  machines = []; // the collector restarted: `condor_status` prints nothing
  const second = await runTick({ ...input, memory: first.memory, now: START + 30 });
  t.deepEqual(
    second.plan.workers.map((w) => w.state),
    ["missing", "missing", "missing"],
  );
  t.deepEqual(terminated(provider), []);
  t.true(
    messages().includes(
      "3 workers joined the pool before but show no ads now: kept, and no room for jobs",
    ),
  );
});
