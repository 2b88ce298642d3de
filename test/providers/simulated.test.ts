/** The simulated cloud: boot delays, names, quota, headroom, injected failures, termination. */
import test from "ava";
import { DEFAULT_SIM_RETRY_AFTER } from "../../src/config/defaults.js";
import { ERROR_KINDS, type ErrorKind, ProviderError } from "../../src/model/errors.js";
import type { WorkerShape } from "../../src/model/policy.js";
import { SimulatedCloud } from "../../src/providers/simulated.js";
import { type Random, seededRandom } from "../../src/random.js";
import { ManualClock } from "../../src/sim/clock.js";
import { constant, START, simulatedSettings } from "./settings.js";

const SHAPE: WorkerShape = { cpus: 4, memoryMb: 8000, gpus: 0 };

interface Setup {
  provider?: Record<string, unknown>;
  random?: Random;
  shape?: WorkerShape;
  pool?: string;
  cloud?: string;
}

function setup(options: Setup = {}) {
  const clock = new ManualClock(START);
  const cloud = new SimulatedCloud({
    pool: options.pool ?? "test",
    cloud: options.cloud ?? "alpha",
    shape: options.shape ?? SHAPE,
    settings: simulatedSettings(options.provider),
    clock,
    random: options.random ?? constant(0.5),
  });
  return { clock, cloud };
}

async function statuses(cloud: SimulatedCloud): Promise<string[]> {
  return (await cloud.list()).map((instance) => instance.status);
}

// ---- Booting ----

test("a launched instance is booting until its boot delay has passed, then running", async (t) => {
  const { clock, cloud } = setup({ provider: { bootDelay: 120, bootSpread: 30 } });
  const result = await cloud.launch({ count: 1, avoid: [] });
  t.is(result.error, undefined);
  t.is(result.instances.length, 1);
  t.is(result.instances[0]?.status, "booting");
  t.is(result.instances[0]?.launchedAt, START);

  clock.advance(119);
  t.deepEqual(await statuses(cloud), ["booting"]);
  clock.advance(1);
  t.deepEqual(await statuses(cloud), ["running"]);
});

test("the boot time is bootDelay minus the spread at the lowest random draw", async (t) => {
  const { clock, cloud } = setup({
    provider: { bootDelay: 120, bootSpread: 30 },
    random: constant(0),
  });
  await cloud.launch({ count: 1, avoid: [] });
  clock.advance(89);
  t.deepEqual(await statuses(cloud), ["booting"]);
  clock.advance(1);
  t.deepEqual(await statuses(cloud), ["running"]);
});

test("the boot time approaches bootDelay plus the spread at the highest random draw", async (t) => {
  const { clock, cloud } = setup({
    provider: { bootDelay: 120, bootSpread: 30 },
    random: constant(0.999_999),
  });
  await cloud.launch({ count: 1, avoid: [] });
  clock.advance(149.9);
  t.deepEqual(await statuses(cloud), ["booting"]);
  clock.advance(0.1);
  t.deepEqual(await statuses(cloud), ["running"]);
});

test("every boot time lies within bootDelay ± bootSpread and the startd joins joinDelay later", async (t) => {
  const { cloud } = setup({
    provider: { bootDelay: "2m", bootSpread: "30s", joinDelay: "20s" },
    random: seededRandom(7),
  });
  await cloud.launch({ count: 200, avoid: [] });
  const bootTimes = cloud.fleet().map((instance) => instance.runningAt - instance.launchedAt);
  t.is(bootTimes.length, 200);
  for (const instance of cloud.fleet()) {
    const boot = instance.runningAt - instance.launchedAt;
    t.true(boot >= 90 && boot <= 150, `boot time ${boot}`);
    t.is(instance.joinAt - instance.runningAt, 20);
  }
  // The spread is used, not just its middle.
  t.true(Math.min(...bootTimes) < 100);
  t.true(Math.max(...bootTimes) > 140);
});

test("a spread larger than the delay never gives a negative boot time", async (t) => {
  const { clock, cloud } = setup({
    provider: { bootDelay: 10, bootSpread: 60 },
    random: constant(0),
  });
  await cloud.launch({ count: 1, avoid: [] });
  t.is(cloud.fleet()[0]?.runningAt, START);
  t.deepEqual(await statuses(cloud), ["running"]);
  clock.advance(1);
  t.deepEqual(await statuses(cloud), ["running"]);
});

