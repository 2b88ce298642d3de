/**
 * The simulated pool as a backend of the daemon (`run` without --config is the demo, and any
 * config with `condor: {kind: simulated}`): its clock, its scripted workload and its log of what
 * happens in the pool. The one place the production composition root reaches into src/sim.
 */
import type Logger from "bunyan";
import type { SimulatedCondorSettings } from "../config/schema.js";
import { type Clock, wallClock } from "../model/clock.js";
import type { SimulatedCloud } from "../providers/simulated.js";
import type { Random } from "../random.js";
import { AcceleratedClock } from "./clock.js";
import { type PoolEvent, SimulatedPool } from "./pool.js";
import { scenario } from "./scenarios.js";

/** The demo's clock: faster than real time by clockSpeed. */
export function simulatedClock(settings: SimulatedCondorSettings): Clock {
  return settings.clockSpeed === 1 ? wallClock : new AcceleratedClock(settings.clockSpeed);
}

function describeEvent(event: PoolEvent): string {
  switch (event.kind) {
    case "submitted":
      return `${event.jobs} job${event.jobs === 1 ? "" : "s"} submitted`;
    case "joined":
      return `${event.machine} joined the pool (${event.cloud})`;
    case "left":
      return `${event.machine} left the pool${event.evicted > 0 ? `, ${event.evicted} running jobs evicted` : ""}`;
    case "negotiated":
      return `negotiator matched ${event.started} job${event.started === 1 ? "" : "s"} (${event.idle} still idle)`;
    case "finished":
      return `${event.jobs} job${event.jobs === 1 ? "" : "s"} finished`;
  }
}

/** The simulated pool over the simulated clouds, its scenario's jobs submitted as it runs. */
export function simulatedPool(
  settings: SimulatedCondorSettings,
  pool: string,
  fleets: readonly SimulatedCloud[],
  clock: Clock,
  random: Random,
  log: Logger,
): SimulatedPool {
  const simLog = log.child({ component: "sim" });
  return new SimulatedPool({
    pool,
    clock,
    jobs: scenario(settings.scenario, random),
    fleets: [...fleets],
    negotiationInterval: settings.negotiationInterval,
    onEvent: (event) =>
      simLog.info({ event, at: new Date(event.at * 1000).toISOString() }, describeEvent(event)),
  });
}
