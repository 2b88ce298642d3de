/**
 * Ticks where one source is silent or wrong (issue: sound under partial observation), through
 * runTick with scripted clouds and a stub pool: a throttled listing must not launch blind, a cloud
 * whose listing is always refused stops only itself and ends disabled.
 */
import test from "ava";
import type Logger from "bunyan";
import type { CondorPool } from "../../src/condor/pool.js";
import { ProviderError } from "../../src/model/errors.js";
import { emptyMemory, type Memory } from "../../src/model/memory.js";
import type { PoolPolicy } from "../../src/model/policy.js";
import type { IdleJob, Instance, StartdMachine } from "../../src/model/snapshot.js";
import type { LaunchRequest } from "../../src/providers/provider.js";
import { runTick } from "../../src/tick/tick.js";
import { constant, policyOf, START } from "../providers/settings.js";
import { memoryLog, ScriptedProvider } from "./support.js";

function job(n: number): IdleJob {
  return {
    id: `1.${n}`,
    idleSince: START - 3600,
    cpus: 4,
    memoryMb: 1000,
    gpus: 0,
    clouds: ["a", "b"],
  };
}

function pool(jobs: IdleJob[], machines: () => StartdMachine[] = () => []): CondorPool {
  return {
    idleJobs: async () => jobs,
    machines: async () => machines(),
    recheck: async (workers) => new Map(workers.map((w) => [w.instanceId, "idle" as const])),
    withdraw: async () => {},
  };
}

/** A cloud that launches what it is asked for and lists what it launched. */
function cloud(name: string, listFails: () => ProviderError | undefined = () => undefined) {
  const instances: Instance[] = [];
  let next = 0;
  return new ScriptedProvider(name, {
    list: async () => {
      const error = listFails();
      if (error !== undefined) throw error;
      return [...instances];
    },
    launch: async (request: LaunchRequest) => {
      const made = Array.from({ length: request.count }, () => {
        next += 1;
        return {
          id: `${name}-${next}`,
          cloud: name,
          name: `test-${name}-${next}`,
          status: "booting" as const,
          launchedAt: START,
        };
      });
      instances.push(...made);
      return { instances: made };
    },
  });
}

const POLICY: PoolPolicy = {
  pool: "test",
  persistence: 0,
  clouds: [
    policyOf("a", { priority: 0, maxWorkers: 10, worker: { cpus: 4, memoryMb: 8000 } }),
    policyOf("b", { priority: 1, maxWorkers: 10, worker: { cpus: 4, memoryMb: 8000 } }),
  ],
};

/** What runTick needs besides the memory and the time: one scripted cloud or several. */
function tickInput(
  condor: CondorPool,
  clouds: readonly ScriptedProvider[],
  log: Logger,
  dryRun = false,
) {
  const names = new Set(clouds.map((c) => c.cloud));
  return {
    condor,
    providers: new Map(clouds.map((c) => [c.cloud, c] as const)),
    policy: { ...POLICY, clouds: POLICY.clouds.filter((c) => names.has(c.name)) },
    dryRun,
    concurrency: 4,
    random: constant(0.5),
    log,
  };
}

function launchedIn(provider: ScriptedProvider): number {
  return provider.calls.reduce((n, c) => n + (c.method === "launch" ? c.request.count : 0), 0);
}

test("one failed listing of a cloud hides none of its booting workers: nothing spills over to the next cloud", async (t) => {
  let throttle = false;
  const a = cloud("a", () =>
    throttle ? new ProviderError("throttled", "RequestLimitExceeded") : undefined,
  );
  const b = cloud("b");
  const { log, messages } = memoryLog();
  const input = tickInput(pool([1, 2, 3, 4, 5].map(job)), [a, b], log);
  const first = await runTick({ ...input, memory: emptyMemory(), now: START });
  t.is(launchedIn(a), 5, "five 4-cpu jobs, five workers in a");
  throttle = true;
  const second = await runTick({ ...input, memory: first.memory, now: START + 30 });
  t.is(launchedIn(a), 5);
  t.is(launchedIn(b), 0, "a's five booting workers still take the five jobs");
  t.true(
    messages().some((m) =>
      m.startsWith(
        "a: not listed this tick (list failed (throttled): RequestLimitExceeded); counting the 5 workers it had 30s ago",
      ),
    ),
    messages().join("\n"),
  );
  t.deepEqual(second.memory.clouds.a?.listing?.failures, 1);
});

