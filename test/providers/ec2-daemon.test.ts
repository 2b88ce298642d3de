/**
 * The daemon, in process, on an EC2 cloud answered by nock (test/fixtures/aws-ec2) and the fake
 * HTCondor tools (test/fakes) on a manual clock: idle jobs launch workers, booting workers launch
 * nothing more, idle workers are re-checked, terminated and withdrawn from the collector. nock
 * only intercepts this process, so the daemon is built with createBackends and ticked by hand, as
 * `run --once` would tick it.
 *
 * The startd ads are the captured 05_condor_status_idle_static_and_pslot_autoscaler.json with the
 * workers made ours (edited here, in `idleWorkers`): worker1 (two static slots, idle 71 s on its
 * own clock) advertises the first launched instance, worker2 (an idle partitionable slot of a
 * startd that publishes no NumDynamicSlotsTime, whose idle time counts from when the daemon first
 * sees it) the second.
 */
import { rm } from "node:fs/promises";
import test, { type ExecutionContext } from "ava";
import nock from "nock";
import { createBackends } from "../../src/backends.js";
import { loadConfig } from "../../src/config/load.js";
import { poolPolicy } from "../../src/config/policies.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { seededRandom } from "../../src/random.js";
import { ManualClock } from "../../src/sim/clock.js";
import {
  fixture as condorFixture,
  NOW,
  removeScenarios,
  type Scenario,
  scenario,
  slotQueries,
  withoutLatch,
} from "../condor/fake-condor.js";
import { configDir } from "../config/config-dir.js";
import { memoryLog } from "../tick/support.js";
import {
  AMI,
  CLOUD,
  Ec2Api,
  filters,
  fixture,
  listParameter,
  POOL,
  REGION,
  runInstancesXml,
  terminateInstancesXml,
  unmatched,
} from "./fake-ec2.js";

const SUBNET = "subnet-0aaaaaaaaaaaaaaaa";
/** The ids RunInstances answers with, and the derived DescribeInstances samples list. */
const FIRST = "i-2ba64342";
const SECOND = "i-2bc64242";

const dirs: string[] = [];

test.before(() => {
  nock.disableNetConnect();
});

test.beforeEach(() => {
  unmatched.length = 0;
});

test.afterEach.always(() => {
  nock.cleanAll();
});

