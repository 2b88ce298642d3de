/**
 * HTCondorPool around a termination: the targeted re-check right before (confirmIdle) and the
 * withdrawal of the dead worker's ads right after (withdraw, through condor_advertise).
 */
import { existsSync } from "node:fs";
import test from "ava";
import { parseClassAds } from "../../src/condor/classads.js";
import { workerConstraint } from "../../src/condor/htcondor.js";
import type { WorkerRef } from "../../src/condor/pool.js";
import { STARTD_ATTRIBUTES } from "../../src/condor/startds.js";
import { CondorError } from "../../src/model/errors.js";
import { ManualClock } from "../../src/sim/clock.js";
import { argAfter, fakePool, fixture, NOW, removeScenarios, scenario } from "./fake-condor.js";

test.after.always(removeScenarios);

const IDLE = fixture("05_condor_status_idle_static_and_pslot_autoscaler.json");
/** worker1 joined by its advertised id; worker2 (no id in its ads) by its startd name. */
const WORKER1: WorkerRef = { instanceId: "i-worker1", startd: "worker1@vm" };
const WORKER2: WorkerRef = { instanceId: "os-beta-2", startd: "worker2@vm" };

const TARGETED =
  '(AutoscalerInstanceId =?= "i-worker1" || Name =?= "worker1@vm" || substr(Name, -11) =?= "@worker1@vm")' +
  ' || (AutoscalerInstanceId =?= "os-beta-2" || Name =?= "worker2@vm" || substr(Name, -11) =?= "@worker2@vm")';

/** The idle capture with one of worker1's static slots claimed meanwhile. */
function worker1Claimed(): string {
  const ads = parseClassAds(IDLE, "condor_status").map((ad) =>
    ad.Name === "slot2@worker1@vm" ? { ...ad, State: "Claimed", Activity: "Busy" } : ad,
  );
  return JSON.stringify(ads, null, 2);
}

test("the worker constraint names each instance id, and the startd's name where it joined", (t) => {
  t.is(workerConstraint([WORKER1, WORKER2]), TARGETED);
  t.is(workerConstraint([{ instanceId: "i-9" }]), '(AutoscalerInstanceId =?= "i-9")');
});

test("confirmIdle asks one targeted condor_status naming the workers, and keeps those still idle", async (t) => {
  const fakes = await scenario({ condor_status: IDLE });
  const still = await fakePool(fakes, { collector: "head.example.org" }).pool.confirmIdle([
    WORKER1,
    WORKER2,
  ]);
  t.deepEqual([...still].sort(), ["i-worker1", "os-beta-2"]);
  t.deepEqual(await fakes.calls(), [
    {
      tool: "condor_status",
      argv: [
        "-pool",
        "head.example.org",
        "-startd",
        "-json",
        "-attributes",
        STARTD_ATTRIBUTES.join(","),
        "-constraint",
        TARGETED,
      ],
    },
  ]);
});

test("confirmIdle leaves out a worker that got claimed since the snapshot", async (t) => {
  const fakes = await scenario({ condor_status: worker1Claimed() });
  const still = await fakePool(fakes).pool.confirmIdle([WORKER1, WORKER2]);
  t.deepEqual([...still], ["os-beta-2"]);
});

test("confirmIdle leaves out workers whose partitionable slot has dynamic slots again", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("02_condor_status_busy_pslots_autoscaler.json"),
  });
  t.deepEqual([...(await fakePool(fakes).pool.confirmIdle([WORKER1, WORKER2]))], []);
});

test("confirmIdle: a worker with an unreadable slot ad is not confirmed idle", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("05_condor_status_idle_no_state_autoscaler.json"),
  });
  t.deepEqual([...(await fakePool(fakes).pool.confirmIdle([WORKER1, WORKER2]))], ["os-beta-2"]);
});

test("confirmIdle: a worker with no ads left runs nothing and stays confirmed", async (t) => {
  const fakes = await scenario({ condor_status: fixture("01_condor_status_startd_empty.json") });
  t.deepEqual([...(await fakePool(fakes).pool.confirmIdle([WORKER1]))], ["i-worker1"]);
});