test("instances launched at different times keep their own boot clocks", async (t) => {
  const { clock, cloud } = setup({ provider: { bootDelay: 100, bootSpread: 0 } });
  await cloud.launch({ count: 1, avoid: [] });
  clock.advance(60);
  await cloud.launch({ count: 1, avoid: [] });
  clock.advance(40);
  t.deepEqual(await statuses(cloud), ["running", "booting"]);
  clock.advance(60);
  t.deepEqual(await statuses(cloud), ["running", "running"]);
});

// ---- Names ----

test("instance names are <pool>-<cloud>-<hex> and the host name is the name", async (t) => {
  const { cloud } = setup({ pool: "cms", cloud: "openstack-a" });
  const { instances } = await cloud.launch({ count: 3, avoid: [] });
  for (const instance of instances) {
    t.regex(instance.name, /^cms-openstack-a-[0-9a-f]+$/);
    t.is(instance.hostname, instance.name);
    t.is(instance.cloud, "openstack-a");
  }
  t.deepEqual(
    (await cloud.list()).map((instance) => instance.name),
    instances.map((instance) => instance.name),
  );
});

test("names, ids and addresses stay unique over hundreds of launches and terminations", async (t) => {
  const { cloud } = setup();
  const seen = { ids: new Set<string>(), names: new Set<string>(), addresses: new Set<string>() };
  for (let round = 0; round < 30; round += 1) {
    const { instances } = await cloud.launch({ count: 20, avoid: [] });
    for (const instance of instances) {
      t.false(seen.ids.has(instance.id), instance.id);
      t.false(seen.names.has(instance.name), instance.name);
      t.false(seen.addresses.has(instance.address ?? ""), instance.address);
      seen.ids.add(instance.id);
      seen.names.add(instance.name);
      seen.addresses.add(instance.address ?? "");
    }
    // Terminate half, so that reuse of freed numbers would show.
    await cloud.terminate(instances.slice(0, 10).map((instance) => instance.id));
  }
  t.is(seen.names.size, 600);
});

test("list() reports what launch() returned, with the address and image", async (t) => {
  const { cloud } = setup();
  const { instances } = await cloud.launch({ count: 2, avoid: [] });
  const listed = await cloud.list();
  t.deepEqual(
    listed.map((instance) => [instance.id, instance.address, instance.launchedAt]),
    instances.map((instance) => [instance.id, instance.address, instance.launchedAt]),
  );
  for (const instance of listed) {
    t.regex(instance.address ?? "", /^10\.\d+\.\d+\.\d+$/);
    t.is(typeof instance.image, "string");
  }
});

// ---- Quota ----

const quotaCases: Array<{ title: string; quota: Record<string, number>; fits: number }> = [
  { title: "instances", quota: { instances: 3 }, fits: 3 },
  { title: "cpus", quota: { cpus: 10 }, fits: 2 }, // 4-cpu workers: 2 fit in 10
  { title: "memoryMb", quota: { memoryMb: 20_000 }, fits: 2 }, // 8000 MB workers: 2 fit
  { title: "the tightest of several limits", quota: { instances: 5, cpus: 12 }, fits: 3 },
];

for (const c of quotaCases) {
  test(`a quota on ${c.title}: asking for more than the room creates what fits and answers quota`, async (t) => {
    const { cloud } = setup({ provider: { quota: c.quota } });
    const result = await cloud.launch({ count: 5, avoid: [] });
    t.is(result.instances.length, c.fits);
    t.true(result.error instanceof ProviderError);
    t.is(result.error?.kind, "quota");
    t.is((await cloud.list()).length, c.fits);
  });
}

test("a launch within the quota succeeds with no error", async (t) => {
  const { cloud } = setup({ provider: { quota: { instances: 3 } } });
  const result = await cloud.launch({ count: 3, avoid: [] });
  t.is(result.instances.length, 3);
  t.is(result.error, undefined);
});

test("a full quota answers quota and creates nothing", async (t) => {
  const { cloud } = setup({ provider: { quota: { instances: 2 } } });
  await cloud.launch({ count: 2, avoid: [] });
  const result = await cloud.launch({ count: 1, avoid: [] });
  t.deepEqual(result.instances, []);
  t.is(result.error?.kind, "quota");
  t.is((await cloud.list()).length, 2);
});

