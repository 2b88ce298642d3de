/**
 * What one simulated run of a policy over a trace records: what its workers used (exact, in
 * bounded memory), every job's fate, and the counts of what the policy did. The report is
 * computed from this alone.
 */
import type { ErrorKind } from "../model/errors.js";
import type { Timeline, Usage } from "./usage.js";

/** Why a job never started before the run ended. */
export const UNSTARTED_REASONS = {
  unfit: "fits no worker shape of any cloud",
  queued: "still queued at the end",
} as const;
export type UnstartedReason = keyof typeof UNSTARTED_REASONS;

export interface JobOutcome {
  /** Seconds from the start of the trace. */
  submitAt: number;
  /** When it last started running (absent: never ran before the run ended). */
  startedAt?: number;
  finishedAt?: number;
  cpus: number;
  /** Only for a job that never started: why. */
  unstarted?: UnstartedReason;
}

export interface SimRun {
  /** The policy's name: a config directory's name, `elastiq-classic`, `static:N` or `clairvoyant`. */
  name: string;
  /** Seconds from the start of the trace when the run ended. */
  endedAt: number;
  /** Ticks run (quiet stretches are skipped). */
  ticks: number;
  /** Worker-seconds by state, cost and peak, accounted at event times. */
  usage: Usage;
  /** The workers by state and the idle jobs over time, in a bounded number of buckets. */
  timeline: Timeline;
  jobs: JobOutcome[];
  /** Workers created (successful launches). */
  launches: number;
  /** Workers terminated by the policy. */
  terminations: number;
  /** Provider errors the policy saw, by kind. */
  errors: Partial<Record<ErrorKind, number>>;
}
