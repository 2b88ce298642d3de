/**
 * The EC2 provider against the real EC2 Query API as @aws-sdk/client-ec2 speaks it, answered by
 * nock with the samples of test/fixtures/aws-ec2. Every test asserts that each call made exactly
 * the requests expected (no hidden SDK retries) and nothing else.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { InstanceStateName } from "@aws-sdk/client-ec2";
import test, { type ExecutionContext } from "ava";
import nock from "nock";
import { EC2_IDEMPOTENCY_WINDOW } from "../../src/config/defaults.js";
import { type ErrorKind, ProviderError } from "../../src/model/errors.js";
import { emptyMemory } from "../../src/model/memory.js";
import { rememberFaults } from "../../src/policy/backoff.js";
import { classifyEc2Error } from "../../src/providers/ec2/errors.js";
import { joinWorkers } from "../../src/tick/join.js";
import {
  AMI,
  CLOUD,
  Ec2Api,
  ec2Policy,
  ec2Provider,
  errorXml,
  filters,
  fixture,
  listParameter,
  POOL,
  runInstancesXml,
  socketError,
  tagSpecifications,
  terminateInstancesXml,
  unmatched,
} from "./fake-ec2.js";
import { isolateNock } from "./nock-hooks.js";
import { constant } from "./settings.js";

const SUBNET_A = "subnet-0aaaaaaaaaaaaaaaa";
const SUBNET_B = "subnet-0bbbbbbbbbbbbbbbb";
const OWNER_TAGS = {
  "condor-autoscaler:pool": POOL,
  "condor-autoscaler:cloud": CLOUD,
  "managed-by": "condor-autoscaler",
};

isolateNock(test, () => {
  unmatched.length = 0;
});

/** Every expected request was made, and no other. */
function allAnswered(t: ExecutionContext, api: Ec2Api): void {
  t.deepEqual(api.scope.pendingMocks(), [], "requests expected but not made");
  t.true(api.scope.isDone());
  t.deepEqual(unmatched, [], "requests made that nothing expected");
}

// ---- launch ----

test.serial(
  "launch sends the AMI, type, count, subnet, security groups, key, profile, owner tags on instance and volume, base64 user-data and a ClientToken",
  async (t) => {
    const userData = "#cloud-config\nwrite_files:\n  - path: /etc/cvmfs/default.local\n";
    const { provider } = ec2Provider(
      {
        instanceTypes: ["m6i.xlarge"],
        subnets: [SUBNET_A],
        securityGroups: ["sg-0cccccccccccccccc", "sg-0dddddddddddddddd"],
        keyName: "admin",
        instanceProfile: "condor-worker",
      },
      { userData },
    );
    const ids = ["i-0000000000000001a", "i-0000000000000001b", "i-0000000000000001c"];
    const api = new Ec2Api().expect("RunInstances", {
      xml: runInstancesXml(ids.map((id) => ({ id, type: "m6i.xlarge", subnet: SUBNET_A }))),
    });

    const result = await provider.launch({ count: 3, avoid: [] });

    allAnswered(t, api);
    const [sent] = api.calls("RunInstances");
    if (sent === undefined) return t.fail("no RunInstances request");
    t.is(sent.Version, "2016-11-15");
    t.is(sent.ImageId, AMI);
    t.is(sent.InstanceType, "m6i.xlarge");
    t.is(sent.MinCount, "1");
    t.is(sent.MaxCount, "3");
    t.is(sent.SubnetId, SUBNET_A);
    t.deepEqual(listParameter(sent, "SecurityGroupId"), [
      "sg-0cccccccccccccccc",
      "sg-0dddddddddddddddd",
    ]);
    t.is(sent.KeyName, "admin");
    t.is(sent["IamInstanceProfile.Name"], "condor-worker");
    t.is(Buffer.from(sent.UserData ?? "", "base64").toString("utf8"), userData);
    t.regex(sent.ClientToken ?? "", /^[0-9a-f]{40}$/);
    const specs = tagSpecifications(sent);
    t.deepEqual(Object.keys(specs).sort(), ["instance", "volume"]);
    t.like(specs.instance, OWNER_TAGS);
    t.like(specs.volume, OWNER_TAGS);
    t.false(Object.keys(sent).some((key) => key.startsWith("InstanceMarketOptions")));

    t.is(result.error, undefined);
    t.deepEqual(result.scopeErrors, []);
    t.deepEqual(
      result.instances.map((i) => [i.id, i.cloud, i.status, i.address, i.image]),
      ids.map((id) => [id, CLOUD, "booting", "10.0.0.142", "ami-31814f58"]),
    );
    t.is(result.instances[0]?.launchedAt, Date.parse("2011-12-20T08:29:31.000Z") / 1000);
  },
);