test("terminating instances frees quota for new launches", async (t) => {
  const { cloud } = setup({ provider: { quota: { cpus: 8 } } });
  const first = await cloud.launch({ count: 2, avoid: [] });
  await cloud.terminate([first.instances[0]?.id ?? ""]);
  const second = await cloud.launch({ count: 2, avoid: [] });
  t.is(second.instances.length, 1);
  t.is(second.error?.kind, "quota");
});

test("with no quota any number of instances can be launched", async (t) => {
  const { cloud } = setup();
  const result = await cloud.launch({ count: 500, avoid: [] });
  t.is(result.instances.length, 500);
  t.is(result.error, undefined);
});

// ---- Headroom ----

test("headroom() reports the quota minus what is used when the cloud reports headroom", async (t) => {
  const { cloud } = setup({
    provider: { quota: { instances: 5, cpus: 40, memoryMb: 64_000 }, reportsHeadroom: true },
  });
  t.deepEqual(await cloud.headroom(), { instances: 5, cpus: 40, memoryMb: 64_000 });
  await cloud.launch({ count: 2, avoid: [] });
  t.deepEqual(await cloud.headroom(), { instances: 3, cpus: 32, memoryMb: 48_000 });
});

test("headroom() reports only the limits the quota has", async (t) => {
  const { cloud } = setup({ provider: { quota: { cpus: 16 } } });
  await cloud.launch({ count: 1, avoid: [] });
  t.deepEqual(await cloud.headroom(), { cpus: 12 });
});

test("headroom() shrinks by what a partial launch created", async (t) => {
  const { cloud } = setup({ provider: { quota: { cpus: 10 } } });
  await cloud.launch({ count: 5, avoid: [] });
  t.deepEqual(await cloud.headroom(), { cpus: 2 });
});

test("headroom() is empty when the cloud does not report it, though the quota binds", async (t) => {
  const { cloud } = setup({ provider: { quota: { instances: 2 }, reportsHeadroom: false } });
  t.deepEqual(await cloud.headroom(), {});
  const result = await cloud.launch({ count: 3, avoid: [] });
  t.is(result.instances.length, 2);
  t.is(result.error?.kind, "quota");
});

test("headroom() is empty when there is no quota", async (t) => {
  const { cloud } = setup();
  t.deepEqual(await cloud.headroom(), {});
});

// ---- Injected failures ----

/** Tries `operation` at `elapsed` seconds from the start; the error kind it answered, if any. */
async function attempt(
  operation: "launch" | "terminate" | "list",
  kind: ErrorKind,
  elapsed: number,
): Promise<{ error?: ErrorKind; effect: boolean }> {
  const { clock, cloud } = setup({
    provider: { failures: [{ kind, operation, from: 60, until: 120 }] },
  });
  // One instance made before the window opens, for terminate and list to act on.
  const { instances } = await cloud.launch({ count: 1, avoid: [] });
  const id = instances[0]?.id ?? "";
  clock.advance(elapsed);
  switch (operation) {
    case "launch": {
      const result = await cloud.launch({ count: 1, avoid: [] });
      if (result.error === undefined) return { effect: result.instances.length === 1 };
      return { error: result.error.kind, effect: result.instances.length > 0 };
    }
    case "terminate": {
      const result = await cloud.terminate([id]);
      const effect = cloud.fleet().length === 0;
      if (result.error === undefined) return { effect };
      return { error: result.error.kind, effect: effect || result.terminated.length > 0 };
    }
    case "list":
      try {
        return { effect: (await cloud.list()).length === 1 };
      } catch (error) {
        if (!(error instanceof ProviderError)) throw error;
        return { error: error.kind, effect: false };
      }
  }
}

for (const operation of ["launch", "terminate", "list"] as const) {
  for (const kind of ERROR_KINDS) {
    test(`an injected ${kind} failure of ${operation} strikes inside [from, until) and only there`, async (t) => {
      t.deepEqual(await attempt(operation, kind, 59), { effect: true }, "before the window");
      t.deepEqual(await attempt(operation, kind, 60), { error: kind, effect: false }, "at from");
      t.deepEqual(await attempt(operation, kind, 119), { error: kind, effect: false }, "inside");
      t.deepEqual(await attempt(operation, kind, 120), { effect: true }, "at until");
    });
  }
}

