/**
 * What the daemon remembers between ticks. Plain data, so it can be logged and reported, and
 * rebuilt from nothing after a restart (a restart only forgets backoff, which is safe).
 */
import type { ErrorKind } from "./errors.js";
import type { Worker } from "./snapshot.js";

export interface Backoff {
  /** What caused it. */
  kind: ErrorKind;
  /** No launch before this time (epoch seconds). */
  until: number;
  /** Consecutive failures so far; the exponent of the delay. Reset by a success. */
  failures: number;
  message: string;
}

/**
 * How one source of the observation has fared: the queue, the collector's ads, a cloud's listing.
 * A failed or partial answer is never read as "nothing there": the planner knows what it lacks.
 */
export interface Sight {
  /** Last time it answered (epoch seconds). */
  lastOk?: number;
  /** When the current run of failures began; absent while it answers. */
  failingSince?: number;
  /** Failed ticks in a row. */
  failures: number;
  /** The last failure's kind (clouds) and message. */
  kind?: ErrorKind;
  message?: string;
}

/** A launch about to be made: its idempotency token, its size, when. */
export interface LaunchIntent {
  token: string;
  count: number;
  at: number;
}

export interface CloudMemory {
  /** The cloud's listing. */
  listing?: Sight;
  /** The workers of the last listing that answered, and when: used while the listing fails. */
  lastSeen?: { at: number; workers: Worker[] };
  /** Instances launched and not listed yet (listings lag), with when they were launched. */
  launched?: Array<{ id: string; at: number }>;
  /**
   * Launches written down before their call, not answered yet: after a crash mid-launch, what a
   * restarted daemon counts as booting until the cloud lists instances with the token (or
   * LAUNCH_LISTING_GRACE passes). Kept in `run --state`'s file.
   */
  intents?: LaunchIntent[];
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
  /**
   * Boot times (launch to first seen in the pool, seconds) of the cloud's latest workers, oldest
   * first, at most AUTO_BOOT_SAMPLES: the adaptive idle timeout and persistence follow them.
   */
  boots?: number[];
  /**
   * Under the adaptive defaults: the cloud answered `quota` with this many of our workers in it
   * (at `at`). Launches stop there, and the demand spills over at once, until AUTO_QUOTA_HOLD has
   * passed; then the cloud is tried again.
   */
  quotaSeen?: { instances: number; at: number };
  /** Set by `auth` or `config` errors; cleared only by a config reload. */
  disabled?: { kind: ErrorKind; message: string; since: number };
}

/**
 * What the adaptive defaults (`persistence: auto`, `idleTimeout: auto`) learn of the pool's recent
 * demand. Plain bounded data: a restart forgets it (the state file does not keep it) and the
 * defaults start again from their guesses, which is safe.
 */
export interface DemandMemory {
  /** The latest submission (a job's idleSince) seen in the queue. */
  lastArrival?: number;
  /** Seconds between successive arrivals (distinct times), oldest first, bounded. */
  gaps: number[];
  /** When busy workers were seen to become idle, oldest first, bounded. */
  frees: number[];
  /** Workers (instance ids) busy at the last observation, to see them free up. */
  busy: string[];
  /**
   * Workers idle at the last observation: one busy now took a job the negotiator matched before
   * the queue showed it, an arrival all the same.
   */
  idle?: string[];
}

export interface Memory {
  clouds: Record<string, CloudMemory>;
  /** The pool's own sources: the queue (condor_q) and the collector (condor_status). */
  sources?: { queue?: Sight; machines?: Sight };
  /**
   * Since when the collector is suspected of having lost our workers' ads (many vanished at once):
   * its answer is not trusted for idle or stuck terminations meanwhile.
   */
  collectorSuspect?: { since: number; vanished: number };
  /** What the adaptive defaults learned of recent demand. */
  demand?: DemandMemory;
}

export function emptyMemory(): Memory {
  return { clouds: {} };
}
