/**
 * What GET /status and GET /healthz answer: the last complete tick as a JSON document, and whether
 * the daemon is still ticking. Fed by the daemon as a TickObserver; times are the daemon's clock.
 */

import { DEFAULT_SOURCE_STALE_AFTER, HEALTH_STALE_TICKS } from "../config/defaults.js";
import { formatDuration } from "../config/duration.js";
import type { Clock } from "../model/clock.js";
import type { ErrorKind } from "../model/errors.js";
import type { Sight } from "../model/memory.js";
import type { Action, CloudDemand, UnfitJobs, WorkerReport } from "../model/plan.js";
import type { Headroom, ObservationGap } from "../model/snapshot.js";
import type { PoolInstance } from "../providers/provider.js";
import type { TickFailure, TickObserver, TickReport } from "./report.js";

export type ReportedState = WorkerReport["state"];

/** Workers per state, every state present (0 when none). */
export function workerCounts(
  workers: ReadonlyArray<{ state: ReportedState }>,
): Record<ReportedState, number> {
  const counts: Record<ReportedState, number> = {
    booting: 0,
    stuck: 0,
    missing: 0,
    idle: 0,
    busy: 0,
    failed: 0,
    gone: 0,
  };
  for (const worker of workers) counts[worker.state] += 1;
  return counts;
}

// ---- The /status document (a public contract: extend, never rename) ----

export interface StatusWorker {
  cloud: string;
  name: string;
  instanceId: string;
  state: ReportedState;
  /** When the cloud created the instance (epoch seconds); null when not known. */
  launchedAt: number | null;
  idleSeconds: number | null;
  image: string | null;
}

export interface StatusCloud {
  name: string;
  minWorkers: number;
  maxWorkers: number;
  workers: Record<ReportedState, number>;
  /** Backoff of launches into the whole cloud, while it lasts. */
  backoff: {
    kind: ErrorKind;
    until: number;
    secondsLeft: number;
    failures: number;
    message: string;
  } | null;
  disabled: { kind: ErrorKind; message: string; since: number } | null;
  /** Whether the last tick listed the cloud, when it last did, and since when it fails. */
  observed: {
    listed: boolean;
    lastListedAt: number | null;
    failingSince: number | null;
    failures: number;
  };
  /** What the cloud's quota still allows; null when the cloud does not say. */
  headroom: Headroom | null;
  demand: CloudDemand;
}

export interface StatusDocument {
  pool: string;
  /** When this document was made (epoch seconds, the daemon's clock). */
  generatedAt: number;
  health: HealthVerdict;
  /** The last complete tick, which everything below describes; null before the first. */
  lastTick: {
    tick: number;
    startedAt: number;
    completedAt: number;
    durationSeconds: number;
  } | null;
  /** The last tick that failed (threw or overran its deadline), if any did. */
  lastFailure: TickFailure | null;
  /** Ticks that failed since the last complete one. */
  failuresSinceLastTick: number;
  workers: StatusWorker[];
  clouds: StatusCloud[];
  /** What the last observation could not see; empty when it was complete. */
  gaps: ObservationGap[];
  unfit: UnfitJobs | null;
  notes: string[];
  actions: Action[];
  /**
   * Instances of the pool in clouds that are not configured, found at start and at each reload:
   * they run on unmanaged.
   */
  unconfigured: PoolInstance[];
}

export interface HealthVerdict {
  healthy: boolean;
  message: string;
}

export interface StatusTrackerOptions {
  pool: string;
  /** Seconds between ticks (the global `tickInterval`). */
  tickInterval: number;
  /** Seconds after which a running tick is abandoned. */
  tickDeadline: number;
  /** A source failing this long makes the daemon unhealthy; default DEFAULT_SOURCE_STALE_AFTER. */
  staleAfter?: number;
  /** The daemon's clock. */
  clock: Clock;
}

function limitOf(tickInterval: number, tickDeadline: number): number {
  return HEALTH_STALE_TICKS * tickInterval + tickDeadline;
}

const NO_DEMAND: CloudDemand = { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 };

/** Sources failing for `staleAfter` or longer, and disabled clouds: why the daemon is unhealthy. */
function sourceProblems(report: TickReport, now: number, staleAfter: number): string[] {
  const { memory } = report.result;
  const problems: string[] = [];
  const stale = (what: string, sight: Sight | undefined) => {
    if (sight?.failingSince === undefined || now - sight.failingSince < staleAfter) return;
    problems.push(
      `${what} failing for ${formatDuration(now - sight.failingSince)}: ${sight.message ?? ""}`,
    );
  };
  stale("the queue (condor_q)", memory.sources?.queue);
  stale("the collector (condor_status)", memory.sources?.machines);
  for (const cloud of report.policy.clouds) {
    const state = memory.clouds[cloud.name];
    if (state?.disabled !== undefined)
      problems.push(
        `${cloud.name} disabled (${state.disabled.kind}) until the config is reloaded: ${state.disabled.message}`,
      );
    else stale(`${cloud.name}'s listing`, state?.listing);
  }
  return problems;
}