test.serial("launch without user-data sends no UserData", async (t) => {
  const { provider } = ec2Provider();
  const api = new Ec2Api().expect("RunInstances", { xml: runInstancesXml([{ id: "i-1" }]) });
  await provider.launch({ count: 1, avoid: [] });
  allAnswered(t, api);
  t.false("UserData" in (api.calls("RunInstances")[0] ?? {}));
  t.false("SubnetId" in (api.calls("RunInstances")[0] ?? {}), "no subnets: the default one");
});

test.serial(
  "spot launches send one-time market options with the max price; an ARN profile goes as Arn",
  async (t) => {
    const { provider } = ec2Provider({
      spot: { maxPrice: "0.10" },
      instanceProfile: "arn:aws:iam::111122223333:instance-profile/condor-worker",
    });
    const api = new Ec2Api().expect("RunInstances", { xml: runInstancesXml([{ id: "i-1" }]) });
    await provider.launch({ count: 1, avoid: [] });
    allAnswered(t, api);
    t.like(api.calls("RunInstances")[0], {
      "InstanceMarketOptions.MarketType": "spot",
      "InstanceMarketOptions.SpotOptions.SpotInstanceType": "one-time",
      "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": "terminate",
      "InstanceMarketOptions.SpotOptions.MaxPrice": "0.10",
      "IamInstanceProfile.Arn": "arn:aws:iam::111122223333:instance-profile/condor-worker",
    });
  },
);

test.serial("a launch template replaces the AMI", async (t) => {
  const { provider } = ec2Provider({
    image: undefined,
    launchTemplate: { name: "cernvm-worker", version: "3" },
  });
  const api = new Ec2Api().expect("RunInstances", { xml: runInstancesXml([{ id: "i-1" }]) });
  await provider.launch({ count: 1, avoid: [] });
  allAnswered(t, api);
  const [sent] = api.calls("RunInstances");
  t.like(sent, {
    "LaunchTemplate.LaunchTemplateName": "cernvm-worker",
    "LaunchTemplate.Version": "3",
    InstanceType: "m6i.xlarge",
  });
  t.false("ImageId" in (sent ?? {}));
});

test.serial(
  "the ClientToken is the same for the same launch in the same window, and differs with count or window",
  async (t) => {
    const { provider, clock } = ec2Provider();
    const api = new Ec2Api();
    for (let n = 0; n < 4; n += 1)
      api.expect("RunInstances", { xml: runInstancesXml([{ id: `i-${n}` }]) });

    await provider.launch({ count: 2, avoid: [] });
    clock.advance(1);
    await provider.launch({ count: 2, avoid: [] });
    await provider.launch({ count: 3, avoid: [] });
    clock.advance(EC2_IDEMPOTENCY_WINDOW);
    await provider.launch({ count: 2, avoid: [] });

    allAnswered(t, api);
    const [first, retried, bigger, later] = api.calls("RunInstances").map((f) => f.ClientToken);
    t.is(retried, first, "a repeated request (after a crash) must not launch twice");
    t.not(bigger, first);
    t.not(later, first);
  },
);

test.serial(
  "a new launch of the same count after the first one's instances are listed gets a new ClientToken",
  async (t) => {
    // EC2 answers a repeated ClientToken with the instances of the first request and launches
    // nothing: a second wave of jobs within the window would get no workers.
    const { provider, clock } = ec2Provider({ instanceTypes: ["m1.small"] });
    const api = new Ec2Api()
      .expect("DescribeInstances", {
        xml: fixture("ec2_describe-instances_empty-reservationSet_jclouds.xml"),
      })
      .expect("RunInstances", { xml: runInstancesXml([{ id: "i-0ee0356c" }]) })
      .expect("DescribeInstances", {
        xml: fixture("ec2_describe-instances_ours_page2.xml"),
      })
      .expect("RunInstances", { xml: runInstancesXml([{ id: "i-0ee0356d" }]) });

    await provider.list();
    await provider.launch({ count: 1, avoid: [] });
    clock.advance(60);
    await provider.list();
    await provider.launch({ count: 1, avoid: [] });

    allAnswered(t, api);
    const [first, second] = api.calls("RunInstances").map((f) => f.ClientToken);
    t.not(second, first);
  },
);

test.serial(
  "a daemon restarted after a crash repeats the launch with the same ClientToken while EC2 does not list its instances yet",
  async (t) => {
    const before = ec2Provider({ instanceTypes: ["m1.small"] });
    const api = new Ec2Api()
      .expect("DescribeInstances", {
        xml: fixture("ec2_describe-instances_empty-reservationSet_jclouds.xml"),
      })
      .expect("RunInstances", { xml: runInstancesXml([{ id: "i-0ee0356c" }]) })
      .expect("DescribeInstances", {
        xml: fixture("ec2_describe-instances_empty-reservationSet_jclouds.xml"),
      })
      .expect("RunInstances", { xml: runInstancesXml([{ id: "i-0ee0356c" }]) });

    await before.provider.list();
    await before.provider.launch({ count: 1, avoid: [] });
    // The process dies before it learns the outcome; a new one starts 20 s later.
    before.clock.advance(20);
    const after = ec2Provider({ instanceTypes: ["m1.small"] }, { clock: before.clock });
    await after.provider.list();
    await after.provider.launch({ count: 1, avoid: [] });

    allAnswered(t, api);
    const [first, repeated] = api.calls("RunInstances").map((f) => f.ClientToken);
    t.is(repeated, first, "EC2 answers the repeat with the first launch's instance");
  },
);

