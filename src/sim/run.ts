/**
 * What one simulated run of a policy over a trace records: the state at every tick, every job's
 * fate, and the counts of what the policy did. The report is computed from this alone.
 */
import type { ErrorKind } from "../model/errors.js";
import type { WorkerReport } from "../model/plan.js";

export type SampledState = WorkerReport["state"];

/** The pool as a tick saw it; it holds until the next sample (ticks may be skipped when idle). */
export interface TickSample {
  /** Seconds from the start of the trace. */
  at: number;
  idleJobs: number;
  runningJobs: number;
  /**
   * Workers by state, from the simulated pool's truth (gone ones are not counted; none is ever
   * `missing` there: the simulator knows which have joined).
   */
  workers: Record<Exclude<SampledState, "gone" | "missing">, number>;
  /** What the workers alive at this sample cost per hour, summed over clouds. */
  costPerHour: number;
}

export interface JobOutcome {
  /** Seconds from the start of the trace. */
  submitAt: number;
  /** When it last started running (absent: never ran before the run ended). */
  startedAt?: number;
  finishedAt?: number;
  cpus: number;
}

export interface SimRun {
  /** The policy's name: a config directory's name, `elastiq-classic` or `static:N`. */
  name: string;
  /** Seconds from the start of the trace when the run ended. */
  endedAt: number;
  samples: TickSample[];
  jobs: JobOutcome[];
  /** Workers created (successful launches). */
  launches: number;
  /** Workers terminated by the policy. */
  terminations: number;
  /** Provider errors the policy saw, by kind. */
  errors: Partial<Record<ErrorKind, number>>;
}
