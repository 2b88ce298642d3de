/** Built-in workloads for the simulated pool. Times are seconds from the start of the run. */
import type { Random } from "../random.js";

export interface JobSpec {
  /** Seconds from the start; negative means the job was already queued when the daemon started. */
  submitAt: number;
  runtime: number;
  cpus: number;
  memoryMb: number;
  gpus: number;
}

export const SCENARIOS = ["demo"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

function wave(
  random: Random,
  count: number,
  spec: Omit<JobSpec, "runtime"> & { runtime: [number, number] },
) {
  const [shortest, longest] = spec.runtime;
  return Array.from({ length: count }, () => ({
    ...spec,
    runtime: Math.round(shortest + random() * (longest - shortest)),
  }));
}

/**
 * The demo: a queue already waiting when the daemon starts, then a wave of bigger jobs while the
 * first workers are still busy. Plays out in about half an hour of pool time.
 */
function demo(random: Random): JobSpec[] {
  return [
    ...wave(random, 24, { submitAt: -120, runtime: [360, 600], cpus: 1, memoryMb: 2000, gpus: 0 }),
    ...wave(random, 8, { submitAt: 480, runtime: [240, 420], cpus: 4, memoryMb: 7000, gpus: 0 }),
  ];
}

export function scenario(name: ScenarioName, random: Random): JobSpec[] {
  switch (name) {
    case "demo":
      return demo(random);
  }
}