test.serial(
  "describeLaunch names the call, type, subnet, count, tags and the very ClientToken launch sends; no request",
  async (t) => {
    const { provider } = ec2Provider({
      instanceTypes: ["m6i.xlarge", "m5.xlarge"],
      subnets: [SUBNET_A],
      spot: {},
    });
    const [line, ...more] = provider.describeLaunch({ count: 3, avoid: [] });
    t.deepEqual(unmatched, []);
    t.deepEqual(more, []);
    t.regex(
      line ?? "",
      new RegExp(
        `^RunInstances ${AMI} InstanceType=m6i\\.xlarge SubnetId=${SUBNET_A} MinCount=1 MaxCount=3 spot Tags=condor-autoscaler:pool=${POOL},condor-autoscaler:cloud=${CLOUD},managed-by=condor-autoscaler,Name=${POOL}-${CLOUD} ClientToken=[0-9a-f]{40} \\(on a capacity answer then: instanceType=m5\\.xlarge,subnet=${SUBNET_A}\\)$`,
      ),
    );

    const api = new Ec2Api().expect("RunInstances", {
      xml: runInstancesXml([{ id: "i-1" }, { id: "i-2" }, { id: "i-3" }]),
    });
    await provider.launch({ count: 3, avoid: [] });
    allAnswered(t, api);
    t.true(line?.includes(`ClientToken=${api.calls("RunInstances")[0]?.ClientToken}`));

    t.deepEqual(
      provider.describeLaunch({
        count: 1,
        avoid: ["instanceType=m6i.xlarge", "instanceType=m5.xlarge"],
      }),
      ["no placement left: every instance type/subnet is backing off"],
    );
  },
);

test.serial(
  "describeTerminate names the call and every id, one line per call of at most 1000 ids; no request",
  (t) => {
    const { provider } = ec2Provider();
    t.deepEqual(provider.describeTerminate(["i-1", "i-2"]), [
      "TerminateInstances InstanceIds=i-1,i-2",
    ]);
    const ids = Array.from({ length: 1001 }, (_, n) => `i-${n}`);
    const lines = provider.describeTerminate(ids);
    t.is(lines.length, 2);
    t.is(lines[1], "TerminateInstances InstanceIds=i-1000");
    t.deepEqual(unmatched, []);
  },
);

// ---- partial launches, capacity and placements ----

test.serial(
  "a partial launch asks the next placement for the rest, with each short placement a scoped capacity error",
  async (t) => {
    const { provider } = ec2Provider({
      instanceTypes: ["m6i.xlarge", "m5.xlarge"],
      subnets: [SUBNET_A, SUBNET_B],
    });
    const api = new Ec2Api()
      .expect("RunInstances", {
        xml: runInstancesXml([
          { id: "i-a1", type: "m6i.xlarge", subnet: SUBNET_A },
          { id: "i-a2", type: "m6i.xlarge", subnet: SUBNET_A },
        ]),
      })
      .expect("RunInstances", {
        xml: runInstancesXml([{ id: "i-b1", type: "m6i.xlarge", subnet: SUBNET_B }]),
      })
      .expect("RunInstances", {
        status: 500,
        xml: fixture("ec2_error_500_InsufficientInstanceCapacity_assembled.xml"),
      })
      .expect("RunInstances", {
        xml: runInstancesXml([
          { id: "i-d1", type: "m5.xlarge", subnet: SUBNET_B },
          { id: "i-d2", type: "m5.xlarge", subnet: SUBNET_B },
        ]),
      });

    const result = await provider.launch({ count: 5, avoid: [] });

    allAnswered(t, api);
    t.deepEqual(
      api.calls("RunInstances").map((f) => [f.InstanceType, f.SubnetId, f.MaxCount]),
      [
        ["m6i.xlarge", SUBNET_A, "5"],
        ["m6i.xlarge", SUBNET_B, "3"],
        ["m5.xlarge", SUBNET_A, "2"],
        ["m5.xlarge", SUBNET_B, "2"],
      ],
    );
    t.deepEqual(
      result.instances.map((i) => i.id),
      ["i-a1", "i-a2", "i-b1", "i-d1", "i-d2"],
    );
    t.is(result.error, undefined, "everything asked for was launched");
    t.deepEqual(
      result.scopeErrors?.map((e) => [e.kind, e.scope]),
      [
        ["capacity", `instanceType=m6i.xlarge,subnet=${SUBNET_A}`],
        ["capacity", `instanceType=m6i.xlarge,subnet=${SUBNET_B}`],
        ["capacity", `instanceType=m5.xlarge,subnet=${SUBNET_A}`],
      ],
    );
    t.true(result.scopeErrors?.[2]?.message.startsWith("InsufficientInstanceCapacity: "));
  },
);

