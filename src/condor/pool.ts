/** What the daemon asks of HTCondor. The real adapter and the simulated pool both implement it. */
import type { IdleJob, StartdMachine } from "../model/snapshot.js";

/** A cloud and the HTCondor constraint selecting the jobs it serves. */
export interface JobSelector {
  cloud: string;
  constraint: string;
}

/** A worker as the pool adapter needs to find its ads again. */
export interface WorkerRef {
  instanceId: string;
  /** The startd's name it was joined with, when it has joined. */
  startd?: string;
}

/**
 * A worker as a targeted re-check found it: `idle` (every slot Unclaimed/Idle), `busy` (any slot
 * claimed or unreadable), or `absent` (no slot ad at all).
 */
export type RecheckedState = "idle" | "busy" | "absent";

export interface CondorPool {
  /** Idle, non-held jobs, each marked with the clouds whose constraint selects it. */
  idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]>;
  /** Startd machines of this pool, slots grouped per machine. */
  machines(): Promise<StartdMachine[]>;
  /**
   * Right before a terminate: what HTCondor shows of each of these workers now. Every worker asked
   * for is in the answer. Throws when HTCondor cannot tell (then nothing is terminated).
   */
  recheck?(workers: readonly WorkerRef[]): Promise<Map<string, RecheckedState>>;
  /**
   * Seconds since the collector started, by the head node's clock; a young collector has not
   * heard from every startd yet. Undefined when it cannot be told.
   */
  collectorUptime?(): Promise<number | undefined>;
  /** Remove the workers' slot, StartD and master ads from the collector. */
  withdraw?(workers: readonly WorkerRef[]): Promise<void>;
}
