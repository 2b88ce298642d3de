/**
 * The daemon's loop. node-cron fires every second; a tick runs when one is due by the daemon's
 * clock, so any tick interval works and an accelerated clock (demo) ticks faster. Ticks never
 * overlap; stop() lets the current tick finish.
 */
import type Logger from "bunyan";
import cron, { type ScheduledTask } from "node-cron";
import { DEFAULT_ACTION_CONCURRENCY, LOOP_CRON_EXPRESSION } from "../config/defaults.js";
import type { Clock } from "../model/clock.js";
import { emptyMemory, type Memory } from "../model/memory.js";
import type { PoolPolicy } from "../model/policy.js";
import type { Random } from "../random.js";
import type { Sources } from "../tick/observe.js";
import { runTick, summarise, type TickResult } from "../tick/tick.js";

export interface DaemonOptions {
  policy: PoolPolicy;
  tickInterval: number;
  sources: Sources;
  clock: Clock;
  log: Logger;
  dryRun: boolean;
  random: Random;
  /** Stop after the tick for which this says yes (the demo ends when its workload has played out). */
  stopWhen?: (result: TickResult) => boolean;
  /** Annotate log records with the daemon's clock (when it is not the wall clock). */
  stampClock?: boolean;
}

export class Daemon {
  private memory: Memory = emptyMemory();
  private lastTickAt = Number.NEGATIVE_INFINITY;
  private current: Promise<TickResult | undefined> | undefined;
  private task: ScheduledTask | undefined;
  private stopped: (() => void) | undefined;
  private stopping = false;
  ticks = 0;
  lastResult: TickResult | undefined;

  constructor(private readonly options: DaemonOptions) {}

  /** Runs one tick now (unless one is running, whose result is awaited instead). */
  async tick(): Promise<TickResult | undefined> {
    if (this.current !== undefined) return this.current;
    this.current = this.runOne().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  private async runOne(): Promise<TickResult | undefined> {
    const { clock, options } = { clock: this.options.clock, options: this.options };
    const now = clock.now();
    this.lastTickAt = now;
    this.ticks += 1;
    const log = options.log.child({
      tick: this.ticks,
      ...(options.stampClock ? { at: new Date(now * 1000).toISOString() } : {}),
    });
    const started = process.hrtime.bigint();
    try {
      const result = await runTick({
        ...options.sources,
        policy: options.policy,
        memory: this.memory,
        now,
        dryRun: options.dryRun,
        concurrency: DEFAULT_ACTION_CONCURRENCY,
        random: options.random,
        log,
      });
      this.memory = result.memory;
      this.lastResult = result;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        { summary: true, durationMs: Math.round(ms) },
        `tick ${this.ticks}: ${summarise(result.snapshot, result.plan)}`,
      );
      if (options.stopWhen?.(result)) void this.stop();
      return result;
    } catch (error) {
      // A tick must never take the daemon down; the next one starts from a fresh observation.
      log.error(
        { err: error },
        `tick ${this.ticks} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      return undefined;
    }
  }

  private due(): boolean {
    return this.options.clock.now() - this.lastTickAt >= this.options.tickInterval;
  }

  /** Runs ticks until stop(); resolves once stopped. */
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.stopped = resolve;
      this.task = cron.schedule(
        LOOP_CRON_EXPRESSION,
        () => {
          if (!this.stopping && this.current === undefined && this.due()) void this.tick();
        },
        { name: "condor-autoscaler tick", noOverlap: true, suppressMissedWarning: true },
      );
      void this.tick();
    });
  }

  /** Stops scheduling, waits for the current tick to finish. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.task?.stop();
    await this.task?.destroy();
    this.task = undefined;
    await this.current;
    this.stopped?.();
  }
}
