/**
 * `condor-autoscaler check`: the preflight of a config directory, one line per check with ok,
 * FAIL (and the fix) or skip; exit 1 when anything failed. Read-only, like `plan`.
 */
import { createBackends } from "../backends.js";
import { loadConfig } from "../config/load.js";
import { createLog } from "../daemon/log.js";
import { ConfigError, formatConfigProblem } from "../model/errors.js";
import { failed, passed } from "../model/preflight.js";
import { formatPreflight, preflight } from "../preflight/preflight.js";
import { registerConfiguredSecrets } from "./secrets.js";

export async function checkCommand(dir: string): Promise<number> {
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(dir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const detail = error.problems.map(formatConfigProblem).join("; ");
    process.stdout.write(
      formatPreflight([
        failed(
          `config ${dir} is valid`,
          detail,
          "condor-autoscaler validate DIR lists each problem",
        ),
      ]),
    );
    return 1;
  }
  await registerConfiguredSecrets(config);
  // Providers warn of what they notice (a flavor smaller than the policy's worker): to stderr.
  const log = createLog({ format: "pretty", level: "warn" }, process.stderr);
  const backends = await createBackends(config, log, { readOnly: true });
  const clouds = config.clouds.map((cloud) => cloud.name).join(", ");
  const checks = [
    passed(`config ${config.dir} is valid`, `pool ${config.global.pool}; clouds: ${clouds}`),
    ...(await preflight(config, backends)).checks,
  ];
  process.stdout.write(formatPreflight(checks));
  return checks.some((check) => check.outcome === "FAIL") ? 1 : 0;
}