test.serial(
  "when every placement is short, the launch returns what it got and a capacity error",
  async (t) => {
    const { provider } = ec2Provider({ instanceTypes: ["m6i.xlarge", "m5.xlarge"] });
    const api = new Ec2Api()
      .expect("RunInstances", { xml: runInstancesXml([{ id: "i-1", type: "m6i.xlarge" }]) })
      .expect("RunInstances", {
        status: 500,
        xml: fixture("ec2_error_500_InsufficientInstanceCapacity_assembled.xml"),
      });

    const result = await provider.launch({ count: 3, avoid: [] });

    allAnswered(t, api);
    t.deepEqual(
      api.calls("RunInstances").map((f) => [f.InstanceType, f.MaxCount]),
      [
        ["m6i.xlarge", "3"],
        ["m5.xlarge", "2"],
      ],
    );
    t.deepEqual(
      result.instances.map((i) => i.id),
      ["i-1"],
    );
    t.is(result.error?.kind, "capacity");
    t.is(result.error?.scope, undefined, "the whole cloud is out of room");
    t.deepEqual(
      result.scopeErrors?.map((e) => [e.kind, e.scope]),
      [
        ["capacity", "instanceType=m6i.xlarge"],
        ["capacity", "instanceType=m5.xlarge"],
      ],
    );
  },
);

test.serial(
  "InsufficientInstanceCapacity on the first type: the next type is tried and the first backs off alone",
  async (t) => {
    const { provider } = ec2Provider({ instanceTypes: ["m6i.xlarge", "m5.xlarge"] });
    const api = new Ec2Api()
      .expect("RunInstances", {
        status: 500,
        xml: fixture("ec2_error_500_InsufficientInstanceCapacity_assembled.xml"),
      })
      .expect("RunInstances", {
        xml: runInstancesXml([
          { id: "i-1", type: "m5.xlarge" },
          { id: "i-2", type: "m5.xlarge" },
        ]),
      });

    const result = await provider.launch({ count: 2, avoid: [] });

    allAnswered(t, api);
    t.deepEqual(
      api.calls("RunInstances").map((f) => [f.InstanceType, f.MaxCount]),
      [
        ["m6i.xlarge", "2"],
        ["m5.xlarge", "2"],
      ],
    );
    t.is(result.instances.length, 2);
    t.is(result.error, undefined);
    t.deepEqual(
      result.scopeErrors?.map((e) => [e.kind, e.scope]),
      [["capacity", "instanceType=m6i.xlarge"]],
    );
  },
);

test.serial("avoided placements are not asked at all", async (t) => {
  const { provider } = ec2Provider({
    instanceTypes: ["m6i.xlarge", "m5.xlarge"],
    subnets: [SUBNET_A, SUBNET_B],
  });
  const api = new Ec2Api()
    .expect("RunInstances", { xml: runInstancesXml([{ id: "i-1" }]) })
    .expect("RunInstances", { xml: runInstancesXml([{ id: "i-2" }]) });

  // A whole instance type backing off, then one type in one subnet.
  await provider.launch({ count: 1, avoid: ["instanceType=m6i.xlarge"] });
  await provider.launch({ count: 1, avoid: [`instanceType=m6i.xlarge,subnet=${SUBNET_A}`] });

  allAnswered(t, api);
  t.deepEqual(
    api.calls("RunInstances").map((f) => [f.InstanceType, f.SubnetId]),
    [
      ["m5.xlarge", SUBNET_A],
      ["m6i.xlarge", SUBNET_B],
    ],
  );

  const none = await provider.launch({
    count: 1,
    avoid: ["instanceType=m6i.xlarge", "instanceType=m5.xlarge"],
  });
  t.deepEqual(unmatched, [], "nothing left to ask: no request");
  t.deepEqual(none.instances, []);
  // Every placement backing off: no call, and no error to back the whole cloud off for.
  t.is(none.error, undefined);
  t.is(none.skipped, "every instance type and subnet is backing off");
});

// ---- errors → taxonomy ----

interface ErrorCase {
  code: string;
  status: number;
  xml: string;
  kind: ErrorKind;
}

