/**
 * Instances tagged with this pool whose cloud is not configured (a cloud file renamed or removed
 * while they ran): nobody terminates them, so the admin must be told.
 */
import type { AutoscalerConfig } from "../config/schema.js";
import { failed, type PreflightCheck, passed, skipped } from "../model/preflight.js";
import type { PoolInstance, Provider } from "../providers/provider.js";

export interface Unconfigured {
  instances: PoolInstance[];
  check: PreflightCheck;
}

export async function unconfiguredInstances(
  config: AutoscalerConfig,
  providers: ReadonlyMap<string, Provider>,
): Promise<Unconfigured> {
  const what = `no instance of pool ${config.global.pool} is left in a cloud that is not configured`;
  const configured = new Set(config.clouds.map((cloud) => cloud.name));
  const asked = [...providers.values()].filter((provider) => provider.poolInstances !== undefined);
  if (asked.length === 0)
    return { instances: [], check: skipped(what, "no cloud that can be asked") };
  const answers = await Promise.allSettled(
    asked.map((provider) => provider.poolInstances?.() ?? []),
  );
  const found = new Map<string, PoolInstance>();
  for (const answer of answers)
    if (answer.status === "fulfilled")
      for (const instance of answer.value)
        if (!configured.has(instance.cloud))
          found.set(`${instance.cloud}/${instance.id}`, instance);
  const instances = [...found.values()].sort(
    (a, b) => a.cloud.localeCompare(b.cloud) || a.name.localeCompare(b.name),
  );
  const unanswered = answers.filter((answer) => answer.status === "rejected").length;
  if (instances.length === 0)
    return {
      instances,
      check:
        unanswered === asked.length
          ? skipped(what, "no cloud could be listed")
          : passed(what, unanswered === 0 ? "none" : `none in the clouds that answered`),
    };
  const byCloud = new Map<string, string[]>();
  for (const instance of instances)
    byCloud.set(instance.cloud, [...(byCloud.get(instance.cloud) ?? []), instance.name]);
  const detail = [...byCloud]
    .map(([cloud, names]) => `cloud ${cloud}: ${names.length} (${names.join(", ")})`)
    .join("; ");
  return {
    instances,
    check: failed(
      what,
      detail,
      "they run on unmanaged: restore clouds.d/<cloud>.yaml so they are managed again, or terminate them",
    ),
  };
}
