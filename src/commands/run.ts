/** `condor-autoscaler run`: the daemon. */
import { createBackends } from "../backends.js";
import { poolPolicy } from "../config/policies.js";
import { Daemon } from "../daemon/daemon.js";
import { createLog, type LogSettings } from "../daemon/log.js";
import { wallClock } from "../model/clock.js";
import { seededRandom } from "../random.js";
import { loadOrExit } from "./load.js";

export interface RunOptions {
  config: string;
  dryRun: boolean;
  once: boolean;
  logFormat?: LogSettings["format"];
  logLevel?: LogSettings["level"];
}

export async function runCommand(options: RunOptions): Promise<number> {
  const config = await loadOrExit(options.config);
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
  const backends = createBackends(config, log, { readOnly: options.dryRun });
  const floor = policy.clouds.reduce((sum, cloud) => sum + cloud.minWorkers, 0);
  const daemon = new Daemon({
    policy,
    tickInterval: config.global.tickInterval,
    sources: backends,
    clock: backends.clock,
    log,
    dryRun: options.dryRun,
    random: seededRandom(Date.now() & 0xffffffff),
    stampClock: backends.clock !== wallClock,
    ...(backends.workloadDone === undefined
      ? {}
      : {
          // A simulated workload that has played out, with the clouds back at their minimum, is the end of the story.
          stopWhen: (result) =>
            backends.workloadDone?.() === true &&
            result.snapshot.workers.filter((w) => w.state !== "gone").length <= floor,
        }),
  });

  if (options.once) {
    await daemon.tick();
    return 0;
  }
  let signalled = false;
  const stop = (signal: string) => {
    signalled = true;
    log.info({ signal }, `${signal}: stopping after the current tick`);
    void daemon.stop();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  await daemon.run();
  const at =
    backends.clock === wallClock ? {} : { at: new Date(backends.clock.now() * 1000).toISOString() };
  log.info(
    { ticks: daemon.ticks, ...at },
    simulated && !signalled ? "simulated workload played out; stopped" : "stopped",
  );
  return 0;
}
