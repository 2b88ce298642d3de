/**
 * Builds what a configuration talks to: the HTCondor pool (real, or simulated through
 * sim/demo.ts) and one provider per cloud (providers/registry.ts for the real kinds).
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
import { simulatedClock, simulatedPool } from "./sim/demo.js";

export interface Backends {
  condor: CondorPool;
  providers: Map<string, Provider>;
  clock: Clock;
  /** Set when the pool is simulated: its workload has played out. */
  workloadDone?: () => boolean;
}

export async function createBackends(
  config: AutoscalerConfig,
  log: Logger,
  options: { clock?: Clock; readOnly?: boolean } = {},
): Promise<Backends> {
  const condor = config.global.condor;
  const clock = options.clock ?? (condor.kind === "simulated" ? simulatedClock(condor) : wallClock);
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
      const pool = simulatedPool(condor, config.global.pool, simulated, clock, random, log);
      return { condor: pool, providers, clock, workloadDone: () => pool.finished() };
    }
  }
}