test("list() throws its injected failure as a ProviderError", async (t) => {
  const { cloud } = setup({ provider: { failures: [{ kind: "auth", operation: "list" }] } });
  const error = await t.throwsAsync(cloud.list(), { instanceOf: ProviderError });
  t.is(error?.kind, "auth");
});

test("launch() and terminate() return their injected failure instead of throwing", async (t) => {
  const { cloud } = setup({
    provider: {
      failures: [
        { kind: "capacity", operation: "launch" },
        { kind: "transient", operation: "terminate" },
      ],
    },
  });
  const launched = await cloud.launch({ count: 2, avoid: [] });
  t.deepEqual(launched.instances, []);
  t.true(launched.error instanceof ProviderError);
  t.is(launched.error?.kind, "capacity");
  const terminated = await cloud.terminate(["sim-alpha-000001"]);
  t.deepEqual(terminated.terminated, []);
  t.is(terminated.error?.kind, "transient");
});

test("a failure with no until stays open for the rest of the run", async (t) => {
  const { clock, cloud } = setup({ provider: { failures: [{ kind: "capacity", from: "5m" }] } });
  t.is((await cloud.launch({ count: 1, avoid: [] })).error, undefined);
  clock.advance(300);
  t.is((await cloud.launch({ count: 1, avoid: [] })).error?.kind, "capacity");
  clock.advance(86_400 * 30);
  t.is((await cloud.launch({ count: 1, avoid: [] })).error?.kind, "capacity");
});

test("failure windows count from when the cloud was made, not from the epoch", async (t) => {
  const clock = new ManualClock(START + 1000);
  const cloud = new SimulatedCloud({
    pool: "test",
    cloud: "alpha",
    shape: SHAPE,
    settings: simulatedSettings({ failures: [{ kind: "capacity", from: 0, until: 60 }] }),
    clock,
    random: constant(0.5),
  });
  t.is((await cloud.launch({ count: 1, avoid: [] })).error?.kind, "capacity");
  clock.advance(60);
  t.is((await cloud.launch({ count: 1, avoid: [] })).error, undefined);
});

test("a failure of one operation leaves the others alone", async (t) => {
  const { cloud } = setup({ provider: { failures: [{ kind: "transient", operation: "list" }] } });
  const launched = await cloud.launch({ count: 1, avoid: [] });
  t.is(launched.error, undefined);
  const terminated = await cloud.terminate(launched.instances.map((instance) => instance.id));
  t.is(terminated.error, undefined);
  await t.throwsAsync(cloud.list());
});

test("a failure of probability 0 never strikes", async (t) => {
  const { cloud } = setup({
    provider: {
      failures: [
        { kind: "capacity", operation: "launch", probability: 0 },
        { kind: "transient", operation: "list", probability: 0 },
        { kind: "transient", operation: "terminate", probability: 0 },
      ],
    },
    random: seededRandom(3),
  });
  for (let i = 0; i < 200; i += 1) {
    const launched = await cloud.launch({ count: 1, avoid: [] });
    t.is(launched.error, undefined);
    await cloud.list();
    t.is((await cloud.terminate(launched.instances.map((x) => x.id))).error, undefined);
  }
});

test("a failure of probability 1 always strikes", async (t) => {
  const { cloud } = setup({
    provider: { failures: [{ kind: "capacity", probability: 1 }] },
    random: seededRandom(3),
  });
  for (let i = 0; i < 200; i += 1) {
    t.is((await cloud.launch({ count: 1, avoid: [] })).error?.kind, "capacity");
  }
});

test("a failure of probability 0.5 strikes some calls and not others", async (t) => {
  const { cloud } = setup({
    provider: { failures: [{ kind: "capacity", probability: 0.5 }] },
    random: seededRandom(11),
  });
  let struck = 0;
  for (let i = 0; i < 400; i += 1) {
    if ((await cloud.launch({ count: 1, avoid: [] })).error !== undefined) struck += 1;
  }
  t.true(struck > 120 && struck < 280, `${struck} of 400 struck`);
});