test("launches not listed yet (a lagging listing) count as booting: the next tick launches nothing more", async (t) => {
  const lagging = new ScriptedProvider("a", {
    list: async () => [], // the new instances do not show yet
    launch: async (request) => ({
      instances: Array.from({ length: request.count }, (_, i) => ({
        id: `a-${i}`,
        cloud: "a",
        name: `test-a-${i}`,
        status: "booting" as const,
        launchedAt: START,
      })),
    }),
  });
  const { log } = memoryLog();
  const input = tickInput(pool([1, 2, 3].map(job)), [lagging], log);
  let memory: Memory = emptyMemory();
  for (const at of [0, 30, 60]) {
    memory = (await runTick({ ...input, memory, now: START + at })).memory;
  }
  t.is(launchedIn(lagging), 3, "three jobs, three workers, however long the listing lags");
  t.deepEqual(
    memory.clouds.a?.launched?.map((l) => l.id),
    ["a-0", "a-1", "a-2"],
  );
});

test("a cloud whose listing is always refused stops only itself: the other's idle workers go on time; it is disabled after 3 ticks", async (t) => {
  const broken = new ScriptedProvider("a", {
    list: async () => {
      throw new ProviderError(
        "auth",
        "AuthFailure: AWS was not able to validate the provided access credentials",
      );
    },
  });
  const idleWorker: Instance = {
    id: "b-1",
    cloud: "b",
    name: "test-b-1",
    status: "running",
    launchedAt: START - 7200,
  };
  let alive = [idleWorker];
  const healthy = new ScriptedProvider("b", {
    list: async () => alive,
    terminate: async (ids) => {
      alive = alive.filter((i) => !ids.includes(i.id));
      return { terminated: [...ids] };
    },
  });
  const machine: StartdMachine = {
    name: "b-1@host",
    machine: "host",
    instanceId: "b-1",
    cloud: "b",
    pool: "test",
    activity: "idle",
    idleSeconds: 3600,
  };
  const { log, records } = memoryLog();
  const input = tickInput(
    pool([], () => (alive.length > 0 ? [machine] : [])),
    [broken, healthy],
    log,
  );
  let memory: Memory = emptyMemory();
  const results = [];
  for (const at of [0, 30, 60]) {
    const result = await runTick({ ...input, memory, now: START + at });
    results.push(result);
    memory = result.memory;
  }
  t.deepEqual(
    healthy.calls.filter((c) => c.method === "terminate"),
    [{ method: "terminate", ids: ["b-1"] }],
    "b's idle worker terminated at the first tick, a's failure notwithstanding",
  );
  t.is(results[1]?.memory.clouds.a?.disabled, undefined, "two refusals: not yet");
  t.is(memory.clouds.a?.disabled?.kind, "auth");
  t.regex(memory.clouds.a?.disabled?.message ?? "", /^listing refused 3 ticks in a row: /);
  t.true(
    records.some(
      (r) =>
        r.level === 50 &&
        String(r.msg).startsWith("a: DISABLED until the config is reloaded (auth)"),
    ),
  );
  t.deepEqual(memory.clouds.a?.listing?.failingSince, START);
});

test("a spot reclaim is logged once, when first seen, and backs the scope off", async (t) => {
  const reclaimed: Instance = {
    id: "i-spot",
    cloud: "a",
    name: "test-a-spot",
    status: "gone",
    launchedAt: START - 600,
    fault: {
      message: "Server.SpotInstanceTermination: Spot instance termination",
      kind: "capacity",
      scope: "instanceType=m6i.xlarge",
    },
  };
  const a = new ScriptedProvider("a", { list: async () => [reclaimed] });
  const { log, records } = memoryLog();
  const input = tickInput(pool([]), [a], log);
  const first = await runTick({ ...input, memory: emptyMemory(), now: START });
  await runTick({ ...input, memory: first.memory, now: START + 30 });
  const said = records.filter((r) => String(r.msg).includes("taken back by the cloud"));
  t.deepEqual(
    said.map((r) => [r.level, r.msg]),
    [
      [
        40,
        "a: i-spot taken back by the cloud (capacity): Server.SpotInstanceTermination: Spot instance termination",
      ],
    ],
  );
  t.truthy(first.memory.clouds.a?.scoped["instanceType=m6i.xlarge"]);
});