test("confirmIdle throws when condor_status fails: HTCondor cannot tell", async (t) => {
  const fakes = await scenario({ condor_status: { err: "Error: communication error\n", exit: 1 } });
  const error = await t.throwsAsync(fakePool(fakes).pool.confirmIdle([WORKER1]), {
    instanceOf: CondorError,
  });
  t.is(error?.failure, "exit");
});

test("confirmIdle with no workers asks nothing", async (t) => {
  const fakes = await scenario();
  t.deepEqual([...(await fakePool(fakes).pool.confirmIdle([]))], []);
  t.deepEqual(await fakes.calls(), []);
});

test("confirmIdle does not disturb the first-seen idle times of machines()", async (t) => {
  const fakes = await scenario({ condor_status: IDLE });
  const clock = new ManualClock(NOW);
  const { pool } = fakePool(fakes, {}, clock);
  await pool.machines();
  clock.advance(100);
  await pool.confirmIdle([WORKER2]);
  clock.advance(20);
  t.is((await pool.machines()).find((m) => m.name === "worker2@vm")?.idleSeconds, 120);
});

test("withdraw invalidates the startd ads, then the master ads, with an ad file naming the ids", async (t) => {
  const fakes = await scenario({ condor_advertise: "Sent 1 of 1 ad to vm\n" });
  await fakePool(fakes, { collector: "head.example.org:9618" }).pool.withdraw([
    WORKER1,
    { instanceId: "i-worker7" },
  ]);
  const calls = await fakes.callsOf("condor_advertise");
  t.deepEqual(
    calls.map((call) => call.argv.slice(0, 3)),
    [
      ["-pool", "head.example.org:9618", "INVALIDATE_STARTD_ADS"],
      ["-pool", "head.example.org:9618", "INVALIDATE_MASTER_ADS"],
    ],
  );
  t.true(calls.every((call) => call.argv.length === 4));
  const requirements =
    '(AutoscalerInstanceId =?= "i-worker1" || Name =?= "worker1@vm" || substr(Name, -11) =?= "@worker1@vm")' +
    ' || (AutoscalerInstanceId =?= "i-worker7")';
  t.is(calls[0]?.ad, `MyType = "Query"\nTargetType = "Machine"\nRequirements = ${requirements}\n`);
  t.is(
    calls[1]?.ad,
    `MyType = "Query"\nTargetType = "DaemonMaster"\nRequirements = ${requirements}\n`,
  );
  for (const call of calls) {
    const file = call.argv[3] ?? "";
    t.false(existsSync(file), `${file} is removed afterwards`);
  }
  t.deepEqual(await fakes.callsOf("condor_status"), [], "no query: withdrawing is blind");
});

test("withdraw without a collector passes no -pool", async (t) => {
  const fakes = await scenario();
  await fakePool(fakes).pool.withdraw([{ instanceId: "i-1" }]);
  t.deepEqual(
    (await fakes.calls()).map((call) => call.argv[0]),
    ["INVALIDATE_STARTD_ADS", "INVALIDATE_MASTER_ADS"],
  );
});

test("withdraw fails with a CondorError when condor_advertise fails, and still cleans up", async (t) => {
  const fakes = await scenario({
    condor_advertise: { err: "ERROR: Failed to send ad to collector\n", exit: 1 },
  });
  const error = await t.throwsAsync(fakePool(fakes).pool.withdraw([WORKER1]), {
    instanceOf: CondorError,
  });
  t.regex(error?.message ?? "", /^condor_advertise INVALIDATE_STARTD_ADS \/.*: exit code 1/);
  const [call] = await fakes.calls();
  t.false(existsSync(argAfter(call?.argv ?? [], "INVALIDATE_STARTD_ADS") ?? ""));
});

test("withdraw with no workers calls nothing", async (t) => {
  const fakes = await scenario();
  await fakePool(fakes).pool.withdraw([]);
  t.deepEqual(await fakes.calls(), []);
});
