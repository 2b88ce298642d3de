/** What the daemon asks of HTCondor. The real adapter and the simulated pool both implement it. */
import type { IdleJob, StartdMachine } from "../model/snapshot.js";

/** A cloud and the HTCondor constraint selecting the jobs it serves. */
export interface JobSelector {
  cloud: string;
  constraint: string;
}

export interface CondorPool {
  /** Idle, non-held jobs, each marked with the clouds whose constraint selects it. */
  idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]>;
  /** Startd machines of this pool, slots grouped per machine. */
  machines(): Promise<StartdMachine[]>;
}
