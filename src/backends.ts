/**
 * Builds what a configuration talks to: the HTCondor pool and one provider per cloud. The only
 * place that knows every kind of backend.
 */
import type Logger from "bunyan";
import { HTCondorPool } from "./condor/htcondor.js";
import type { CondorPool } from "./condor/pool.js";
import type { AutoscalerConfig } from "./config/schema.js";
import { type Clock, wallClock } from "./model/clock.js";
import type { ProviderContext } from "./providers/context.js";
import type { Provider } from "./providers/provider.js";
import { realProvider } from "./providers/registry.js";
import { SimulatedCloud } from "./providers/simulated.js";
import { userDataRenderer } from "./providers/user-data.js";
import { seededRandom } from "./random.js";
import { AcceleratedClock } from "./sim/clock.js";
import { type PoolEvent, SimulatedPool } from "./sim/pool.js";
import { scenario } from "./sim/scenarios.js";

export interface Backends {
  condor: CondorPool;
  providers: Map<string, Provider>;
  clock: Clock;
  /** Set when the pool is simulated: its workload has played out. */
  workloadDone?: () => boolean;
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

export async function createBackends(
  config: AutoscalerConfig,
  log: Logger,
  options: { clock?: Clock; readOnly?: boolean } = {},
): Promise<Backends> {
  const condor = config.global.condor;
  const clock =
    options.clock ??
    (condor.kind === "simulated" && condor.clockSpeed !== 1
      ? new AcceleratedClock(condor.clockSpeed)
      : wallClock);
  const random = seededRandom(condor.kind === "simulated" ? condor.seed : Date.now() & 0xffffffff);
  const simulated: SimulatedCloud[] = [];
  const providers = new Map<string, Provider>();
  for (const cloud of config.clouds) {
    const settings = cloud.provider;
    if (settings.kind === "simulated") {
      const provider = new SimulatedCloud({
        pool: config.global.pool,
        cloud: cloud.name,
        shape: cloud.worker,
        settings,
        clock,
        random,
      });
      simulated.push(provider);
      providers.set(cloud.name, provider);
      continue;
    }
    const context: ProviderContext = {
      pool: config.global.pool,
      cloud: cloud.name,
      shape: cloud.worker,
      clock,
      log: log.child({ cloud: cloud.name }),
      readOnly: options.readOnly ?? false,
      userData: userDataRenderer(config, cloud),
    };
    providers.set(cloud.name, await realProvider(settings, context));
  }

  switch (condor.kind) {
    case "htcondor":
      return {
        condor: new HTCondorPool(
          condor,
          config.global.pool,
          clock,
          log.child({ component: "condor" }),
        ),
        providers,
        clock,
      };
    case "simulated": {
      const simLog = log.child({ component: "sim" });
      const pool = new SimulatedPool({
        pool: config.global.pool,
        clock,
        jobs: scenario(condor.scenario, random),
        fleets: simulated,
        negotiationInterval: condor.negotiationInterval,
        onEvent: (event) =>
          simLog.info({ event, at: new Date(event.at * 1000).toISOString() }, describeEvent(event)),
      });
      return { condor: pool, providers, clock, workloadDone: () => pool.finished() };
    }
  }
}
