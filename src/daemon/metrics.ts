/**
 * Prometheus metrics of the daemon, fed by every tick's report. Own registry (not prom-client's
 * global one), every name prefixed `condor_autoscaler_`. Gauges describe the last complete tick and
 * are rebuilt from it, so a cloud removed from the policy disappears from them; counters only grow.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { TICK_DURATION_BUCKETS } from "../config/defaults.js";
import { ERROR_KINDS } from "../model/errors.js";
import type { TerminateAction, TerminationCause } from "../model/plan.js";
import type { CallOutcome } from "../policy/backoff.js";
import type { TickFailure, TickObserver, TickReport } from "./report.js";
import { workerCounts } from "./status.js";

const PREFIX = "condor_autoscaler_";
const CAUSES: readonly TerminationCause[] = ["idle", "stuck", "failed"];

export interface MetricsOptions {
  /** Also collect prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). */
  processMetrics?: boolean;
}

export class Metrics implements TickObserver {
  readonly registry = new Registry();

  private readonly ticks = new Counter({
    name: `${PREFIX}ticks_total`,
    help: "Ticks run, by outcome: ok, error (it threw) or deadline (abandoned past its deadline)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  private readonly tickDuration = new Histogram({
    name: `${PREFIX}tick_duration_seconds`,
    help: "Real time each tick took, failed ones included",
    buckets: [...TICK_DURATION_BUCKETS],
    registers: [this.registry],
  });
  private readonly lastTick = this.gauge(
    "last_tick_timestamp_seconds",
    "When the last complete tick ended (epoch seconds, the daemon's clock)",
    [],
  );
  private readonly idleJobs = this.gauge(
    "idle_jobs",
    "Idle jobs counted as demand for the cloud at the last tick",
    ["cloud"],
  );
  private readonly demandedCpus = this.gauge("demanded_cpus", "CPUs those idle jobs ask for", [
    "cloud",
  ]);
  private readonly workers = this.gauge(
    "workers",
    "Our workers at the last tick, by state (booting, stuck, idle, busy, failed, gone)",
    ["cloud", "state"],
  );
  private readonly backoffActive = this.gauge(
    "backoff_active",
    "1 while launches into the cloud are backing off (as of the last tick)",
    ["cloud"],
  );
  private readonly backoffRemaining = this.gauge(
    "backoff_seconds_remaining",
    "Seconds of backoff left when the last tick ended",
    ["cloud"],
  );
  private readonly disabled = this.gauge(
    "cloud_disabled",
    "1 when an auth or config error disabled the cloud until the config is reloaded",
    ["cloud"],
  );
  private readonly headroomInstances = this.gauge(
    "headroom_instances",
    "Instances the cloud's quota still allows (only when the cloud reports it)",
    ["cloud"],
  );
  private readonly headroomCpus = this.gauge(
    "headroom_cpus",
    "CPUs the cloud's quota still allows (only when the cloud reports it)",
    ["cloud"],
  );
  private readonly headroomMemory = this.gauge(
    "headroom_memory_mb",
    "Memory (MB) the cloud's quota still allows (only when the cloud reports it)",
    ["cloud"],
  );
  private readonly gaps = this.gauge(
    "observation_gaps",
    "What the last tick's observation could not see (0 when complete)",
    [],
  );
  private readonly launches = new Counter({
    name: `${PREFIX}launches_total`,
    help: "Workers launched (what the cloud created, not what was asked)",
    labelNames: ["cloud"] as const,
    registers: [this.registry],
  });
  private readonly terminations = new Counter({
    name: `${PREFIX}terminations_total`,
    help: "Workers terminated, by cause (idle, stuck, failed)",
    labelNames: ["cloud", "cause"] as const,
    registers: [this.registry],
  });
  private readonly providerErrors = new Counter({
    name: `${PREFIX}provider_errors_total`,
    help: "Errors answered by cloud calls (launch, terminate), by kind",
    labelNames: ["cloud", "kind"] as const,
    registers: [this.registry],
  });

  private readonly listFailures = new Counter({
    name: `${PREFIX}list_failures_total`,
    help: "Failed listings of a cloud's instances (each leaves that cloud unobserved for the tick), by kind",
    labelNames: ["cloud", "kind"] as const,
    registers: [this.registry],
  });
  private readonly sourceLastSuccess = this.gauge(
    "source_last_success_timestamp_seconds",
    "When each source last answered (epoch seconds): source queue, collector, or listing (with its cloud)",
    ["source", "cloud"],
  );

