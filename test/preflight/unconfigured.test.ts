/**
 * Instances of the pool in clouds that are not configured: found through each provider's
 * poolInstances (EC2 at the wire, with the real DescribeInstances sample), named per cloud.
 */
import test from "ava";
import nock from "nock";
import type { AutoscalerConfig } from "../../src/config/schema.js";
import { unconfiguredInstances } from "../../src/preflight/unconfigured.js";
import type { PoolInstance, Provider } from "../../src/providers/provider.js";
import { Ec2Api, ec2Provider, filters, fixture } from "../providers/fake-ec2.js";

/** A config of pool `test` whose only cloud is `names`. */
function configOf(names: readonly string[]): AutoscalerConfig {
  return {
    dir: "/etc/condor-autoscaler",
    global: { pool: "test" },
    clouds: names.map((name) => ({ name })),
  } as unknown as AutoscalerConfig;
}

function holding(cloud: string, answer: () => Promise<PoolInstance[]>): Provider {
  return {
    cloud,
    list: async () => [],
    launch: async () => ({ instances: [] }),
    terminate: async () => ({ terminated: [] }),
    poolInstances: answer,
  };
}

test("instances of clouds that are not configured fail the check, per cloud, once each even when two providers see them", async (t) => {
  const seen: PoolInstance[] = [
    { cloud: "now", id: "1", name: "test-now-1" },
    { cloud: "old", id: "2", name: "test-old-2" },
    { cloud: "old", id: "3", name: "test-old-3" },
  ];
  const providers = new Map<string, Provider>([
    ["now", holding("now", async () => seen)],
    [
      "also",
      holding("also", async () => [...seen, { cloud: "older", id: "4", name: "test-older-4" }]),
    ],
  ]);
  const { instances, check } = await unconfiguredInstances(configOf(["now", "also"]), providers);
  t.deepEqual(
    instances.map((i) => i.name),
    ["test-old-2", "test-old-3", "test-older-4"],
  );
  t.is(check.outcome, "FAIL");
  t.is(check.detail, "cloud old: 2 (test-old-2, test-old-3); cloud older: 1 (test-older-4)");
  t.regex(check.fix ?? "", /restore clouds\.d\/<cloud>\.yaml/);
});

test("a provider that cannot answer is no evidence either way: ok only for those that did, skip when none did", async (t) => {
  const failing = holding("b", () => Promise.reject(new Error("throttled")));
  const partly = await unconfiguredInstances(
    configOf(["a", "b"]),
    new Map([
      ["a", holding("a", async () => [])],
      ["b", failing],
    ]),
  );
  t.is(partly.check.outcome, "ok");
  t.is(partly.check.detail, "none in the clouds that answered");
  const none = await unconfiguredInstances(configOf(["b"]), new Map([["b", failing]]));
  t.is(none.check.outcome, "skip");
});

test.serial(
  "EC2 asks for the pool's live instances of any cloud and reads each one's cloud tag",
  async (t) => {
    nock.disableNetConnect();
    t.teardown(() => {
      nock.cleanAll();
      nock.enableNetConnect();
    });
    const { provider } = ec2Provider();
    const renamed = fixture("ec2_describe-instances_ours_page2.xml").replace(
      "<value>aws</value>",
      "<value>aws-old</value>",
    );
    const api = new Ec2Api().expect("DescribeInstances", { xml: renamed });
    const found = await provider.poolInstances();
    const [sent] = api.calls("DescribeInstances");
    t.deepEqual(filters(sent ?? {}), {
      "tag:condor-autoscaler:pool": ["test"],
      "tag:managed-by": ["condor-autoscaler"],
      "instance-state-name": ["pending", "running", "stopping", "stopped"],
    });
    t.deepEqual(
      found.map((i) => [i.cloud, i.id]),
      [
        ["aws-old", "i-fde9cece"],
        ["aws", "i-78f1b94a"],
      ],
    );
    const { instances } = await unconfiguredInstances(
      configOf(["aws"]),
      new Map([["aws", holding("aws", async () => found)]]),
    );
    t.deepEqual(
      instances.map((i) => i.id),
      ["i-fde9cece"],
    );
  },
);
