/**
 * Every check a site admin would otherwise learn about hours later, read-only, each bounded in
 * time: HTCondor as this user, then each cloud (in parallel). For `check` and the start of `run`.
 */
import type { Backends } from "../backends.js";
import { HTCondorPool } from "../condor/htcondor.js";
import { PREFLIGHT_CHECK_TIMEOUT } from "../config/defaults.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { redactText } from "../daemon/redact.js";
import { type PreflightCheck, skipped } from "../model/preflight.js";
import type { PoolInstance } from "../providers/provider.js";
import { userDataRenderer } from "../providers/user-data.js";
import { cloudPreflight } from "./clouds.js";
import { condorPreflight } from "./condor.js";
import { unconfiguredInstances } from "./unconfigured.js";

export interface Preflight {
  checks: PreflightCheck[];
  /** Instances of the pool in clouds no longer configured. */
  unconfigured: PoolInstance[];
}

export interface PreflightOptions {
  /** Bound of each check, seconds. */
  seconds?: number;
  /**
   * Whether to ask condor_q and condor_status: `run` does not, since its first tick asks them at
   * once and reports what it could not read.
   */
  queries?: boolean;
}

export async function preflight(
  config: AutoscalerConfig,
  backends: Backends,
  options: PreflightOptions = {},
): Promise<Preflight> {
  const seconds = options.seconds ?? PREFLIGHT_CHECK_TIMEOUT;
  const condor = config.global.condor;
  const selectors = config.clouds.map((cloud) => ({ cloud: cloud.name, constraint: cloud.jobs }));
  const condorChecks =
    condor.kind === "htcondor" && backends.condor instanceof HTCondorPool
      ? condorPreflight(backends.condor, condor, selectors, seconds, options.queries ?? true)
      : Promise.resolve([skipped("HTCondor", "the pool is simulated")]);
  const cloudChecks = config.clouds.map((cloud) => {
    const provider = backends.providers.get(cloud.name);
    return provider === undefined
      ? Promise.resolve([skipped(`cloud ${cloud.name}`, "no provider")])
      : cloudPreflight(
          cloud,
          provider,
          userDataRenderer(config, cloud),
          config.global.pool,
          seconds,
        );
  });
  const unconfigured = unconfiguredInstances(config, backends.providers);
  const checks = [
    ...(await condorChecks),
    ...(await Promise.all(cloudChecks)).flat(),
    (await unconfigured).check,
  ];
  return {
    // Details carry tools' and clouds' error texts: scrubbed of secrets before anyone prints them.
    checks: checks.map((check) => ({ ...check, detail: redactText(check.detail) })),
    unconfigured: (await unconfigured).instances,
  };
}

/** One line per check, a fix line under each failure, and a count. */
export function formatPreflight(checks: readonly PreflightCheck[]): string {
  const lines = checks.flatMap((check) => {
    const line = `${check.outcome.padEnd(5)} ${check.what}: ${check.detail}`;
    return check.outcome === "FAIL" && check.fix !== undefined
      ? [line, `      fix: ${check.fix}`]
      : [line];
  });
  const count = (outcome: PreflightCheck["outcome"]) =>
    checks.filter((check) => check.outcome === outcome).length;
  lines.push(`${count("ok")} ok, ${count("FAIL")} failed, ${count("skip")} skipped`);
  return `${lines.join("\n")}\n`;
}
