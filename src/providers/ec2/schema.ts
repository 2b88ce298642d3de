/** The `provider:` section of an EC2 cloud file. Credentials are never in it (the AWS chain). */
import { z } from "zod";
import * as d from "../../config/defaults.js";
import { duration } from "../../config/duration.js";

const count = z.number().int().nonnegative();
const positiveDuration = duration.refine((seconds) => seconds >= 1, "must be at least 1s");

export const ec2ProviderSchema = z
  .strictObject({
    kind: z.literal("ec2"),
    region: z.string().min(1),
    endpoint: z.url().optional().meta({ description: "Any EC2-compatible API; default: AWS's" }),
    profile: z.string().min(1).optional().meta({
      description: "Named profile of the shared AWS files; credentials never go in this file",
    }),
    image: z
      .string()
      .regex(/^ami-[0-9a-f]+$/, "an AMI id such as ami-0123456789abcdef0")
      .optional(),
    launchTemplate: z
      .strictObject({
        id: z.string().min(1).optional(),
        name: z.string().min(1).optional(),
        version: z.string().min(1).optional(),
      })
      .refine(
        (t) => (t.id === undefined) !== (t.name === undefined),
        "give exactly one of id and name",
      )
      .optional(),
    instanceTypes: z.array(z.string().min(1)).min(1).meta({
      description: "Tried in this order; the next one when a type has no capacity",
    }),
    subnets: z.array(z.string().min(1)).default([]).meta({
      description: "Subnets (hence zones) tried in this order; default: the account's default",
    }),
    securityGroups: z.array(z.string().min(1)).default([]),
    keyName: z.string().min(1).optional(),
    instanceProfile: z.string().min(1).optional().meta({ description: "Name or ARN" }),
    spot: z
      .strictObject({ maxPrice: z.string().min(1).optional() })
      .optional()
      .meta({ description: "Launch spot instances (one-time, terminate on interruption)" }),
    limits: z
      .strictObject({ vcpus: count.optional(), instances: count.optional() })
      .optional()
      .meta({ description: "The account's limits in this region, for quota headroom" }),
    requestTimeout: positiveDuration.default(d.DEFAULT_EC2_REQUEST_TIMEOUT),
  })
  .refine((p) => (p.image === undefined) !== (p.launchTemplate === undefined), {
    message: "give exactly one of image and launchTemplate",
    path: ["image"],
  })
  .meta({ description: "Amazon EC2 or an EC2-compatible API" });

export type Ec2ProviderSettings = z.output<typeof ec2ProviderSchema>;
