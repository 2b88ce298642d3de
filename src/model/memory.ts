/**
 * What the daemon remembers between ticks. Plain data, so it can be logged and reported, and
 * rebuilt from nothing after a restart (a restart only forgets backoff, which is safe).
 */
import type { ErrorKind } from "./errors.js";

export interface Backoff {
  /** What caused it. */
  kind: ErrorKind;
  /** No launch before this time (epoch seconds). */
  until: number;
  /** Consecutive failures so far; the exponent of the delay. Reset by a success. */
  failures: number;
  message: string;
}

export interface CloudMemory {
  /** Backoff of the whole cloud. */
  backoff?: Backoff;
  /** Backoff of one scope of the cloud (instance type, zone), keyed by scope. */
  scoped: Record<string, Backoff>;
  /**
   * Slow start after a quota or capacity answer: the most workers one launch may ask for.
   * Starts at 1 (a probe) and doubles with each full success; absent when not in slow start.
   */
  batchLimit?: number;
  /** Instances whose fault (spot reclaimed, no valid host) was already counted as a signal. */
  faultsSeen?: string[];
  /**
   * Instances seen in the pool (with slot ads) at least once, while still listed. One of them
   * without ads now has joined and gone missing (a collector gap, or a one-job pilot that is done):
   * never stuck, never free capacity.
   */
  joined?: string[];
  /** Set by `auth` or `config` errors; cleared only by a config reload. */
  disabled?: { kind: ErrorKind; message: string; since: number };
}

export interface Memory {
  clouds: Record<string, CloudMemory>;
}

export function emptyMemory(): Memory {
  return { clouds: {} };
}
