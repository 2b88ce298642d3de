/**
 * EC2's preflight at the wire: one RunInstances with DryRun per placement, answered by nock with
 * EC2's error envelope (DryRunOperation is EC2's "would have succeeded", HTTP 412).
 */
import test from "ava";
import { Ec2Api, ec2Provider, errorXml, unmatched } from "./fake-ec2.js";
import { isolateNock } from "./nock-hooks.js";

const SUBNET_A = "subnet-0aaaaaaaaaaaaaaaa";
const SUBNET_B = "subnet-0bbbbbbbbbbbbbbbb";
const WOULD_SUCCEED = {
  status: 412,
  xml: errorXml("DryRunOperation", "Request would have succeeded, but DryRun flag is set."),
};

isolateNock(test, () => {
  unmatched.length = 0;
});

test.serial(
  "every instance type × subnet is tried with DryRun and not the launch's ClientToken, nothing launched; DryRunOperation reads ok",
  async (t) => {
    const { provider } = ec2Provider({
      instanceTypes: ["m6i.xlarge", "m5.xlarge"],
      subnets: [SUBNET_A, SUBNET_B],
    });
    const api = new Ec2Api();
    for (let i = 0; i < 4; i += 1) api.expect("RunInstances", WOULD_SUCCEED);
    const checks = await provider.preflight();
    t.deepEqual(unmatched, []);
    const sent = api.calls("RunInstances");
    t.deepEqual(
      sent.map((form) => [form.InstanceType, form.SubnetId, form.DryRun, form.MaxCount]).sort(),
      [
        ["m5.xlarge", SUBNET_A, "true", "1"],
        ["m5.xlarge", SUBNET_B, "true", "1"],
        ["m6i.xlarge", SUBNET_A, "true", "1"],
        ["m6i.xlarge", SUBNET_B, "true", "1"],
      ],
    );
    // The SDK fills in a random token; the launch's own (40 hex digits) is kept for real launches.
    for (const form of sent) t.notRegex(form.ClientToken ?? "", /^[0-9a-f]{40}$/);
    t.deepEqual(
      checks.map((c) => [c.outcome, c.what, c.detail]),
      [
        [
          "ok",
          `cloud aws: RunInstances instanceType=m6i.xlarge,subnet=${SUBNET_A} (DryRun)`,
          "would succeed",
        ],
        [
          "ok",
          `cloud aws: RunInstances instanceType=m6i.xlarge,subnet=${SUBNET_B} (DryRun)`,
          "would succeed",
        ],
        [
          "ok",
          `cloud aws: RunInstances instanceType=m5.xlarge,subnet=${SUBNET_A} (DryRun)`,
          "would succeed",
        ],
        [
          "ok",
          `cloud aws: RunInstances instanceType=m5.xlarge,subnet=${SUBNET_B} (DryRun)`,
          "would succeed",
        ],
      ],
    );
  },
);

test.serial(
  "a refused DryRun fails with EC2's reason and the fix for its code: permissions, image, subnet",
  async (t) => {
    const { provider } = ec2Provider({
      instanceTypes: ["m6i.xlarge"],
      subnets: [SUBNET_A, SUBNET_B],
    });
    new Ec2Api()
      .expect(
        "RunInstances",
        {
          status: 403,
          xml: errorXml(
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
          ),
        },
        (form) => form.SubnetId === SUBNET_A,
      )
      .expect(
        "RunInstances",
        {
          status: 400,
          xml: errorXml("InvalidSubnetID.NotFound", `The subnet ID '${SUBNET_B}' does not exist`),
        },
        (form) => form.SubnetId === SUBNET_B,
      );
    const [unauthorized, noSubnet] = await provider.preflight();
    t.is(unauthorized?.outcome, "FAIL");
    t.regex(unauthorized?.detail ?? "", /UnauthorizedOperation|not authorized/);
    t.regex(unauthorized?.fix ?? "", /examples\/aws\/iam-policy\.json/);
    t.is(noSubnet?.outcome, "FAIL");
    t.regex(noSubnet?.detail ?? "", /does not exist/);
    t.regex(noSubnet?.fix ?? "", /^provider\.subnets/);

    const image = ec2Provider({ instanceTypes: ["m6i.xlarge"] });
    new Ec2Api().expect("RunInstances", {
      status: 400,
      xml: errorXml(
        "InvalidAMIID.NotFound",
        "The image id '[ami-0123456789abcdef0]' does not exist",
      ),
    });
    const [missing] = await image.provider.preflight();
    t.is(missing?.outcome, "FAIL");
    t.regex(missing?.fix ?? "", /^provider\.image/);
  },
);
