/**
 * Partial observation for the simulator: the faults a competitive cloud and a real pool meet,
 * laid over the simulated pool and clouds as the tick sees them (never over the truth the report
 * and the invariants use):
 * - collector restarts: every `every` seconds the collector restarts and shows no ads for
 *   `duration` seconds (the startds' next updates: at most UPDATE_INTERVAL, 300 s by default);
 * - listing lag: an instance appears in its cloud's listing `listingLag` seconds after its launch;
 * - a broken cloud: every listing of it answers `auth` (expired credentials).
 */
import type { CondorPool, JobSelector } from "../condor/pool.js";
import type { Clock } from "../model/clock.js";
import { ProviderError } from "../model/errors.js";
import type { Headroom, IdleJob, Instance, StartdMachine } from "../model/snapshot.js";
import type {
  LaunchRequest,
  LaunchResult,
  Provider,
  TerminateResult,
} from "../providers/provider.js";

export interface PartialObservation {
  collectorRestart?: { every: number; duration: number };
  listingLag?: number;
  brokenCloud?: string;
}

/** `--chaos`: a collector restart every 6 hours that hides every ad for 5 minutes, and 90 s of listing lag. */
export const CHAOS_DEFAULTS: PartialObservation = {
  collectorRestart: { every: 6 * 3600, duration: 300 },
  listingLag: 90,
};

/** The simulated pool as the tick sees it, with the collector's restarts. */
export class RestartingCollector implements CondorPool {
  constructor(
    private readonly pool: CondorPool,
    private readonly clock: Clock,
    private readonly start: number,
    private readonly restart: { every: number; duration: number },
  ) {}

  /** The collector is restarting now: it answers, with no ads. */
  restarting(): boolean {
    return (this.clock.now() - this.start) % this.restart.every < this.restart.duration;
  }

  idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]> {
    return this.pool.idleJobs(selectors);
  }

  machines(): Promise<StartdMachine[]> {
    return this.restarting() ? Promise.resolve([]) : this.pool.machines();
  }

  collectorUptime(): Promise<number | undefined> {
    return Promise.resolve((this.clock.now() - this.start) % this.restart.every);
  }
}

/** A simulated cloud as the tick sees it: its listing lags, or it is refused altogether. */
export class ObservedCloud implements Provider {
  readonly cloud: string;
  readonly headroom?: () => Promise<Headroom>;

  constructor(
    private readonly provider: Provider,
    private readonly clock: Clock,
    private readonly lag: number,
    private readonly broken: boolean,
  ) {
    this.cloud = provider.cloud;
    const headroom = provider.headroom?.bind(provider);
    if (headroom !== undefined) this.headroom = headroom;
  }

  async list(): Promise<Instance[]> {
    if (this.broken)
      throw new ProviderError(
        "auth",
        "AuthFailure: AWS was not able to validate the provided access credentials (simulated)",
      );
    const now = this.clock.now();
    return (await this.provider.list()).filter((instance) => now - instance.launchedAt >= this.lag);
  }

  launch(request: LaunchRequest): Promise<LaunchResult> {
    return this.provider.launch(request);
  }

  terminate(instanceIds: readonly string[]): Promise<TerminateResult> {
    return this.provider.terminate(instanceIds);
  }
}