export class StatusTracker implements TickObserver {
  private last: TickReport | undefined;
  private lastFailure: TickFailure | undefined;
  private failuresSinceLastTick = 0;
  private unconfigured: PoolInstance[] = [];
  private readonly startedAt: number;
  /** A complete tick older than this (seconds) means the daemon is stuck or failing. */
  healthLimit: number;

  constructor(private readonly options: StatusTrackerOptions) {
    this.startedAt = options.clock.now();
    this.healthLimit = limitOf(options.tickInterval, options.tickDeadline);
  }

  /** After a reload that changed the tick interval or deadline. */
  retime(tickInterval: number, tickDeadline: number): void {
    this.healthLimit = limitOf(tickInterval, tickDeadline);
  }

  tickCompleted(report: TickReport): void {
    this.last = report;
    this.failuresSinceLastTick = 0;
  }

  tickFailed(failure: TickFailure): void {
    this.lastFailure = failure;
    this.failuresSinceLastTick += 1;
  }

  health(): HealthVerdict {
    const now = this.options.clock.now();
    const limit = formatDuration(this.healthLimit);
    const failed =
      this.lastFailure === undefined || this.failuresSinceLastTick === 0
        ? ""
        : `; ${this.failuresSinceLastTick} failed since (last: ${this.lastFailure.reason}: ${this.lastFailure.message})`;
    if (this.last === undefined) {
      const waited = now - this.startedAt;
      return waited <= this.healthLimit
        ? { healthy: true, message: `ok: starting, no tick yet` }
        : {
            healthy: false,
            message: `no tick yet, ${formatDuration(waited)} after start (limit ${limit})${failed}`,
          };
    }
    const age = now - this.last.completedAt;
    if (age > this.healthLimit)
      return {
        healthy: false,
        message: `last complete tick (${this.last.tick}) ended ${formatDuration(age)} ago (limit ${limit})${failed}`,
      };
    const problems = sourceProblems(
      this.last,
      now,
      this.options.staleAfter ?? DEFAULT_SOURCE_STALE_AFTER,
    );
    return problems.length === 0
      ? { healthy: true, message: "ok" }
      : { healthy: false, message: problems.join("; ") };
  }

  /** What the preflight found of the pool in clouds that are not configured. */
  setUnconfigured(instances: readonly PoolInstance[]): void {
    this.unconfigured = [...instances];
  }

  document(): StatusDocument {
    const now = this.options.clock.now();
    const report = this.last;
    const base = {
      pool: report?.policy.pool ?? this.options.pool,
      generatedAt: now,
      health: this.health(),
      lastFailure: this.lastFailure ?? null,
      failuresSinceLastTick: this.failuresSinceLastTick,
      unconfigured: this.unconfigured,
    };
    if (report === undefined) {
      return {
        ...base,
        lastTick: null,
        workers: [],
        clouds: [],
        gaps: [],
        unfit: null,
        notes: [],
        actions: [],
      };
    }
    const { snapshot, plan, memory } = report.result;
    const observed = new Map(snapshot.workers.map((w) => [`${w.cloud}/${w.instanceId}`, w]));
    const workers = plan.workers.map((w): StatusWorker => {
      const seen = observed.get(`${w.cloud}/${w.instanceId}`);
      return {
        cloud: w.cloud,
        name: w.name,
        instanceId: w.instanceId,
        state: w.state,
        launchedAt: seen?.launchedAt ?? null,
        idleSeconds: w.idleSeconds,
        image: seen?.image ?? null,
      };
    });
    const clouds = report.policy.clouds.map((cloud): StatusCloud => {
      const state = memory.clouds[cloud.name];
      const backoff = state?.backoff;
      return {
        name: cloud.name,
        minWorkers: cloud.minWorkers,
        maxWorkers: cloud.maxWorkers,
        workers: workerCounts(workers.filter((w) => w.cloud === cloud.name)),
        backoff:
          backoff === undefined || backoff.until <= now
            ? null
            : {
                kind: backoff.kind,
                until: backoff.until,
                secondsLeft: backoff.until - now,
                failures: backoff.failures,
                message: backoff.message,
              },
        disabled: state?.disabled ?? null,
        observed: {
          listed: !snapshot.gaps.some((g) => g.source === "cloud" && g.cloud === cloud.name),
          lastListedAt: state?.listing?.lastOk ?? null,
          failingSince: state?.listing?.failingSince ?? null,
          failures: state?.listing?.failures ?? 0,
        },
        headroom: snapshot.clouds[cloud.name]?.headroom ?? null,
        demand: plan.demand[cloud.name] ?? NO_DEMAND,
      };
    });
    return {
      ...base,
      lastTick: {
        tick: report.tick,
        startedAt: report.startedAt,
        completedAt: report.completedAt,
        durationSeconds: report.durationSeconds,
      },
      workers,
      clouds,
      gaps: [...snapshot.gaps],
      unfit: plan.unfit,
      notes: plan.notes,
      actions: plan.actions,
    };
  }
}
