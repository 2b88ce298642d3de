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

export interface CondorPool {
  /** Idle, non-held jobs, each marked with the clouds whose constraint selects it. */
  idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]>;
  /** Startd machines of this pool, slots grouped per machine. */
  machines(): Promise<StartdMachine[]>;
  /**
   * Right before a terminate: which of these workers are still idle now. A worker that got a job
   * since the snapshot is left out (spared). Throws when HTCondor cannot tell (spare them all).
   */
  confirmIdle?(workers: readonly WorkerRef[]): Promise<Set<string>>;
  /** After a terminate: remove the workers' startd and master ads from the collector. */
  withdraw?(workers: readonly WorkerRef[]): Promise<void>;
}
