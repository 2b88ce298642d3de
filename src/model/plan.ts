/** What the planner decides. Every action carries the reason a person reads in the log. */
import type { Seconds } from "./policy.js";

export interface LaunchAction {
  kind: "launch";
  cloud: string;
  count: number;
  reason: string;
  /** Scopes (instance type, zone) backing off: the provider must not use them this time. */
  avoid?: string[];
  /** The launch intent's idempotency token, set right before the call (never by the planner). */
  token?: string;
}

export type TerminationCause = "idle" | "stuck" | "failed";

export interface TerminateAction {
  kind: "terminate";
  cloud: string;
  instanceIds: string[];
  cause: TerminationCause;
  reason: string;
}

export type Action = LaunchAction | TerminateAction;

export interface CloudDemand {
  /** Idle jobs the cloud's constraint selects that have waited past the persistence window. */
  idleJobs: number;
  cpus: number;
  memoryMb: number;
  gpus: number;
}

/** A worker as the plan reports it, with `stuck` derived from the boot timeout. */
export interface WorkerReport {
  cloud: string;
  name: string;
  instanceId: string;
  /** `missing`: joined the pool before, no ads now (kept, and no room for jobs). */
  state: "booting" | "stuck" | "missing" | "idle" | "busy" | "failed" | "gone";
  idleSeconds: Seconds | null;
}

/** Jobs that some cloud selects but no such cloud's worker shape can hold. */
export interface UnfitJobs {
  jobs: number;
  /** Up to a few example job ids with what they ask for. */
  examples: string[];
}

export interface Plan {
  demand: Record<string, CloudDemand>;
  workers: WorkerReport[];
  actions: Action[];
  unfit: UnfitJobs;
  /** Why demand was not (fully) met: backoff, caps, disabled clouds, incomplete observation. */
  notes: string[];
}
