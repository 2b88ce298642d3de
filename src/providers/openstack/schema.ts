/** The `provider:` section of an OpenStack cloud file. Credentials are never in it (see credentials.ts). */
import { z } from "zod";
import * as d from "../../config/defaults.js";
import { duration } from "../../config/duration.js";

const positiveDuration = duration.refine((seconds) => seconds >= 1, "must be at least 1s");

export const openstackProviderSchema = z
  .strictObject({
    kind: z.literal("openstack"),
    cloud: z.string().min(1).optional().meta({
      description:
        "Entry of clouds.yaml (+ secure.yaml) in the standard places; default: $OS_CLOUD, else the OS_* variables",
    }),
    region: z.string().min(1).optional(),
    interface: z.enum(["public", "internal", "admin"]).default("public"),
    flavor: z.string().min(1).meta({ description: "Flavor name or id" }),
    image: z.string().min(1).meta({ description: "Image name or id (looked up in Glance)" }),
    networks: z
      .union([z.enum(["none", "auto"]), z.array(z.string().min(1)).min(1)])
      .default("auto")
      .meta({ description: "none, auto, or a list of network uuids" }),
    keyName: z.string().min(1).optional(),
    securityGroups: z.array(z.string().min(1)).default([]),
    availabilityZone: z.string().min(1).optional(),
    computeMicroversion: z
      .string()
      .regex(/^2\.\d+$/)
      .default(d.DEFAULT_NOVA_MICROVERSION),
    concurrency: z.number().int().positive().max(32).default(d.DEFAULT_OPENSTACK_CONCURRENCY),
    requestTimeout: positiveDuration.default(d.DEFAULT_OPENSTACK_REQUEST_TIMEOUT),
  })
  .meta({ description: "OpenStack Nova through Keystone v3" });

export type OpenStackProviderSettings = z.infer<typeof openstackProviderSchema>;
/** The endpoint interfaces of a Keystone catalog. */
export type EndpointInterface = OpenStackProviderSettings["interface"];
