/**
 * Backends after a config reload: what did not change is kept (a provider's token and caches, the
 * simulated pool's state), what changed is made anew, and a removed cloud's provider is dropped.
 */
import type Logger from "bunyan";
import { type Backends, createBackends } from "./backends.js";
import type { AutoscalerConfig, CloudConfig } from "./config/schema.js";
import { headNodeOf } from "./providers/user-data.js";

/**
 * What a provider is built from, its user-data renderer included (head node, token file, the
 * cloud's jobs constraint): equal means the provider can be kept.
 */
function providerInputs(config: AutoscalerConfig, cloud: CloudConfig): string {
  const condor = config.global.condor;
  return JSON.stringify([
    config.global.pool,
    cloud.provider,
    cloud.worker,
    cloud.userDataPath ?? null,
    cloud.jobs,
    headNodeOf(config),
    condor.kind === "htcondor" ? (condor.tokenFile ?? null) : null,
  ]);
}

export async function reloadBackends(
  previous: { config: AutoscalerConfig; backends: Backends },
  next: AutoscalerConfig,
  log: Logger,
  options: { readOnly?: boolean } = {},
): Promise<Backends> {
  const sameCondor =
    previous.config.global.pool === next.global.pool &&
    JSON.stringify(previous.config.global.condor) === JSON.stringify(next.global.condor);
  const before = new Map(
    previous.config.clouds.map((cloud) => [cloud.name, providerInputs(previous.config, cloud)]),
  );
  const unchanged = (cloud: CloudConfig) => before.get(cloud.name) === providerInputs(next, cloud);

  if (
    previous.config.global.condor.kind === "simulated" ||
    next.global.condor.kind === "simulated"
  ) {
    // The simulated pool is built around its simulated clouds: their policy may change, and a
    // cloud may be removed (its workers live on in the pool), but none may be added or rebuilt.
    const sameClouds = next.clouds.every(
      (cloud) => cloud.provider.kind !== "simulated" || unchanged(cloud),
    );
    if (!sameCondor || !sameClouds)
      throw new Error(
        "a simulated pool and its simulated clouds cannot change on reload (only their policy can): restart the daemon",
      );
  }

  const fresh = await createBackends(next, log, {
    clock: previous.backends.clock,
    ...(options.readOnly === undefined ? {} : { readOnly: options.readOnly }),
  });
  const providers = new Map(fresh.providers);
  for (const cloud of next.clouds) {
    const kept = previous.backends.providers.get(cloud.name);
    if (kept !== undefined && unchanged(cloud)) providers.set(cloud.name, kept);
  }
  if (!sameCondor) return { ...fresh, providers };
  return {
    condor: previous.backends.condor,
    providers,
    clock: previous.backends.clock,
    ...(previous.backends.workloadDone === undefined
      ? {}
      : { workloadDone: previous.backends.workloadDone }),
  };
}
