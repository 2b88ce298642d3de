/**
 * HTCondorPool around a termination: the targeted re-check right before (recheck) and the
 * withdrawal of the dead worker's ads right after (withdraw, through condor_advertise).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { parseClassAds } from "../../src/condor/classads.js";
import { toolPath } from "../../src/condor/exec.js";
import { COLLECTOR_UPTIME, workerConstraint } from "../../src/condor/htcondor.js";
import type { WorkerRef } from "../../src/condor/pool.js";
import { STARTD_ATTRIBUTES } from "../../src/condor/startds.js";
import { CondorError } from "../../src/model/errors.js";
import { ManualClock } from "../../src/sim/clock.js";
import { observe } from "../../src/tick/observe.js";
import { memoryLog } from "../tick/support.js";
import {
  argAfter,
  fakePool,
  fixture,
  NOW,
  removeScenarios,
  scenario,
  withoutLatch,
} from "./fake-condor.js";

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

test("recheck asks one targeted condor_status -slots naming the workers, and finds both idle", async (t) => {
  const fakes = await scenario({ condor_status: IDLE });
  const states = await fakePool(fakes, { collector: "head.example.org" }).pool.recheck([
    WORKER1,
    WORKER2,
  ]);
  t.deepEqual(Object.fromEntries(states), { "i-worker1": "idle", "os-beta-2": "idle" });
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
        TARGETED,
      ],
    },
  ]);
});

test("recheck: a worker that got claimed since the snapshot is busy", async (t) => {
  const fakes = await scenario({ condor_status: worker1Claimed() });
  const states = await fakePool(fakes).pool.recheck([WORKER1, WORKER2]);
  t.deepEqual(Object.fromEntries(states), { "i-worker1": "busy", "os-beta-2": "idle" });
});

test("recheck: workers whose partitionable slot has dynamic slots again are busy", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("02_condor_status_busy_pslots_autoscaler.json"),
  });
  const states = await fakePool(fakes).pool.recheck([WORKER1, WORKER2]);
  t.deepEqual(Object.fromEntries(states), { "i-worker1": "busy", "os-beta-2": "busy" });
});

test("recheck: a worker with an unreadable slot ad is busy, never idle", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("05_condor_status_idle_no_state_autoscaler.json"),
  });
  const states = await fakePool(fakes).pool.recheck([WORKER1, WORKER2]);
  t.deepEqual(Object.fromEntries(states), { "i-worker1": "busy", "os-beta-2": "idle" });
});

test("recheck: a worker with no slot ads is absent, not idle", async (t) => {
  const fakes = await scenario({ condor_status: fixture("01_condor_status_startd_empty.json") });
  const states = await fakePool(fakes).pool.recheck([WORKER1]);
  t.deepEqual(Object.fromEntries(states), { "i-worker1": "absent" });
});

test("recheck: StartD daemon ads (what -startd answers in HTCondor 25) are no slot: the worker is absent", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("02_condor_status_startd_daemon_ads.json"),
  });
  const states = await fakePool(fakes).pool.recheck([
    { instanceId: "i-worker1", startd: "worker1@vm" },
  ]);
  t.deepEqual(Object.fromEntries(states), { "i-worker1": "absent" });
});

test("recheck throws when condor_status fails: HTCondor cannot tell", async (t) => {
  const fakes = await scenario({ condor_status: { err: "Error: communication error\n", exit: 1 } });
  const error = await t.throwsAsync(fakePool(fakes).pool.recheck([WORKER1]), {
    instanceOf: CondorError,
  });
  t.is(error?.failure, "exit");
});

test("recheck with no workers asks nothing", async (t) => {
  const fakes = await scenario();
  t.deepEqual([...(await fakePool(fakes).pool.recheck([]))], []);
  t.deepEqual(await fakes.calls(), []);
});

test("recheck does not disturb the first-seen idle times of machines()", async (t) => {
  const fakes = await scenario({ condor_status: withoutLatch(IDLE) });
  const clock = new ManualClock(NOW);
  const { pool } = fakePool(fakes, {}, clock);
  await pool.machines();
  clock.advance(100);
  await pool.recheck([WORKER2]);
  clock.advance(20);
  t.is((await pool.machines()).find((m) => m.name === "worker2@vm")?.idleSeconds, 120);
});

test("withdraw invalidates the slot ads, the StartD daemon ads, then the master ads, with an ad file naming the ids", async (t) => {
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
      ["-pool", "head.example.org:9618", "INVALIDATE_STARTD_ADS"],
      ["-pool", "head.example.org:9618", "INVALIDATE_MASTER_ADS"],
    ],
  );
  t.true(calls.every((call) => call.argv.length === 4));
  const requirements =
    '(AutoscalerInstanceId =?= "i-worker1" || Name =?= "worker1@vm" || substr(Name, -11) =?= "@worker1@vm")' +
    ' || (AutoscalerInstanceId =?= "i-worker7")';
  t.is(calls[0]?.ad, `MyType = "Query"\nTargetType = "Machine"\nRequirements = ${requirements}\n`);
  t.is(calls[1]?.ad, `MyType = "Query"\nTargetType = "StartD"\nRequirements = ${requirements}\n`);
  t.is(
    calls[2]?.ad,
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
    ["INVALIDATE_STARTD_ADS", "INVALIDATE_STARTD_ADS", "INVALIDATE_MASTER_ADS"],
  );
});

test("condor_advertise is found in the sbin beside binDir, where HTCondor's packages install it", async (t) => {
  const fakes = await scenario();
  const release = await mkdtemp(join(tmpdir(), "condor-autoscaler-release-"));
  t.teardown(() => rm(release, { recursive: true, force: true }));
  await mkdir(join(release, "bin"));
  await mkdir(join(release, "sbin"));
  for (const tool of ["condor_q", "condor_status"])
    await symlink(join(fakes.binDir, tool), join(release, "bin", tool));
  await symlink(join(fakes.binDir, "condor_advertise"), join(release, "sbin", "condor_advertise"));
  const { pool } = fakePool(fakes, { binDir: join(release, "bin") });
  await pool.withdraw([{ instanceId: "i-1" }]);
  t.is((await fakes.callsOf("condor_advertise")).length, 3);
  t.is(
    toolPath("condor_advertise", join(release, "bin")),
    join(release, "sbin", "condor_advertise"),
  );
  t.is(toolPath("condor_q", join(release, "bin")), join(release, "bin", "condor_q"));
  t.is(toolPath("condor_advertise", undefined), "condor_advertise");
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

test("collectorUptime asks the collector's own ad; several collectors: the youngest; no answer or undefined: unknown", async (t) => {
  const fakes = await scenario({ "condor_status.collector": "86412\n42\n" });
  t.is(await fakePool(fakes, { collector: "head.example.org" }).pool.collectorUptime(), 42);
  t.deepEqual((await fakes.calls())[0]?.argv, [
    "-pool",
    "head.example.org",
    "-collector",
    "-af",
    COLLECTOR_UPTIME,
  ]);
  const old = await scenario({ "condor_status.collector": "undefined\n" });
  t.is(await fakePool(old).pool.collectorUptime(), undefined);
  t.is(await fakePool(await scenario()).pool.collectorUptime(), undefined);
});

test("a collector started less than 10 minutes ago is a gap for idle and stuck terminations", async (t) => {
  const fakes = await scenario({
    "condor_q.af": fixture("condor_q_global_empty_queue.txt"),
    condor_status: IDLE,
    "condor_status.collector": "42\n",
  });
  const { pool } = fakePool(fakes);
  const { log } = memoryLog();
  const snapshot = await observe(
    { condor: pool, providers: new Map() },
    { pool: "test", persistence: 0, clouds: [] },
    NOW,
    log,
  );
  t.deepEqual(snapshot.gaps, [
    {
      source: "machines",
      message: "the collector started 42s ago: not every startd has sent its ads yet (600s)",
    },
  ]);
});
