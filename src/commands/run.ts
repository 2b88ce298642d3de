/** `condor-autoscaler run`: the daemon. */

import { poolPolicy } from "../config/policies.js";
import { closeLog, createLog, type LogSettings } from "../daemon/log.js";
import { acquirePidfile, type Pidfile, PidfileError } from "../daemon/pidfile.js";
import { serve } from "../daemon/service.js";
import { loadOrExit } from "./load.js";
import { registerConfiguredSecrets } from "./secrets.js";

export interface RunOptions {
  config: string;
  dryRun: boolean;
  once: boolean;
  logFormat?: LogSettings["format"];
  logLevel?: LogSettings["level"];
  /** Refuse to start while another live daemon holds this file. */
  pidfile?: string;
  /** Keep which workers have joined here, across restarts. */
  state?: string;
}

export async function runCommand(options: RunOptions): Promise<number> {
  const config = await loadOrExit(options.config);
  await registerConfiguredSecrets(config);
  const log = createLog({
    ...config.global.logging,
    ...(options.logFormat === undefined ? {} : { format: options.logFormat }),
    ...(options.logLevel === undefined ? {} : { level: options.logLevel }),
  });
  const policy = poolPolicy(config);
  const simulated = config.global.condor.kind === "simulated";
  const mode = options.dryRun ? " (dry run: nothing is changed)" : "";
  log.info(
    { config: config.dir, clouds: policy.clouds.map((c) => c.name), dryRun: options.dryRun },
    `condor-autoscaler starting for pool ${policy.pool} with clouds ${policy.clouds.map((c) => c.name).join(", ")}${mode}${simulated ? "; simulated pool and clouds" : ""}`,
  );
  let pidfile: Pidfile | undefined;
  if (options.pidfile !== undefined) {
    try {
      pidfile = await acquirePidfile(options.pidfile, policy.pool);
    } catch (error) {
      if (!(error instanceof PidfileError)) throw error;
      log.fatal({ holder: error.holder }, error.message);
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    if (pidfile.replaced !== undefined)
      log.warn(
        { pidfile: options.pidfile },
        `replaced a stale pidfile (${pidfile.replaced.reason})`,
      );
  }
  try {
    return await serve(options, config, log, policy);
  } finally {
    await pidfile?.release();
    await closeLog(log);
  }
}
