/**
 * OpenStack's preflight: the lookups a launch makes (flavor, image), the key pair and the
 * availability zone, each as Nova and Glance answer them now. Networks are Neutron's, which this
 * project does not speak: Nova checks them at the first launch.
 */

import { failed, type PreflightCheck, passed, reasonOf, skipped } from "../../model/preflight.js";
import type { OpenStackProviderSettings } from "./schema.js";

export interface OpenStackLookups {
  flavor(): Promise<{ name: string; vcpus: number; ram: number }>;
  image(): Promise<{ id: string; name?: string | null }>;
  /** Whether Nova knows the key pair (GET /os-keypairs/{name}). */
  keyPairExists(name: string): Promise<boolean>;
  /** The availability zones Nova offers (GET /os-availability-zone). */
  availableZones(): Promise<string[]>;
}

/** A lookup: ok with what it found, FAIL with the fix when it throws. */
async function probe(
  what: string,
  fix: string,
  run: () => Promise<string>,
): Promise<PreflightCheck> {
  try {
    return passed(what, await run());
  } catch (error) {
    return failed(what, reasonOf(error), fix);
  }
}

export function openstackPreflight(
  cloud: string,
  settings: OpenStackProviderSettings,
  lookups: OpenStackLookups,
): Promise<PreflightCheck[]> {
  const name = (what: string) => `cloud ${cloud}: ${what}`;
  const checks: Array<Promise<PreflightCheck>> = [
    probe(
      name(`flavor ${settings.flavor}`),
      "provider.flavor: a flavor name or id of `openstack flavor list`",
      async () => {
        const flavor = await lookups.flavor();
        return `${flavor.name}: ${flavor.vcpus} vCPUs, ${flavor.ram} MB`;
      },
    ),
    probe(
      name(`image ${settings.image}`),
      "provider.image: an active image name or id of `openstack image list`",
      async () => {
        const image = await lookups.image();
        return `${image.name ?? image.id} (${image.id})`;
      },
    ),
  ];
  const keyName = settings.keyName;
  if (keyName !== undefined)
    checks.push(
      probe(
        name(`key pair ${keyName}`),
        "provider.keyName: a key pair of `openstack keypair list` (of this user)",
        async () => {
          if (!(await lookups.keyPairExists(keyName))) throw new Error("not found");
          return "exists";
        },
      ),
    );
  const zone = settings.availabilityZone;
  if (zone !== undefined)
    checks.push(
      probe(
        name(`availability zone ${zone}`),
        "provider.availabilityZone: one of `openstack availability zone list --compute`",
        async () => {
          const zones = await lookups.availableZones();
          if (!zones.includes(zone))
            throw new Error(`not among the available zones (${zones.join(", ") || "none"})`);
          return "available";
        },
      ),
    );
  const networks = settings.networks;
  checks.push(
    Promise.resolve(
      skipped(
        name(`networks ${Array.isArray(networks) ? networks.join(",") : networks}`),
        "Neutron is not asked: Nova checks the networks at the first launch",
      ),
    ),
  );
  return Promise.all(checks);
}