  constructor(options: MetricsOptions = {}) {
    for (const outcome of ["ok", "error", "deadline"]) this.ticks.labels({ outcome }).inc(0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The Content-Type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format, for GET /metrics. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  tickCompleted(report: TickReport): void {
    const { snapshot, plan, outcomes, memory } = report.result;
    this.ticks.labels({ outcome: "ok" }).inc();
    this.tickDuration.observe(report.durationSeconds);
    this.lastTick.set(report.completedAt);
    this.gaps.set(snapshot.gaps.length);

    for (const gauge of this.perCloud) gauge.reset();
    const lastOk = (source: string, cloud: string, at: number | undefined) => {
      if (at !== undefined) this.sourceLastSuccess.labels({ source, cloud }).set(at);
    };
    lastOk("queue", "", memory.sources?.queue?.lastOk);
    lastOk("collector", "", memory.sources?.machines?.lastOk);
    for (const gap of snapshot.gaps)
      if (gap.source === "cloud" && gap.cloud !== undefined)
        this.listFailures.labels({ cloud: gap.cloud, kind: gap.kind ?? "transient" }).inc();
    for (const cloud of report.policy.clouds) {
      const name = cloud.name;
      const demand = plan.demand[name];
      this.idleJobs.labels({ cloud: name }).set(demand?.idleJobs ?? 0);
      this.demandedCpus.labels({ cloud: name }).set(demand?.cpus ?? 0);
      const counts = workerCounts(plan.workers.filter((w) => w.cloud === name));
      for (const [state, count] of Object.entries(counts))
        this.workers.labels({ cloud: name, state }).set(count);

      const state = memory.clouds[name];
      const until = state?.backoff?.until ?? Number.NEGATIVE_INFINITY;
      const left = Math.max(0, until - report.completedAt);
      this.backoffActive.labels({ cloud: name }).set(left > 0 ? 1 : 0);
      this.backoffRemaining.labels({ cloud: name }).set(left);
      this.disabled.labels({ cloud: name }).set(state?.disabled === undefined ? 0 : 1);

      const headroom = snapshot.clouds[name]?.headroom;
      if (headroom?.instances !== undefined)
        this.headroomInstances.labels({ cloud: name }).set(headroom.instances);
      if (headroom?.cpus !== undefined)
        this.headroomCpus.labels({ cloud: name }).set(headroom.cpus);
      if (headroom?.memoryMb !== undefined)
        this.headroomMemory.labels({ cloud: name }).set(headroom.memoryMb);

      // Counters start at 0 for every configured cloud, so rates work from the first increment.
      this.launches.labels({ cloud: name }).inc(0);
      for (const cause of CAUSES) this.terminations.labels({ cloud: name, cause }).inc(0);
      for (const kind of ERROR_KINDS) {
        this.providerErrors.labels({ cloud: name, kind }).inc(0);
        this.listFailures.labels({ cloud: name, kind }).inc(0);
      }
      lastOk("listing", name, state?.listing?.lastOk);
    }

    const terminateActions = plan.actions.filter(
      (action): action is TerminateAction => action.kind === "terminate",
    );
    for (const outcome of outcomes) {
      if (outcome.operation === "launch") {
        this.launches.labels({ cloud: outcome.cloud }).inc(outcome.succeeded);
      } else {
        const actions = terminateActions.filter((action) => action.cloud === outcome.cloud);
        for (const [cause, count] of terminatedByCause(outcome, actions))
          this.terminations.labels({ cloud: outcome.cloud, cause }).inc(count);
      }
      for (const error of [
        ...(outcome.error === undefined ? [] : [outcome.error]),
        ...(outcome.scopeErrors ?? []),
      ])
        this.providerErrors.labels({ cloud: outcome.cloud, kind: error.kind }).inc();
    }
  }

  tickFailed(failure: TickFailure): void {
    this.ticks.labels({ outcome: failure.reason }).inc();
    this.tickDuration.observe(failure.durationSeconds);
  }

  /** Gauges labelled by cloud: rebuilt from each complete tick. */
  private get perCloud(): ReadonlyArray<Gauge<string>> {
    return [
      this.idleJobs,
      this.demandedCpus,
      this.workers,
      this.backoffActive,
      this.backoffRemaining,
      this.disabled,
      this.headroomInstances,
      this.headroomCpus,
      this.headroomMemory,
    ];
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name: `${PREFIX}${name}`, help, labelNames, registers: [this.registry] });
  }
}

/**
 * How many of a terminate call's instances went, per cause. The call covers all of the cloud's
 * terminate actions; each id gone takes the cause of the action that named it. When the provider
 * did not say which ids went, the first `succeeded` ids of the actions are counted.
 */
function terminatedByCause(
  outcome: CallOutcome,
  actions: readonly TerminateAction[],
): Map<TerminationCause, number> {
  const causeOf = new Map<string, TerminationCause>();
  for (const action of actions) for (const id of action.instanceIds) causeOf.set(id, action.cause);
  const gone = outcome.instanceIds ?? [...causeOf.keys()].slice(0, outcome.succeeded);
  const counts = new Map<TerminationCause, number>();
  for (const id of gone) {
    const cause = causeOf.get(id);
    if (cause !== undefined) counts.set(cause, (counts.get(cause) ?? 0) + 1);
  }
  return counts;
}
