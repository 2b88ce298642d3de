/**
 * Workers as condor_status shows them: real slot ads of HTCondor 25.0.13 grouped per machine,
 * idle only when every slot is, idle time on the worker's clock (for partitionable slots since
 * their last dynamic slot went), or else from when this daemon first saw it idle.
 */
import test from "ava";
import { type ClassAd, parseClassAds } from "../../src/condor/classads.js";
import {
  groupMachines,
  STARTD_ATTRIBUTES,
  sinfulHost,
  startdName,
} from "../../src/condor/startds.js";
import { ManualClock } from "../../src/sim/clock.js";
import { fakePool, fixture, NOW, removeScenarios, scenario, withoutLatch } from "./fake-condor.js";

test.after.always(removeScenarios);

function ads(file: string): ClassAd[] {
  return parseClassAds(fixture(file), `condor_status (${file})`);
}

/** The ads with `change` applied to the one named `name` (a derivation inside the test). */
function editSlot(
  list: readonly ClassAd[],
  name: string,
  change: (ad: ClassAd) => ClassAd,
): ClassAd[] {
  return list.map((ad) => (ad.Name === name ? change(ad) : ad));
}

function without(ad: ClassAd, attribute: string): ClassAd {
  return Object.fromEntries(Object.entries(ad).filter(([key]) => key !== attribute));
}

function group(list: readonly ClassAd[], now = NOW) {
  return groupMachines(list, now, new Map()).machines;
}

function states(list: readonly ClassAd[]): Array<[string, string, number | undefined]> {
  return group(list).map((m) => [m.instanceId ?? m.name, m.activity, m.idleSeconds]);
}

test("real busy partitionable slots: slots grouped per startd (slotN_M@name), both machines busy", (t) => {
  t.deepEqual(group(ads("02_condor_status_busy_pslots.json")), [
    { name: "worker1@vm", machine: "vm", activity: "busy", address: "127.0.0.1" },
    { name: "worker2@vm", machine: "vm", activity: "busy", address: "127.0.0.1" },
  ]);
});

test("a partitionable slot with dynamic slots is busy even when the dynamic slot ads are not there", (t) => {
  const pslots = ads("02_condor_status_busy_pslots.json").filter(
    (ad) => ad.PartitionableSlot === true,
  );
  t.is(pslots.length, 3);
  t.deepEqual(states(pslots), [
    ["worker1@vm", "busy", undefined],
    ["worker2@vm", "busy", undefined],
  ]);
});

test("slots are grouped by AutoscalerInstanceId, else by the startd name, with cloud and pool", (t) => {
  t.deepEqual(group(ads("05_condor_status_idle_static_and_pslot_autoscaler.json")), [
    {
      name: "worker1@vm",
      machine: "vm",
      activity: "idle",
      address: "127.0.0.1",
      instanceId: "i-worker1",
      cloud: "alpha",
      pool: "test",
      idleSeconds: 71,
    },
    {
      name: "worker2@vm",
      machine: "vm",
      activity: "idle",
      address: "127.0.0.1",
      cloud: "beta",
      pool: "test",
      idleSeconds: 35,
    },
  ]);
});

test("two startds advertising the same instance id are one machine (the id wins over the name)", (t) => {
  const list = ads("04_condor_status_busy_static_and_pslot.json").map((ad) => ({
    ...ad,
    AutoscalerInstanceId: "i-same",
  }));
  t.deepEqual(states(list), [["i-same", "busy", undefined]]);
});

test("static slots all Unclaimed/Idle: idle for MyCurrentTime − EnteredCurrentActivity on the worker's clock", (t) => {
  const real = ads("05_condor_status_idle_static_and_pslot.json");
  // slot1@worker1: 1795348066 − 1795347995; the head node's clock (NOW) plays no part.
  t.deepEqual(states(real)[0], ["worker1@vm", "idle", 71]);
  t.deepEqual(groupMachines(real, NOW + 100_000, new Map()).machines[0]?.idleSeconds, 71);
});

test("static slots idle for different times: the machine is idle for the shortest", (t) => {
  const list = editSlot(
    ads("05_condor_status_idle_static_and_pslot.json"),
    "slot2@worker1@vm",
    (ad) => ({
      ...ad,
      EnteredCurrentActivity: 1795348056,
    }),
  );
  t.deepEqual(states(list)[0], ["worker1@vm", "idle", 10]);
});

test("a static slot without MyCurrentTime cannot tell: idle time counts from first seen", (t) => {
  const list = editSlot(
    ads("05_condor_status_idle_static_and_pslot.json"),
    "slot1@worker1@vm",
    (ad) => without(ad, "MyCurrentTime"),
  );
  const seen = new Map([["name:worker1@vm", NOW - 30]]);
  t.is(groupMachines(list, NOW, seen).machines[0]?.idleSeconds, 30);
});

test("real busy static slots: the machine is busy", (t) => {
  t.deepEqual(states(ads("04_condor_status_busy_static_and_pslot_autoscaler.json")), [
    ["i-worker1", "busy", undefined],
    ["worker2@vm", "busy", undefined],
  ]);
});

