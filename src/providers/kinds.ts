/**
 * Every kind of cloud a cloud file may name, with the schema of its `provider:` section. The
 * config schema reads the union from here and providers/registry.ts makes each kind's provider:
 * a new kind is its folder here and one line in each list.
 */
import { z } from "zod";
import { dockerProviderSchema } from "./docker/schema.js";
import { ec2ProviderSchema } from "./ec2/schema.js";
import { openstackProviderSchema } from "./openstack/schema.js";
import { simulatedProviderSchema } from "./simulated-schema.js";

export const providerSettingsSchema = z.discriminatedUnion("kind", [
  simulatedProviderSchema,
  ec2ProviderSchema,
  openstackProviderSchema,
  dockerProviderSchema,
]);

export type ProviderSettings = z.output<typeof providerSettingsSchema>;
