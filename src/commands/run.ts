/** `condor-autoscaler run`: the daemon. */

import type Logger from "bunyan";
import { type Backends, createBackends } from "../backends.js";
import { loadConfig } from "../config/load.js";
import { isLoopback } from "../config/loopback.js";
import { poolPolicy } from "../config/policies.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { Daemon } from "../daemon/daemon.js";
import { closeLog, createLog, type LogSettings } from "../daemon/log.js";
import { Metrics } from "../daemon/metrics.js";
import { acquirePidfile, type Pidfile, PidfileError } from "../daemon/pidfile.js";
import { loadState, memoryOf, StateKeeper } from "../daemon/state-file.js";
import { StatusTracker } from "../daemon/status.js";
import { type StatusServer, startStatusServer } from "../daemon/status-server.js";
import { readStatusToken } from "../daemon/status-token.js";
import { wallClock } from "../model/clock.js";
import { ConfigError } from "../model/errors.js";
import { emptyMemory } from "../model/memory.js";
import type { PoolPolicy } from "../model/policy.js";
import { preflight } from "../preflight/preflight.js";
import type { PoolInstance } from "../providers/provider.js";
import { seededRandom } from "../random.js";
import { reloadBackends } from "../reload.js";
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
    return await runDaemon(options, config, log, policy);
  } finally {
    await pidfile?.release();
    await closeLog(log);
  }
}

/**
 * The checks of `check`, logged at start: a failure is a warning with its fix, never a refusal
 * (a cloud that is down now may answer at the next tick). Returns the instances of the pool in
 * clouds that are not configured, for /status.
 */
async function logPreflight(
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

async function runDaemon(
  options: RunOptions,
  config: AutoscalerConfig,
  log: Logger,
  policy: PoolPolicy,
): Promise<number> {
  const simulated = config.global.condor.kind === "simulated";
  const backends = await createBackends(config, log, { readOnly: options.dryRun });
  const unconfigured = simulated ? [] : await logPreflight(config, backends, log);
  const metrics = new Metrics();
  const status = new StatusTracker({
    pool: policy.pool,
    tickInterval: config.global.tickInterval,
    tickDeadline: config.global.tickDeadline,
    staleAfter: config.global.status.staleAfter,
    clock: backends.clock,
  });
  status.setUnconfigured(unconfigured);
  const floor = policy.clouds.reduce((sum, cloud) => sum + cloud.minWorkers, 0);
  const previous =
    options.state === undefined ? undefined : await loadState(options.state, policy.pool, log);
  const memory = previous === undefined ? emptyMemory() : memoryOf(previous);
  if (previous !== undefined) {
    const joined = Object.values(previous.clouds).reduce((n, c) => n + c.joined.length, 0);
    log.info({ state: options.state }, `state file: ${joined} workers known to have joined`);
  }
  // A dry run changes nothing, the state file included.
  const keeper =
    options.state === undefined || options.dryRun
      ? undefined
      : new StateKeeper(options.state, policy.pool, log, memory);
  const daemon = new Daemon({
    memory,
    ...(keeper === undefined ? {} : { recordIntents: (next) => keeper.record(next) }),
    policy,
    tickInterval: config.global.tickInterval,
    tickDeadline: config.global.tickDeadline,
    sources: backends,
    clock: backends.clock,
    log,
    dryRun: options.dryRun,
    random: seededRandom(Date.now() & 0xffffffff),
    stampClock: backends.clock !== wallClock,
    observers: keeper === undefined ? [metrics, status] : [metrics, status, keeper],
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
    await keeper?.flush();
    return 0;
  }
  // A daemon that cannot serve /healthz and /metrics would be blind to its operators: fatal.
  let server: StatusServer;
  const { tokenFile, ...endpoint } = config.global.status;
  try {
    const token = tokenFile === undefined ? undefined : await readStatusToken(tokenFile);
    server = await startStatusServer({
      ...endpoint,
      ...(token === undefined ? {} : { token }),
      metrics,
      status: () => status.document(),
      health: () => status.health(),
      log: log.child({ component: "status" }),
    });
  } catch (error) {
    // The error names the endpoint already ("status endpoint: cannot listen on …").
    const why = error instanceof Error ? error.message : String(error);
    log.fatal(why);
    process.stderr.write(`${why}\n`);
    return 1;
  }
  if (!isLoopback(server.address))
    log.warn(
      { address: server.address },
      `status endpoint on ${server.url} is reachable from other hosts: every request must carry the token in ${tokenFile}, which crosses the network in plain HTTP (keep to a trusted network, or put a TLS proxy in front)`,
    );
  let signalled = false;
  const stop = (signal: string) => {
    signalled = true;
    log.info({ signal }, `${signal}: stopping after the current tick`);
    void daemon.stop();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  // SIGHUP (systemctl reload): a valid directory takes effect at the next tick; an invalid one
  // is rejected with its file:line problems and the running configuration stays.
  let running = { config, backends };
  let reloading = Promise.resolve();
  const reload = async () => {
    log.info({ signal: "SIGHUP", config: options.config }, `SIGHUP: reloading ${options.config}`);
    let next: AutoscalerConfig;
    try {
      next = await loadConfig(options.config);
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [];
      log.error(
        { problems },
        `reload rejected, the running configuration stays: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    let nextBackends: Backends;
    try {
      nextBackends = await reloadBackends(running, next, log, { readOnly: options.dryRun });
    } catch (error) {
      log.error(
        `reload rejected, the running configuration stays: ${error instanceof Error ? error.message : String(error)}`,
      );
      return;
    }
    running = { config: next, backends: nextBackends };
    status.retime(next.global.tickInterval, next.global.tickDeadline);
    daemon.reload({
      policy: poolPolicy(next),
      sources: nextBackends,
      tickInterval: next.global.tickInterval,
      tickDeadline: next.global.tickDeadline,
    });
    log.info(
      { clouds: next.clouds.map((c) => c.name) },
      "reload accepted: it takes effect at the next tick (logging and status settings need a restart)",
    );
  };
  const onHangup = () => {
    reloading = reloading.then(reload);
  };
  process.on("SIGHUP", onHangup);
  await daemon.run();
  process.off("SIGHUP", onHangup);
  await reloading;
  await keeper?.flush();
  await server.close();
  const at =
    backends.clock === wallClock ? {} : { at: new Date(backends.clock.now() * 1000).toISOString() };
  log.info(
    { ticks: daemon.ticks, ...at },
    simulated && !signalled ? "simulated workload played out; stopped" : "stopped",
  );
  return 0;
}