test("a scoped failure is skipped when its scope is avoided and carries the scope otherwise", async (t) => {
  const { cloud } = setup({ provider: { failures: [{ kind: "capacity", scope: "zone=a" }] } });
  const avoided = await cloud.launch({ count: 1, avoid: ["zone=a"] });
  t.is(avoided.error, undefined);
  t.is(avoided.instances.length, 1);

  const other = await cloud.launch({ count: 1, avoid: ["zone=b"] });
  t.is(other.error?.kind, "capacity");
  t.is(other.error?.scope, "zone=a");
  t.deepEqual(other.instances, []);

  const none = await cloud.launch({ count: 1, avoid: [] });
  t.is(none.error?.scope, "zone=a");
});

test("an unscoped failure strikes even when the launch avoids scopes", async (t) => {
  const { cloud } = setup({ provider: { failures: [{ kind: "capacity" }] } });
  const result = await cloud.launch({ count: 1, avoid: ["zone=a"] });
  t.is(result.error?.kind, "capacity");
  t.is(result.error?.scope, undefined);
});

test("a throttled failure carries the retryAfter it was given", async (t) => {
  const { cloud } = setup({ provider: { failures: [{ kind: "throttled", retryAfter: "45s" }] } });
  const result = await cloud.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "throttled");
  t.is(result.error?.retryAfterSeconds, 45);
});

test("a throttled failure with no retryAfter carries the default Retry-After", async (t) => {
  const { cloud } = setup({
    provider: { failures: [{ kind: "throttled", operation: "list" }] },
  });
  const error = await t.throwsAsync(cloud.list(), { instanceOf: ProviderError });
  t.is(error?.retryAfterSeconds, DEFAULT_SIM_RETRY_AFTER);
});

test("failures other than throttled carry no retry-after", async (t) => {
  const { cloud } = setup({ provider: { failures: [{ kind: "quota", retryAfter: 45 }] } });
  const result = await cloud.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "quota");
  t.is(result.error?.retryAfterSeconds, undefined);
});

test("the first open failure in the list is the one that strikes", async (t) => {
  const { clock, cloud } = setup({
    provider: {
      failures: [
        { kind: "capacity", from: 0, until: 60 },
        { kind: "throttled", from: 0 },
      ],
    },
  });
  t.is((await cloud.launch({ count: 1, avoid: [] })).error?.kind, "capacity");
  clock.advance(60);
  t.is((await cloud.launch({ count: 1, avoid: [] })).error?.kind, "throttled");
});

// ---- Terminate ----

test("terminate() removes the instances from list() and from the fleet", async (t) => {
  const { cloud } = setup();
  const { instances } = await cloud.launch({ count: 3, avoid: [] });
  const [first, second, third] = instances.map((instance) => instance.id);
  const result = await cloud.terminate([first ?? "", third ?? ""]);
  t.deepEqual(result, { terminated: [first, third] });
  t.deepEqual(
    (await cloud.list()).map((instance) => instance.id),
    [second],
  );
  t.deepEqual(
    cloud.fleet().map((instance) => instance.id),
    [second],
  );
});

test("terminating an unknown id counts it as terminated (already gone)", async (t) => {
  const { cloud } = setup();
  const { instances } = await cloud.launch({ count: 1, avoid: [] });
  const id = instances[0]?.id ?? "";
  const result = await cloud.terminate(["sim-alpha-ffffff", id]);
  t.deepEqual(result.terminated, ["sim-alpha-ffffff", id]);
  t.is(result.error, undefined);
  // Terminating it again is harmless too.
  t.deepEqual((await cloud.terminate([id])).terminated, [id]);
  t.deepEqual(await cloud.list(), []);
});

test("terminate() of nothing terminates nothing", async (t) => {
  const { cloud } = setup();
  await cloud.launch({ count: 1, avoid: [] });
  t.deepEqual(await cloud.terminate([]), { terminated: [] });
  t.is((await cloud.list()).length, 1);
});

test("a failed terminate() leaves the instances running", async (t) => {
  const { cloud } = setup({ provider: { failures: [{ kind: "auth", operation: "terminate" }] } });
  const { instances } = await cloud.launch({ count: 2, avoid: [] });
  const result = await cloud.terminate(instances.map((instance) => instance.id));
  t.is(result.error?.kind, "auth");
  t.is((await cloud.list()).length, 2);
});