/** Each code of issue 4 with the status EC2 answers it with (see PROVENANCE.md for the texts). */
const ERROR_CASES: ErrorCase[] = [
  {
    code: "InstanceLimitExceeded",
    status: 400,
    xml: fixture("ec2_error_400_InstanceLimitExceeded_assembled.xml"),
    kind: "quota",
  },
  {
    code: "VcpuLimitExceeded",
    status: 400,
    xml: fixture("ec2_error_400_VcpuLimitExceeded_assembled.xml"),
    kind: "quota",
  },
  {
    code: "MaxSpotInstanceCountExceeded",
    status: 400,
    xml: errorXml("MaxSpotInstanceCountExceeded", "Max spot instance count exceeded"),
    kind: "quota",
  },
  {
    code: "InsufficientInstanceCapacity",
    status: 500,
    xml: fixture("ec2_error_500_InsufficientInstanceCapacity_assembled.xml"),
    kind: "capacity",
  },
  {
    code: "InsufficientHostCapacity",
    status: 500,
    xml: errorXml(
      "InsufficientHostCapacity",
      "There is not enough capacity to fulfill your Dedicated Host request.",
    ),
    kind: "capacity",
  },
  {
    code: "Unsupported",
    status: 400,
    xml: errorXml(
      "Unsupported",
      "Your requested instance type (m6i.xlarge) is not supported in your requested Availability Zone (eu-central-1c). Please retry your request by not specifying an Availability Zone or choosing eu-central-1a, eu-central-1b.",
    ),
    kind: "capacity",
  },
  {
    code: "InsufficientFreeAddressesInSubnet",
    status: 400,
    xml: errorXml(
      "InsufficientFreeAddressesInSubnet",
      "The specified subnet does not have enough free addresses to satisfy the request.",
    ),
    kind: "capacity",
  },
  {
    code: "RequestLimitExceeded",
    status: 503,
    xml: fixture("ec2_error_503_RequestLimitExceeded_assembled.xml"),
    kind: "throttled",
  },
  {
    code: "AuthFailure",
    status: 401,
    xml: errorXml("AuthFailure", "AWS was not able to validate the provided access credentials"),
    kind: "auth",
  },
  {
    code: "UnauthorizedOperation",
    status: 403,
    xml: fixture("ec2_error_403_UnauthorizedOperation_captured.xml"),
    kind: "auth",
  },
  {
    code: "ExpiredToken",
    status: 400,
    xml: errorXml("ExpiredToken", "The security token included in the request is expired"),
    kind: "auth",
  },
  {
    code: "InvalidClientTokenId",
    status: 401,
    xml: errorXml("InvalidClientTokenId", "The security token included in the request is invalid."),
    kind: "auth",
  },
  {
    code: "InvalidAMIID.NotFound",
    status: 400,
    xml: errorXml("InvalidAMIID.NotFound", `The image id '[${AMI}]' does not exist`),
    kind: "config",
  },
  {
    code: "InvalidAMIID.Malformed",
    status: 400,
    xml: errorXml("InvalidAMIID.Malformed", 'Invalid id: "ami-cernvm" (expecting "ami-...")'),
    kind: "config",
  },
  {
    code: "InvalidParameterValue",
    status: 400,
    xml: errorXml(
      "InvalidParameterValue",
      "Value (m6i.xlarge) for parameter instanceType is invalid.",
    ),
    kind: "config",
  },
  {
    code: "InvalidSubnetID.NotFound",
    status: 400,
    xml: errorXml("InvalidSubnetID.NotFound", `The subnet ID '${SUBNET_A}' does not exist`),
    kind: "config",
  },
  {
    code: "InvalidKeyPair.NotFound",
    status: 400,
    xml: errorXml("InvalidKeyPair.NotFound", "The key pair 'admin' does not exist"),
    kind: "config",
  },
  {
    code: "InvalidGroup.NotFound",
    status: 400,
    xml: errorXml(
      "InvalidGroup.NotFound",
      "The security group 'sg-0cccccccccccccccc' does not exist in VPC 'vpc-1ea24976'",
    ),
    kind: "config",
  },
  {
    code: "InternalError",
    status: 500,
    xml: errorXml("InternalError", "An internal error has occurred"),
    kind: "transient",
  },
  {
    code: "Unavailable",
    status: 503,
    xml: errorXml("Unavailable", "The server is overloaded and can't handle the request"),
    kind: "transient",
  },
];

for (const { code, status, xml, kind } of ERROR_CASES) {
  test.serial(
    `RunInstances answered ${status} ${code} is ${kind}, after exactly one request`,
    async (t) => {
      const { provider } = ec2Provider({ subnets: [SUBNET_A] });
      const api = new Ec2Api().expect("RunInstances", { status, xml });

      const result = await provider.launch({ count: 2, avoid: [] });

      allAnswered(t, api);
      t.is(api.requests.length, 1);
      t.deepEqual(result.instances, []);
      t.is(result.error?.kind, kind);
      if (kind === "capacity") {
        // The one placement said no: it backs off on its own, and the launch as a whole is short.
        t.deepEqual(
          result.scopeErrors?.map((e) => [e.kind, e.scope]),
          [["capacity", `instanceType=m6i.xlarge,subnet=${SUBNET_A}`]],
        );
        t.true(result.scopeErrors?.[0]?.message.startsWith(`${code}: `));
      } else {
        t.true(result.error?.message.startsWith(`${code}: `), result.error?.message);
        t.deepEqual(result.scopeErrors, []);
      }
    },
  );
}

