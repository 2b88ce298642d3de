/**
 * EC2's preflight: a RunInstances with DryRun per placement (instance type × subnet). EC2 checks
 * the permissions, the image, the instance type, the subnet and the security groups, and answers
 * DryRunOperation when the real call would have been accepted: nothing is launched.
 */
import {
  type EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import { failed, type PreflightCheck, passed } from "../../model/preflight.js";
import { classifyEc2Error, ec2ErrorCode } from "./errors.js";

/** What each refusal means for the admin, by EC2 error code (prefix). */
const FIXES: ReadonlyArray<[prefix: string, fix: string]> = [
  [
    "UnauthorizedOperation",
    "grant the IAM policy of examples/aws/iam-policy.json to these credentials",
  ],
  [
    "AuthFailure",
    "the credentials are wrong or expired (AWS default chain: environment, ~/.aws, instance role)",
  ],
  ["InvalidAMIID", "provider.image: an AMI of this region that the account may launch"],
  ["InvalidSubnetID", "provider.subnets: subnet ids of this region"],
  ["InvalidGroup", "provider.securityGroups: security group ids of the subnets' VPC"],
  ["InvalidKeyPair", "provider.keyName: a key pair of this region"],
  ["InvalidParameterValue", "provider.instanceTypes: types offered in this region and zone"],
  [
    "Unsupported",
    "provider.instanceTypes: this type is not offered in that zone; try another subnet",
  ],
  ["InvalidLaunchTemplate", "provider.launchTemplate: a template of this region"],
  ["InvalidParameterCombination", "provider: the image, type and template do not fit together"],
];

export interface DryRunPlacement {
  scope: string;
  request: RunInstancesCommandInput;
}

export async function dryRunLaunches(
  client: EC2Client,
  cloud: string,
  placements: readonly DryRunPlacement[],
): Promise<PreflightCheck[]> {
  return Promise.all(
    placements.map(async ({ scope, request }) => {
      const what = `cloud ${cloud}: RunInstances ${scope} (DryRun)`;
      try {
        await client.send(new RunInstancesCommand({ ...request, DryRun: true }));
        return passed(what, "accepted");
      } catch (error) {
        const code = ec2ErrorCode(error) ?? "";
        if (code === "DryRunOperation") return passed(what, "would succeed");
        const fix = FIXES.find(([prefix]) => code.startsWith(prefix))?.[1];
        return failed(what, classifyEc2Error(error, scope).message, fix);
      }
    }),
  );
}
