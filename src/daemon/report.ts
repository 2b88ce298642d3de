/** What the daemon tells its observers (metrics, the status endpoint) after every tick. */
import type { PoolPolicy } from "../model/policy.js";
import type { TickResult } from "../tick/tick.js";

export interface TickReport {
  /** 1 for the first tick of this process. */
  tick: number;
  /** When the tick started and ended, by the daemon's clock (epoch seconds). */
  startedAt: number;
  completedAt: number;
  /** How long it took in real time (the demo's clock runs faster). */
  durationSeconds: number;
  /**
   * The policy the tick ran with (a reload changes it between ticks), with the bounds and holds
   * of the schedule windows open at its start.
   */
  policy: PoolPolicy;
  result: TickResult;
}

/** A tick that produced no result: it threw, or it overran its deadline and was abandoned. */
export interface TickFailure {
  tick: number;
  startedAt: number;
  durationSeconds: number;
  reason: "error" | "deadline";
  message: string;
}

export interface TickObserver {
  tickCompleted(report: TickReport): void;
  tickFailed(failure: TickFailure): void;
}
