/** The preflight at the start of `run`: logged, never a reason to refuse to start. */
import type Logger from "bunyan";
import type { Backends } from "../backends.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { preflight } from "../preflight/preflight.js";
import type { PoolInstance } from "../providers/provider.js";

/**
 * The checks of `check`, logged at start: a failure is a warning with its fix, never a refusal
 * (a cloud that is down now may answer at the next tick). Returns the instances of the pool in
 * clouds that are not configured, for /status.
 */
export async function logPreflight(
  config: AutoscalerConfig,
  backends: Backends,
  log: Logger,
): Promise<PoolInstance[]> {
  const { checks, unconfigured } = await preflight(config, backends, { queries: false });
  const preflightLog = log.child({ component: "preflight" });
  const failures = checks.filter((c) => c.outcome === "FAIL");
  for (const check of failures)
    preflightLog.warn(
      { check: check.what, ...(check.fix === undefined ? {} : { fix: check.fix }) },
      `preflight: FAIL ${check.what}: ${check.detail}${check.fix === undefined ? "" : ` (fix: ${check.fix})`}`,
    );
  preflightLog.info(
    { ok: checks.filter((c) => c.outcome === "ok").length, failed: failures.length },
    failures.length === 0
      ? `preflight: all ${checks.length} checks passed or skipped`
      : `preflight: ${failures.length} of ${checks.length} checks failed (condor-autoscaler check --config ${config.dir} prints them all); starting anyway`,
  );
  return unconfigured;
}
