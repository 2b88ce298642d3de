/**
 * The daemon as a service: its backends and start checks, the loop, the status endpoint, signals
 * (SIGTERM/SIGINT stop after the current tick, SIGHUP reloads) and the state file. `run` is the
 * command in front of it.
 */
import type Logger from "bunyan";
import { createBackends } from "../backends.js";
import { isLoopback } from "../config/loopback.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { wallClock } from "../model/clock.js";
import { emptyMemory } from "../model/memory.js";
import type { PoolPolicy } from "../model/policy.js";
import { seededRandom } from "../random.js";
import { Daemon } from "./daemon.js";
import { HangupReload } from "./hangup-reload.js";
import { Metrics } from "./metrics.js";
import { logPreflight } from "./start-checks.js";
import { loadState, memoryOf, StateKeeper } from "./state-file.js";
import { StatusTracker } from "./status.js";
import { type StatusServer, startStatusServer } from "./status-server.js";
import { readStatusToken } from "./status-token.js";

export interface ServiceOptions {
  /** The config directory, read again on SIGHUP. */
  config: string;
  dryRun: boolean;
  once: boolean;
  /** Keep which workers have joined here, across restarts. */
  state?: string;
}

export async function serve(
  options: ServiceOptions,
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
  const hangup = new HangupReload(
    { config, backends },
    { configDir: options.config, dryRun: options.dryRun, daemon, status, log },
  );
  hangup.listen();
  await daemon.run();
  await hangup.close();
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