test("one busy slot makes the whole machine busy", (t) => {
  const list = editSlot(
    ads("05_condor_status_idle_static_and_pslot.json"),
    "slot2@worker1@vm",
    (ad) => ({
      ...ad,
      State: "Claimed",
      Activity: "Busy",
    }),
  );
  t.deepEqual(states(list)[0], ["worker1@vm", "busy", undefined]);
});

test("a claimed but idle slot (Claimed/Idle) is not idle", (t) => {
  const list = editSlot(
    ads("05_condor_status_idle_static_and_pslot.json"),
    "slot1@worker1@vm",
    (ad) => ({
      ...ad,
      State: "Claimed",
    }),
  );
  t.is(states(list)[0]?.[1], "busy");
});

test("a slot ad without State makes its machine busy: unreadable data is never idle", (t) => {
  t.deepEqual(states(ads("05_condor_status_idle_no_state_autoscaler.json")), [
    ["i-worker1", "busy", undefined],
    ["worker2@vm", "idle", 35],
  ]);
});

test("a slot ad whose Activity is not a string, or an expression, makes its machine busy", (t) => {
  for (const Activity of [0, '/Expr(ifThenElse(true, "Idle", "Busy"))/', null]) {
    const list = editSlot(
      ads("05_condor_status_idle_static_and_pslot.json"),
      "slot1@worker1@vm",
      (ad) => ({
        ...ad,
        Activity,
      }),
    );
    t.is(states(list)[0]?.[1], "busy", String(Activity));
  }
});

test("a partitionable slot whose NumDynamicSlots is missing or not a number makes its machine busy", (t) => {
  const idleAds = ads("05_condor_status_idle_static_and_pslot.json");
  for (const change of [
    (ad: ClassAd) => ({ ...ad, NumDynamicSlots: "0" }),
    (ad: ClassAd) => ({ ...ad, NumDynamicSlots: "/Expr(size(ChildState))/" }),
    (ad: ClassAd) => without(ad, "NumDynamicSlots"),
  ]) {
    t.is(group(editSlot(idleAds, "slot1@worker2@vm", change))[1]?.activity, "busy");
  }
  // Static slots carry no NumDynamicSlots at all (see the real ads): that is no reason for doubt.
  t.false("NumDynamicSlots" in (idleAds[0] ?? {}));
  t.is(group(idleAds)[0]?.activity, "idle");
});

test("StartD daemon ads (MyType StartD) are not slots and are ignored", (t) => {
  const daemons = ads("02_condor_status_startd_daemon_ads.json");
  t.is(daemons.length, 2);
  t.deepEqual(group(daemons), []);
  t.deepEqual(
    group([...daemons, ...ads("02_condor_status_busy_pslots.json")]),
    group(ads("02_condor_status_busy_pslots.json")),
  );
});

test("slot names give the startd's name", (t) => {
  t.is(startdName("slot1@worker1@vm"), "worker1@vm");
  t.is(startdName("slot1_2@worker2@vm"), "worker2@vm");
  t.is(startdName("slot12@node.example.org"), "node.example.org");
  t.is(startdName("worker1@vm"), "worker1@vm");
  t.is(startdName("node.example.org"), "node.example.org");
});

test("the address is the host of the StartdIpAddr sinful string", (t) => {
  t.is(sinfulHost("<127.0.0.1:39461?addrs=127.0.0.1-39461&alias=vm>"), "127.0.0.1");
  t.is(sinfulHost("<10.0.3.17:9618?addrs=10.0.3.17-9618&noUDP&sock=startd_1_2>"), "10.0.3.17");
  t.is(sinfulHost("<[2001:db8::5]:9618?addrs=[2001:db8::5]-9618>"), "2001:db8::5");
  t.is(sinfulHost("<vm:9618>"), "vm");
  t.is(sinfulHost("10.0.0.1"), undefined);
});

test("condor_status is asked once for the pool's workers, with the projection and -pool", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("02_condor_status_busy_pslots_autoscaler.json"),
  });
  const machines = await fakePool(fakes, { collector: "head.example.org" }).pool.machines();
  t.is(machines.length, 2);
  t.deepEqual(await fakes.calls(), [
    {
      tool: "condor_status",
      argv: [
        "-pool",
        "head.example.org",
        "-slots",
        "-json",
        "-attributes",
        STARTD_ATTRIBUTES.join(","),
        "-constraint",
        'AutoscalerPool == "test"',
      ],
    },
  ]);
});

test("workers are read from slot ads: a query of StartD daemon ads (-startd, HTCondor 25) would see none", async (t) => {
  // The fake answers per ad type as HTCondor 25 does: -slots gets slot ads, -startd daemon ads.
  const fakes = await scenario({
    condor_status: fixture("02_condor_status_busy_pslots_autoscaler.json"),
    "condor_status.startd": fixture("02_condor_status_startd_daemon_ads.json"),
  });
  const machines = await fakePool(fakes).pool.machines();
  t.deepEqual(
    machines.map((machine) => [machine.name, machine.activity]),
    [
      ["worker1@vm", "busy"],
      ["worker2@vm", "busy"],
    ],
  );
  const [call] = await fakes.calls();
  t.true(call?.argv.includes("-slots"));
  t.false(call?.argv.includes("-startd"));
});

