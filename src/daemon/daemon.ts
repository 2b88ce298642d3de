/**
 * The daemon's loop. A plain timer looks every second; a tick runs when one is due by the daemon's
 * clock, so any tick interval works and an accelerated clock (demo) ticks faster. Ticks never
 * overlap; stop() lets the current tick finish. A tick past its deadline is abandoned: reported at
 * once, its remaining steps skipped, and the next tick waits until it has really ended.
 */
import type Logger from "bunyan";
import {
  DEFAULT_ACTION_CONCURRENCY,
  DEFAULT_TICK_DEADLINE,
  LOOP_POLL_INTERVAL,
} from "../config/defaults.js";
import { policyInForce } from "../config/schedules.js";
import type { Clock } from "../model/clock.js";
import { emptyMemory, type Memory } from "../model/memory.js";
import type { PoolPolicy } from "../model/policy.js";
import { rememberReload } from "../policy/backoff.js";
import type { Random } from "../random.js";
import type { Sources } from "../tick/observe.js";
import { runTick, summarise, type TickResult } from "../tick/tick.js";
import type { TickFailure, TickObserver } from "./report.js";

/** What a config reload may change. */
export interface DaemonSetup {
  policy: PoolPolicy;
  sources: Sources;
  /** Seconds between ticks, by the daemon's clock. */
  tickInterval: number;
  /** Real seconds a tick may run before it is abandoned. */
  tickDeadline: number;
}

export interface DaemonOptions extends Omit<DaemonSetup, "tickDeadline"> {
  /** Default: DEFAULT_TICK_DEADLINE. */
  tickDeadline?: number;
  clock: Clock;
  log: Logger;
  dryRun: boolean;
  random: Random;
  /** Told about every tick (metrics, the status endpoint). */
  observers?: readonly TickObserver[];
  /** Stop after the tick for which this says yes (the demo ends when its workload has played out). */
  stopWhen?: (result: TickResult) => boolean;
  /** Annotate log records with the daemon's clock (when it is not the wall clock). */
  stampClock?: boolean;
  /** What a previous run left (run --state); default: nothing remembered. */
  memory?: Memory;
  /** Writes launch intents down before the calls (run --state). */
  recordIntents?: (memory: Memory) => Promise<void>;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

export class Daemon {
  private memory: Memory = emptyMemory();
  private setup: DaemonSetup;
  private pending: DaemonSetup | undefined;
  private lastTickAt = Number.NEGATIVE_INFINITY;
  private current: Promise<TickResult | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped: (() => void) | undefined;
  private stopping = false;
  ticks = 0;
  lastResult: TickResult | undefined;

  constructor(private readonly options: DaemonOptions) {
    this.setup = {
      policy: options.policy,
      sources: options.sources,
      tickInterval: options.tickInterval,
      tickDeadline: options.tickDeadline ?? DEFAULT_TICK_DEADLINE,
    };
    if (options.memory !== undefined) this.memory = options.memory;
  }

  get policy(): PoolPolicy {
    return (this.pending ?? this.setup).policy;
  }

  /** A new configuration, taken up by the next tick (never in the middle of one). */
  reload(next: DaemonSetup): void {
    this.pending = next;
  }

  /** Runs one tick now (unless one is running, whose result is awaited instead). */
  async tick(): Promise<TickResult | undefined> {
    if (this.current !== undefined) return this.current;
    this.current = this.runOne().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  private applyPending(log: Logger): void {
    const next = this.pending;
    if (next === undefined) return;
    this.pending = undefined;
    const before = new Set(this.setup.policy.clouds.map((c) => c.name));
    const after = new Set(next.policy.clouds.map((c) => c.name));
    for (const cloud of before) {
      if (after.has(cloud)) continue;
      // Its workers are no longer ours to manage: left running, never mass-terminated.
      const workers = (this.lastResult?.snapshot.workers ?? []).filter(
        (w) => w.cloud === cloud && w.state !== "gone",
      );
      log.warn(
        { cloud, instanceIds: workers.map((w) => w.instanceId) },
        `cloud ${cloud} removed by the reload: its ${workers.length} workers are left running; terminate them yourself if they should go`,
      );
    }
    this.memory = rememberReload(this.memory, [...after]);
    this.setup = next;
    log.info(
      { clouds: [...after] },
      `configuration reloaded: clouds ${[...after].join(", ") || "none"}`,
    );
  }

  private async runOne(): Promise<TickResult | undefined> {
    const { clock, log: baseLog } = this.options;
    this.applyPending(baseLog);
    const { policy, sources, tickDeadline } = this.setup;
    const now = clock.now();
    this.lastTickAt = now;
    this.ticks += 1;
    const tick = this.ticks;
    const log = baseLog.child({
      tick,
      ...(this.options.stampClock ? { at: new Date(now * 1000).toISOString() } : {}),
    });
    const started = process.hrtime.bigint();
    let abandoned = false;
    const fail = (reason: TickFailure["reason"], message: string) => {
      for (const observer of this.options.observers ?? [])
        observer.tickFailed({
          tick,
          startedAt: now,
          durationSeconds: seconds(started),
          reason,
          message,
        });
    };
    const deadline = setTimeout(() => {
      abandoned = true;
      log.error(
        { deadlineSeconds: tickDeadline },
        `tick ${tick} overran its deadline of ${tickDeadline}s: abandoned, the steps it has not begun are skipped`,
      );
      fail("deadline", `overran its deadline of ${tickDeadline}s`);
    }, tickDeadline * 1000);
    try {
      const result = await runTick({
        ...sources,
        policy,
        memory: this.memory,
        now,
        dryRun: this.options.dryRun,
        concurrency: DEFAULT_ACTION_CONCURRENCY,
        random: this.options.random,
        log,
        overdue: () => abandoned,
        notesBefore: this.lastResult?.plan.notes ?? [],
        ...(this.options.recordIntents === undefined
          ? {}
          : { recordIntents: this.options.recordIntents }),
      });
      if (abandoned) {
        log.warn(`tick ${tick} ended after it was abandoned; its results are dropped`);
        return undefined;
      }
      this.memory = result.memory;
      this.lastResult = result;
      const durationSeconds = seconds(started);
      log.info(
        { summary: true, durationMs: Math.round(durationSeconds * 1000) },
        `tick ${tick}: ${summarise(result, this.options.dryRun)}`,
      );
      for (const observer of this.options.observers ?? [])
        observer.tickCompleted({
          tick,
          startedAt: now,
          completedAt: clock.now(),
          durationSeconds,
          // The bounds and holds the tick planned with: /status shows a window's floor or cap.
          policy: policyInForce(policy, now),
          result,
        });
      if (this.options.stopWhen?.(result)) void this.stop();
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (abandoned) {
        log.warn(`tick ${tick} ended after it was abandoned: ${message}`);
        return undefined;
      }
      // A tick must never take the daemon down; the next one starts from a fresh observation.
      log.error({ err: error }, `tick ${tick} failed: ${message}`);
      fail("error", message);
      return undefined;
    } finally {
      clearTimeout(deadline);
    }
  }

  private due(): boolean {
    return this.options.clock.now() - this.lastTickAt >= this.setup.tickInterval;
  }

  /** Runs ticks until stop(); resolves once stopped. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.stopped = resolve;
      // The schedule is due(), by the daemon's clock: the timer only asks it every second.
      this.timer = setInterval(() => {
        if (!this.stopping && this.current === undefined && this.due()) void this.tick();
      }, LOOP_POLL_INTERVAL * 1000);
      void this.tick();
    });
  }

  /** Stops scheduling, waits for the current tick to finish. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.current;
    this.stopped?.();
  }
}