test.after.always(async () => {
  nock.enableNetConnect();
  await removeScenarios();
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The captured idle startd ads, worker1 advertising FIRST and worker2 SECOND of cloud aws. */
function idleWorkers(): string {
  // Without the NumDynamicSlots latch: worker2's idle time counts from when the daemon first sees
  // it, so it grows tick by tick on the manual clock.
  const captured = withoutLatch(
    condorFixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  );
  const edited = captured
    .replaceAll('"AutoscalerCloud": "alpha",', `"AutoscalerCloud": "${CLOUD}",`)
    .replaceAll('"AutoscalerInstanceId": "i-worker1",', `"AutoscalerInstanceId": "${FIRST}",`)
    .replace(
      '"AutoscalerCloud": "beta",\n',
      `"AutoscalerCloud": "${CLOUD}",\n  "AutoscalerInstanceId": "${SECOND}",\n`,
    );
  if (edited.includes('"alpha"') || edited.includes('"beta"') || edited.includes("i-worker1"))
    throw new Error("the captured ads changed: the edits no longer apply");
  return edited;
}

async function ec2Daemon(fakes: Scenario, dryRun: boolean) {
  const dir = await configDir({
    "autoscaler.yaml":
      `pool: ${POOL}\ntickInterval: 30s\ncondor:\n  kind: htcondor\n` +
      `  binDir: ${JSON.stringify(fakes.binDir)}\n  timeout: 10s\n  retries: 0\n`,
    [`clouds.d/${CLOUD}.yaml`]:
      `provider:\n  kind: ec2\n  region: ${REGION}\n  image: ${AMI}\n` +
      `  instanceTypes: [m6i.xlarge, m5.xlarge]\n  subnets: [${SUBNET}]\n` +
      "  securityGroups: [sg-0cccccccccccccccc]\n" +
      "maxWorkers: 10\nworker:\n  cpus: 4\n  memoryMb: 8000\nidleTimeout: 1m\nbootTimeout: 15m\n",
  });
  dirs.push(dir);
  const config = await loadConfig(dir);
  const clock = new ManualClock(NOW);
  const { log, messages } = memoryLog();
  const backends = await createBackends(config, log, { clock });
  const daemon = new Daemon({
    policy: poolPolicy(config),
    tickInterval: config.global.tickInterval,
    sources: backends,
    clock,
    log,
    dryRun,
    random: seededRandom(1),
  });
  return { daemon, clock, messages };
}

/** Our tag filters, as list() must send them. */
const OUR_FILTERS = {
  "tag:condor-autoscaler:pool": [POOL],
  "tag:condor-autoscaler:cloud": [CLOUD],
};

/** Every request expected was made, and no other. */
function allAnswered(t: ExecutionContext, api: Ec2Api, when: string): void {
  t.deepEqual(api.scope.pendingMocks(), [], `${when}: requests expected but not made`);
  t.deepEqual(unmatched, [], `${when}: requests made that nothing expected`);
}

test.serial(
  "idle jobs launch through RunInstances; booting workers launch nothing more; idle workers are re-checked, terminated and withdrawn",
  async (t) => {
    const fakes = await scenario({
      "condor_q.af.1": condorFixture("01_condor_q_idle_jobs.af.txt"),
      "condor_q.af.2": condorFixture("01_condor_q_idle_jobs.af.txt"),
      "condor_q.af": condorFixture("condor_q_global_empty_queue.txt"),
      "condor_status.1": condorFixture("01_condor_status_startd_empty.json"),
      "condor_status.2": condorFixture("01_condor_status_startd_empty.json"),
      condor_status: idleWorkers(),
    });
    const { daemon, clock } = await ec2Daemon(fakes, false);
    const api = new Ec2Api();

    // Tick 1: six idle 1-cpu jobs, no workers: two 4-cpu workers in one RunInstances call.
    api
      .expect("DescribeInstances", {
        xml: fixture("ec2_describe-instances_empty-reservationSet_jclouds.xml"),
      })
      .expect("RunInstances", {
        xml: runInstancesXml([
          { id: FIRST, type: "m6i.xlarge", subnet: SUBNET },
          { id: SECOND, type: "m6i.xlarge", subnet: SUBNET },
        ]),
      });
    const first = await daemon.tick();
    allAnswered(t, api, "tick 1");
    t.deepEqual(filters(api.calls("DescribeInstances")[0] ?? {}), OUR_FILTERS);
    const [run, ...moreRuns] = api.calls("RunInstances");
    t.deepEqual(moreRuns, []);
    t.like(run, {
      ImageId: AMI,
      InstanceType: "m6i.xlarge",
      MinCount: "1",
      MaxCount: "2",
      SubnetId: SUBNET,
      "SecurityGroupId.1": "sg-0cccccccccccccccc",
      "TagSpecification.1.ResourceType": "instance",
      "TagSpecification.2.ResourceType": "volume",
    });
    t.deepEqual(
      first?.outcomes.map((o) => [o.operation, o.requested, o.succeeded, o.error]),
      [["launch", 2, 2, undefined]],
    );

    // Tick 2: still six idle jobs, both instances pending and no startd yet: nothing to do.
    clock.advance(30);
    api.expect("DescribeInstances", {
      xml: fixture("ec2_describe-instances_daemon_pending.xml"),
    });
    const second = await daemon.tick();
    allAnswered(t, api, "tick 2");
    t.is(second?.snapshot.jobs.length, 6);
    t.deepEqual(
      second?.snapshot.workers.map((w) => [w.instanceId, w.state]),
      [
        [FIRST, "booting"],
        [SECOND, "booting"],
      ],
    );
    t.deepEqual(second?.plan.actions, []);
    t.is(api.calls("RunInstances").length, 1, "nothing more launched");

    // Tick 3: queue empty, both running and idle; worker1 idle 71 s > 1 min, worker2 just seen.
    clock.advance(30);
    api
      .expect("DescribeInstances", { xml: fixture("ec2_describe-instances_daemon_running.xml") })
      .expect("TerminateInstances", { xml: terminateInstancesXml([FIRST]) });
    const third = await daemon.tick();
    allAnswered(t, api, "tick 3");
    t.deepEqual(
      third?.snapshot.workers.map((w) => [w.instanceId, w.state, w.idleSeconds]),
      [
        [FIRST, "idle", 71],
        [SECOND, "idle", 0],
      ],
    );
    t.deepEqual(
      api.calls("TerminateInstances").map((f) => listParameter(f, "InstanceId")),
      [[FIRST]],
    );

    // Tick 4, 90 s later: the first is shutting down, worker2 has now been idle past the timeout.
    clock.advance(90);
    api
      .expect("DescribeInstances", {
        xml: fixture("ec2_describe-instances_daemon_first-shutting-down.xml"),
      })
      .expect("TerminateInstances", { xml: terminateInstancesXml([SECOND]) });
    const fourth = await daemon.tick();
    allAnswered(t, api, "tick 4");
    t.deepEqual(
      fourth?.snapshot.workers.map((w) => [w.instanceId, w.state]),
      [
        [FIRST, "gone"],
        [SECOND, "idle"],
      ],
    );
    t.deepEqual(
      api.calls("TerminateInstances").map((f) => listParameter(f, "InstanceId")),
      [[FIRST], [SECOND]],
    );
    t.is(api.calls("RunInstances").length, 1);

    // HTCondor: each idle worker re-checked right before its termination, then withdrawn.
    const status = await slotQueries(fakes);
    t.is(status.length, 6, "one snapshot per tick, one re-check per termination");
    const constraintOf = (n: number) => {
      const argv = status[n]?.argv ?? [];
      return argv[argv.indexOf("-constraint") + 1] ?? "";
    };
    t.true(constraintOf(3).includes(`AutoscalerInstanceId =?= "${FIRST}"`));
    t.false(constraintOf(3).includes(SECOND));
    t.true(constraintOf(5).includes(`AutoscalerInstanceId =?= "${SECOND}"`));
    t.false(constraintOf(5).includes(FIRST));
    // Each withdrawal removes the slot ads, the StartD daemon ad and the master ad. At tick 4 the
    // fake still shows FIRST's ads while EC2 has it shutting down: they are withdrawn once more.
    const advertised = await fakes.callsOf("condor_advertise");
    const withdrawal = ["INVALIDATE_STARTD_ADS", "INVALIDATE_STARTD_ADS", "INVALIDATE_MASTER_ADS"];
    t.deepEqual(
      advertised.map((call) => call.argv[0]),
      [...withdrawal, ...withdrawal, ...withdrawal],
    );
    const targetOf = (n: number) => /TargetType = "(\w+)"/.exec(advertised[n]?.ad ?? "")?.[1];
    t.deepEqual([0, 1, 2].map(targetOf), ["Machine", "StartD", "DaemonMaster"]);
    t.true(advertised.slice(0, 3).every((call) => call.ad?.includes(`"${FIRST}"`)));
    t.true(advertised.slice(3, 6).every((call) => call.ad?.includes(`"${SECOND}"`)));
    t.true(advertised.slice(6).every((call) => call.ad?.includes(`"${FIRST}"`)));
  },
);

test.serial(
  "a dry run lists the EC2 calls it would make, with type, count and tags, and makes none of them",
  async (t) => {
    const fakes = await scenario({
      "condor_q.af.1": condorFixture("01_condor_q_idle_jobs.af.txt"),
      "condor_q.af": condorFixture("condor_q_global_empty_queue.txt"),
      "condor_status.1": condorFixture("01_condor_status_startd_empty.json"),
      condor_status: idleWorkers(),
    });
    const { daemon, clock, messages } = await ec2Daemon(fakes, true);
    // Observation is real; the would-be calls are there to be (not) taken.
    const api = new Ec2Api()
      .expect("DescribeInstances", {
        xml: fixture("ec2_describe-instances_empty-reservationSet_jclouds.xml"),
      })
      .expect("RunInstances", { xml: runInstancesXml([{ id: FIRST }, { id: SECOND }]) })
      .expect("TerminateInstances", { xml: terminateInstancesXml([FIRST]) });

    await daemon.tick();
    const wouldLaunch = messages().filter((m) => m.includes("would call RunInstances"));
    t.is(wouldLaunch.length, 1);
    t.regex(
      wouldLaunch[0] ?? "",
      new RegExp(
        `would call RunInstances ${AMI} InstanceType=m6i\\.xlarge SubnetId=${SUBNET} MinCount=1 MaxCount=2 Tags=condor-autoscaler:pool=${POOL},condor-autoscaler:cloud=${CLOUD},managed-by=condor-autoscaler,Name=${POOL}-${CLOUD} ClientToken=[0-9a-f]{40} \\(on a capacity answer then: instanceType=m5\\.xlarge,subnet=${SUBNET}\\)$`,
      ),
    );

    clock.advance(60);
    api.expect("DescribeInstances", { xml: fixture("ec2_describe-instances_daemon_running.xml") });
    await daemon.tick();
    t.true(messages().includes(`  would call TerminateInstances InstanceIds=${FIRST}`));

    t.deepEqual(
      api.requests.map((f) => f.Action),
      ["DescribeInstances", "DescribeInstances"],
    );
    t.deepEqual(unmatched, []);
    // The RunInstances and TerminateInstances answers are still waiting to be asked for.
    t.false(api.scope.isDone());
    // A dry run neither re-checks nor withdraws anything in HTCondor.
    t.is((await slotQueries(fakes)).length, 2);
    t.deepEqual(await fakes.callsOf("condor_advertise"), []);
  },
);