test.serial("an HTTP 502 with a proxy's HTML page is transient", async (t) => {
  const { provider } = ec2Provider();
  const api = new Ec2Api().expect("RunInstances", {
    status: 502,
    xml: "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>",
  });
  const result = await provider.launch({ count: 1, avoid: [] });
  allAnswered(t, api);
  t.is(result.error?.kind, "transient");
});

test.serial("a socket reset is transient, after exactly one request", async (t) => {
  const { provider } = ec2Provider();
  const api = new Ec2Api().expect("RunInstances", {
    error: socketError("ECONNRESET", "socket hang up"),
  });
  const result = await provider.launch({ count: 1, avoid: [] });
  allAnswered(t, api);
  t.is(api.requests.length, 1);
  t.is(result.error?.kind, "transient");
});

test.serial(
  "an answer slower than requestTimeout is transient and does not hold the call longer",
  async (t) => {
    // A real server that accepts the connection and then says nothing: nock cannot show this
    // (its delayed replies never "connect", so the connection timeout fires instead).
    let requests = 0;
    const server = createServer(() => {
      requests += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    nock.enableNetConnect("127.0.0.1");
    try {
      const { port } = server.address() as AddressInfo;
      const { provider } = ec2Provider({ endpoint: `http://127.0.0.1:${port}`, requestTimeout: 1 });
      const started = Date.now();
      const result = await provider.launch({ count: 1, avoid: [] });
      const elapsed = Date.now() - started;
      t.is(result.error?.kind, "transient");
      t.regex(result.error?.message ?? "", /timed? ?out|ETIMEDOUT/i);
      t.true(elapsed < 3000, `took ${elapsed} ms`);
      t.is(requests, 1, "no retry");
    } finally {
      nock.disableNetConnect();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
);

test.serial("list and terminate classify their errors too", async (t) => {
  const { provider } = ec2Provider();
  const api = new Ec2Api()
    .expect("DescribeInstances", {
      status: 503,
      xml: fixture("ec2_error_503_RequestLimitExceeded_assembled.xml"),
    })
    .expect("DescribeInstances", { error: socketError("ECONNRESET", "socket hang up") })
    .expect("TerminateInstances", {
      status: 403,
      xml: fixture("ec2_error_403_UnauthorizedOperation_captured.xml"),
    });

  const throttled = await t.throwsAsync(provider.list(), { instanceOf: ProviderError });
  t.is(throttled?.kind, "throttled");
  const reset = await t.throwsAsync(provider.list(), { instanceOf: ProviderError });
  t.is(reset?.kind, "transient");
  const denied = await provider.terminate(["i-1"]);
  t.deepEqual(denied.terminated, []);
  t.is(denied.error?.kind, "auth");
  allAnswered(t, api);
  t.is(api.requests.length, 3);
});

// ---- list ----

test.serial(
  "list asks for our tags, reads every page and maps states, addresses and a spot termination",
  async (t) => {
    const { provider } = ec2Provider();
    const api = new Ec2Api()
      .expect(
        "DescribeInstances",
        { xml: fixture("ec2_describe-instances_ours_page1.xml") },
        (form) => form.NextToken === undefined,
      )
      .expect(
        "DescribeInstances",
        { xml: fixture("ec2_describe-instances_ours_page2.xml") },
        (form) => form.NextToken === "page-2-token",
      );

    const instances = await provider.list();

    allAnswered(t, api);
    const pages = api.calls("DescribeInstances");
    t.is(pages.length, 2);
    for (const page of pages) {
      t.deepEqual(filters(page), {
        "tag:condor-autoscaler:pool": [POOL],
        "tag:condor-autoscaler:cloud": [CLOUD],
      });
    }
    t.deepEqual(
      instances.map((i) => [i.id, i.status, i.address, i.hostname]),
      [
        ["i-2ba64342", "booting", "10.28.89.195", "ip-10-28-89-195.ec2.internal"],
        ["i-2bc64242", "running", "10.28.89.196", "ip-10-28-89-196.ec2.internal"],
        ["i-2be64332", "gone", "10.28.89.197", "ip-10-28-89-197.ec2.internal"],
        ["i-fde9cece", "failed", undefined, undefined],
        ["i-78f1b94a", "gone", "10.253.17.74", "ip-10-253-17-74.us-west-2.compute.internal"],
      ],
    );
    t.true(instances.every((i) => i.cloud === CLOUD));
    t.is(instances[0]?.launchedAt, Date.parse("2012-08-02T04:28:30.000Z") / 1000);
    t.is(instances[0]?.image, "ami-aecd60c7");
    t.deepEqual(instances[3]?.fault, {
      message: "Client.UserInitiatedShutdown: User initiated shutdown",
    });
    t.deepEqual(instances[4]?.fault, {
      message: "Server.SpotInstanceTermination: Spot instance termination",
      kind: "capacity",
      scope: "instanceType=m1.medium,subnet=subnet-b2a249da",
    });
    t.is(instances[1]?.fault, undefined);
  },
);

test.serial(
  "list refuses an endpoint that pages in a circle instead of asking for ever",
  async (t) => {
    // Found by test/fuzz: page 1 names page-2-token; answered page 1 again, it names it again.
    const { provider } = ec2Provider();
    const page1 = { xml: fixture("ec2_describe-instances_ours_page1.xml") };
    const api = new Ec2Api().expect("DescribeInstances", page1).expect("DescribeInstances", page1);
    const error = await t.throwsAsync(provider.list(), { instanceOf: ProviderError });
    t.is(error?.kind, "transient");
    t.regex(error?.message ?? "", /paging repeats NextToken page-2-token/);
    t.is(api.calls("DescribeInstances").length, 2);
    allAnswered(t, api);
  },
);

test.serial(
  "list reads a reservation of 130 k instances without overflowing the stack",
  async (t) => {
    // Found by test/fuzz: a reservation's instances were appended with push(...instances).
    const page = fixture("ec2_describe-instances_ours_page2.xml");
    const open = "<instancesSet>";
    const start = page.indexOf(open) + open.length;
    const items = "<item><instanceId>i-1</instanceId></item>".repeat(130_000);
    const xml = page.slice(0, start) + items + page.slice(page.indexOf("</instancesSet>"));
    const { provider } = ec2Provider();
    const api = new Ec2Api().expect("DescribeInstances", { xml });
    t.is((await provider.list()).length, 130_001, "and the one of the sample's other reservation");
    allAnswered(t, api);
  },
);

test.serial("list of an empty reservation set is empty", async (t) => {
  const { provider } = ec2Provider();
  const api = new Ec2Api().expect("DescribeInstances", {
    xml: fixture("ec2_describe-instances_empty-reservationSet_jclouds.xml"),
  });
  t.deepEqual(await provider.list(), []);
  allAnswered(t, api);
});

test.serial(
  "a spot instance AWS took back becomes one scoped capacity backoff, counted once",
  async (t) => {
    const { provider, clock } = ec2Provider();
    const api = new Ec2Api()
      .expect("DescribeInstances", { xml: fixture("ec2_describe-instances_ours_page2.xml") })
      .expect("DescribeInstances", { xml: fixture("ec2_describe-instances_ours_page2.xml") });
    const policy = ec2Policy({ backoff: { initial: "2m", max: "30m" } });
    const scope = "instanceType=m1.medium,subnet=subnet-b2a249da";

    const now = clock.now();
    const first = joinWorkers(await provider.list(), []);
    const once = rememberFaults(emptyMemory(), first, [policy], now, constant(0.5));
    const state = once.clouds[CLOUD];
    t.like(state?.scoped[scope], { kind: "capacity", failures: 1 });
    // Equal jitter: half the 2 min base plus half of that again times 0.5.
    t.is(state?.scoped[scope]?.until, now + 90);
    t.is(state?.backoff, undefined, "the rest of the cloud is not held back");
    t.is(state?.batchLimit, undefined);
    t.deepEqual(state?.faultsSeen, ["i-78f1b94a"]);

    clock.advance(30);
    const second = joinWorkers(await provider.list(), []);
    const twice = rememberFaults(once, second, [policy], clock.now(), constant(0.5));
    t.deepEqual(twice.clouds[CLOUD]?.scoped, state?.scoped, "the same instance counts once");
    allAnswered(t, api);
  },
);

// ---- terminate ----

test.serial("terminate sends at most 1000 ids per call", async (t) => {
  const { provider } = ec2Provider();
  const ids = Array.from({ length: 1001 }, (_, n) => `i-${n.toString(16).padStart(17, "0")}`);
  const api = new Ec2Api()
    .expect("TerminateInstances", { xml: terminateInstancesXml(ids.slice(0, 1000)) })
    .expect("TerminateInstances", { xml: terminateInstancesXml(ids.slice(1000)) });

  const result = await provider.terminate(ids);

  allAnswered(t, api);
  const [first, second] = api.calls("TerminateInstances");
  t.deepEqual(listParameter(first ?? {}, "InstanceId"), ids.slice(0, 1000));
  t.deepEqual(listParameter(second ?? {}, "InstanceId"), ids.slice(1000));
  t.deepEqual(result, { terminated: ids });
});

test.serial(
  "an id already gone fails the batch: the ids are retried one by one and the gone one counts as terminated",
  async (t) => {
    const { provider } = ec2Provider();
    const notFound = errorXml(
      "InvalidInstanceID.NotFound",
      "The instance ID 'i-0000000000000000b' does not exist",
    );
    const ids = ["i-0000000000000000a", "i-0000000000000000b", "i-0000000000000000c"];
    const api = new Ec2Api()
      .expect("TerminateInstances", { status: 400, xml: notFound })
      .expect("TerminateInstances", { xml: terminateInstancesXml(["i-0000000000000000a"]) })
      .expect("TerminateInstances", { status: 400, xml: notFound })
      .expect("TerminateInstances", { xml: terminateInstancesXml(["i-0000000000000000c"]) });

    const result = await provider.terminate(ids);

    allAnswered(t, api);
    t.deepEqual(
      api.calls("TerminateInstances").map((f) => listParameter(f, "InstanceId")),
      [ids, [ids[0]], [ids[1]], [ids[2]]],
    );
    t.deepEqual(result, { terminated: ids });
  },
);

// ---- headroom ----

test.serial(
  "headroom is the configured limits minus the pending and running instances of the whole account",
  async (t) => {
    const { provider } = ec2Provider({ limits: { vcpus: 20, instances: 5 } });
    const api = new Ec2Api().expect("DescribeInstances", {
      xml: fixture("ec2_describe-instances_cpu-options.xml"),
    });

    const headroom = await provider.headroom();

    allAnswered(t, api);
    // Only the state filter: foreign instances count against the account's limits too.
    t.deepEqual(filters(api.calls("DescribeInstances")[0] ?? {}), {
      "instance-state-name": ["pending", "running"],
    });
    // 2 cores × 2 threads + 1 × 1 + a third without CpuOptions counted as one of our workers (4).
    t.deepEqual(headroom, { instances: 2, cpus: 11 });
  },
);

test.serial("headroom never goes below zero", async (t) => {
  const { provider } = ec2Provider({ limits: { vcpus: 8, instances: 2 } });
  const api = new Ec2Api().expect("DescribeInstances", {
    xml: fixture("ec2_describe-instances_cpu-options.xml"),
  });
  t.deepEqual(await provider.headroom(), { instances: 0, cpus: 0 });
  allAnswered(t, api);
});

test.serial("without limits, headroom is unknown and nothing is asked", async (t) => {
  const { provider } = ec2Provider();
  t.deepEqual(await provider.headroom(), {});
  t.deepEqual(unmatched, []);
});

test("no credentials at all (the SDK's CredentialsProviderError, before any request) is auth, not transient", (t) => {
  const noCredentials = Object.assign(new Error("Could not load credentials from any providers"), {
    name: "CredentialsProviderError",
  });
  const error = classifyEc2Error(noCredentials);
  t.is(error.kind, "auth");
  t.is(error.message, "CredentialsProviderError: Could not load credentials from any providers");
});

test("an error code or a state that is a name every object has (constructor, toString) is no known one", (t) => {
  // Found by test/fuzz: the tables were indexed through the prototype, giving Object for a kind.
  const error = (name: string, status: number) =>
    classifyEc2Error(
      Object.assign(new Error("no"), { name, $metadata: { httpStatusCode: status } }),
    );
  t.is(error("constructor", 503).kind, "transient");
  t.is(error("toString", 400).kind, "config");
  t.is(error("hasOwnProperty", 500).kind, "transient");
  const { provider } = ec2Provider();
  // The SDK passes the answer's text through, whatever its type says.
  for (const state of ["constructor", "__proto__", "toString"] as unknown as InstanceStateName[])
    t.is(provider.toInstance({ InstanceId: "i-1", State: { Name: state } }).status, "failed");
});

test.serial(
  "with a launch intent's token, each RunInstances sends <token>.<placement> as its ClientToken",
  async (t) => {
    const { provider } = ec2Provider({ instanceTypes: ["m6i.xlarge", "m5.xlarge"] });
    const api = new Ec2Api()
      .expect("RunInstances", {
        status: 500,
        xml: fixture("ec2_error_500_InsufficientInstanceCapacity_assembled.xml"),
      })
      .expect("RunInstances", { xml: runInstancesXml([{ id: "i-1", type: "m5.xlarge" }]) });
    await provider.launch({ count: 1, avoid: [], token: "0123abcd" });
    allAnswered(t, api);
    t.deepEqual(
      api.calls("RunInstances").map((f) => f.ClientToken),
      ["0123abcd.0", "0123abcd.1"],
      "a token reused with other parameters would be IdempotentParameterMismatch",
    );
  },
);

test.serial(
  "list reads each instance's ClientToken as its launch token (an empty one is none), to settle launch intents",
  async (t) => {
    const { provider } = ec2Provider();
    const page = fixture("ec2_describe-instances_ours_page1.xml").replace(
      "<clientToken/>",
      "<clientToken>0123abcd.1</clientToken>",
    );
    const api = new Ec2Api()
      .expect("DescribeInstances", { xml: page }, (form) => form.NextToken === undefined)
      .expect("DescribeInstances", { xml: fixture("ec2_describe-instances_ours_page2.xml") });
    const instances = await provider.list();
    allAnswered(t, api);
    t.deepEqual(
      instances.slice(0, 2).map((i) => [i.id, i.launchToken]),
      [
        ["i-2ba64342", "0123abcd.1"],
        ["i-2bc64242", undefined],
      ],
    );
  },
);