test("a configured workers constraint is passed to condor_status as it is", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("05_condor_status_idle_static_and_pslot.json"),
  });
  const workers = 'WorkerNode =!= undefined && regexp("^worker", WorkerNode)';
  await fakePool(fakes, { workers }).pool.machines();
  const [call] = await fakes.calls();
  t.is(call?.argv.at(-1), workers);
  t.is(call?.argv.at(-2), "-constraint");
});

test("an empty pool (condor_status prints nothing) has no machines", async (t) => {
  const fakes = await scenario({ condor_status: fixture("01_condor_status_startd_empty.json") });
  t.deepEqual(await fakePool(fakes).pool.machines(), []);
});

test("a partitionable slot is idle since its last dynamic slot went (NumDynamicSlotsTime, on the worker's clock), whoever asks", async (t) => {
  const real = ads("05_condor_status_idle_static_and_pslot.json");
  // slot1@worker2: MyCurrentTime 1795348068 − NumDynamicSlotsTime 1795348033; its
  // EnteredCurrentActivity (225 s ago) is the startd's start: it does not move with jobs.
  t.deepEqual(states(real)[1], ["worker2@vm", "idle", 35]);
  // A new daemon, `plan`, or the head node's clock an hour on: the same 35 s.
  t.is(groupMachines(real, NOW + 3600, new Map()).machines[1]?.idleSeconds, 35);
  const fakes = await scenario({
    condor_status: fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  });
  t.deepEqual(
    (await fakePool(fakes).pool.machines()).map((m) => [m.name, m.idleSeconds]),
    [
      ["worker1@vm", 71],
      ["worker2@vm", 35],
    ],
  );
});

test("a partitionable slot without NumDynamicSlotsTime: idle time grows from first seen, and a new pool object (restart) starts at 0", async (t) => {
  const idle = withoutLatch(fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"));
  const fakes = await scenario({ condor_status: idle });
  const clock = new ManualClock(NOW);
  const { pool } = fakePool(fakes, {}, clock);
  const idleOf = async (p: typeof pool) =>
    (await p.machines()).map((m) => [m.instanceId ?? m.name, m.idleSeconds]);

  // The pslot's EnteredCurrentActivity says 225 s (1795348068 − 1795347843), but it does not move
  // when its last job leaves: never trusted.
  t.deepEqual(await idleOf(pool), [
    ["i-worker1", 71],
    ["worker2@vm", 0],
  ]);
  clock.advance(120);
  t.deepEqual(await idleOf(pool), [
    ["i-worker1", 71],
    ["worker2@vm", 120],
  ]);
  // A restart: a new pool object has seen nothing, so the worker looks idle for less, never more.
  const restarted = fakePool(fakes, {}, clock).pool;
  t.deepEqual(await idleOf(restarted), [
    ["i-worker1", 71],
    ["worker2@vm", 0],
  ]);
  clock.advance(30);
  t.deepEqual(await idleOf(pool), [
    ["i-worker1", 71],
    ["worker2@vm", 150],
  ]);
});

test("a machine that was busy in between starts its first-seen idle time again", async (t) => {
  const idle = withoutLatch(fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"));
  const fakes = await scenario({
    "condor_status.1": idle,
    "condor_status.2": fixture("04_condor_status_busy_static_and_pslot_autoscaler.json"),
    "condor_status.3": idle,
  });
  const clock = new ManualClock(NOW);
  const { pool } = fakePool(fakes, {}, clock);
  const worker2 = async () => (await pool.machines()).find((m) => m.name === "worker2@vm");
  t.is((await worker2())?.idleSeconds, 0);
  clock.advance(60);
  t.is((await worker2())?.activity, "busy");
  clock.advance(60);
  t.is((await worker2())?.idleSeconds, 0);
});

test("a failed condor_status keeps what was first seen: the next answer continues from it", async (t) => {
  const idle = withoutLatch(fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"));
  const fakes = await scenario({
    "condor_status.1": idle,
    "condor_status.2": { err: "Error: communication error\n", exit: 1 },
    "condor_status.3": idle,
  });
  const clock = new ManualClock(NOW);
  const { pool } = fakePool(fakes, {}, clock);
  await pool.machines();
  clock.advance(60);
  await t.throwsAsync(pool.machines());
  clock.advance(60);
  t.is((await pool.machines()).find((m) => m.name === "worker2@vm")?.idleSeconds, 120);
});

test("slot ads with no instance id, Name or Machine are ignored and logged", async (t) => {
  const list = ads("05_condor_status_idle_static_and_pslot.json").map((ad) =>
    ad.Name === "slot1@worker2@vm" ? without(without(ad, "Name"), "Machine") : ad,
  );
  const fakes = await scenario({ condor_status: JSON.stringify(list) });
  const { pool, records } = fakePool(fakes);
  t.deepEqual(
    (await pool.machines()).map((m) => m.name),
    ["worker1@vm"],
  );
  t.regex(records[0]?.msg ?? "", /1 slot ads with no Name, Machine or instance id ignored/);
});