test("ads of many workers vanishing at once is a collector gap: not even a never-joined worker is killed as stuck until they are back", async (t) => {
  const instances: Instance[] = ["w-1", "w-2", "w-3", "w-4"].map((id) => ({
    id,
    cloud: "a",
    name: `test-a-${id}`,
    status: "running",
    launchedAt: START - 7200,
  }));
  const a = new ScriptedProvider("a", { list: async () => instances });
  const busy = (id: string): StartdMachine => ({
    name: `${id}@host`,
    machine: "host",
    instanceId: id,
    cloud: "a",
    pool: "test",
    activity: "busy",
  });
  // w-4 never joined: without the restart it would be stuck (launched 2 h ago).
  let machines = ["w-1", "w-2", "w-3"].map(busy);
  const { log, messages } = memoryLog();
  const input = tickInput(
    pool([], () => machines),
    [a],
    log,
    true,
  );
  const stuckKills = (result: Awaited<ReturnType<typeof runTick>>) =>
    result.plan.actions.flatMap((x) => (x.kind === "terminate" ? x.instanceIds : []));
  const first = await runTick({ ...input, memory: emptyMemory(), now: START });
  t.deepEqual(stuckKills(first), ["w-4"], "a normal tick: the never-joined one is stuck");
  machines = []; // the collector restarted
  const second = await runTick({ ...input, memory: first.memory, now: START + 30 });
  t.deepEqual(stuckKills(second), []);
  t.deepEqual(second.memory.collectorSuspect, { since: START + 30, vanished: 3 });
  t.true(
    messages().some((m) =>
      m.startsWith("the collector lost the ads of 3 workers at once 0s ago (a restart?)"),
    ),
  );
  const third = await runTick({ ...input, memory: second.memory, now: START + 60 });
  t.deepEqual(stuckKills(third), [], "still suspect while they are missing");
  machines = ["w-1", "w-2", "w-3"].map(busy); // back
  const fourth = await runTick({ ...input, memory: third.memory, now: START + 90 });
  t.is(fourth.memory.collectorSuspect, undefined);
  t.deepEqual(stuckKills(fourth), ["w-4"]);
});

test("launch intents are written down before the call, carry the token to the cloud, and are settled by its answer", async (t) => {
  const a = cloud("a");
  const recorded: Memory[] = [];
  const { log } = memoryLog();
  const result = await runTick({
    ...tickInput(pool([1, 2].map(job)), [a], log),
    memory: emptyMemory(),
    now: START,
    newToken: () => "feedc0de",
    recordIntents: async (memory) => {
      t.is(launchedIn(a), 0, "written down before any launch call");
      recorded.push(memory);
    },
  });
  t.deepEqual(recorded[0]?.clouds.a?.intents, [{ token: "feedc0de", count: 2, at: START }]);
  const call = a.calls.find((c) => c.method === "launch");
  t.is(call?.method === "launch" ? call.request.token : undefined, "feedc0de");
  t.is(result.memory.clouds.a?.intents, undefined, "answered: settled");
});

test("launch intents that cannot be written down stop the tick's launches, and say so", async (t) => {
  const a = cloud("a");
  const { log, records } = memoryLog();
  await runTick({
    ...tickInput(pool([1, 2].map(job)), [a], log),
    memory: emptyMemory(),
    now: START,
    recordIntents: async () => {
      throw new Error("ENOSPC: no space left on device");
    },
  });
  t.is(launchedIn(a), 0);
  t.true(
    records.some(
      (r) =>
        r.level === 50 &&
        r.msg ===
          "launch intents cannot be written down, so no launch this tick (a crash could repeat it): ENOSPC: no space left on device",
    ),
  );
});

test("after a crash mid-launch the restarted daemon counts the unanswered intent as booting, and settles it by token once listed", async (t) => {
  // The crashed daemon had written an intent of 3 and sent RunInstances; the listing lags.
  let listed: Instance[] = [];
  const a = new ScriptedProvider("a", { list: async () => listed });
  const { log } = memoryLog();
  const input = tickInput(pool([1, 2, 3].map(job)), [a], log);
  const restarted: Memory = {
    clouds: { a: { scoped: {}, intents: [{ token: "c0ffee", count: 3, at: START - 20 }] } },
  };
  const first = await runTick({ ...input, memory: restarted, now: START });
  t.is(launchedIn(a), 0, "the three jobs wait for the three the crashed launch made");
  t.deepEqual(first.memory.clouds.a?.intents, [{ token: "c0ffee", count: 3, at: START - 20 }]);
  listed = [0, 1, 2].map((i) => ({
    id: `i-${i}`,
    cloud: "a",
    name: `test-a-${i}`,
    status: "booting",
    launchedAt: START - 20,
    launchToken: "c0ffee.0",
  }));
  const second = await runTick({ ...input, memory: first.memory, now: START + 30 });
  t.is(second.memory.clouds.a?.intents, undefined, "listed with its token: settled");
  t.is(launchedIn(a), 0, "and still nothing launched twice");
});
