/**
 * What a benchmark is and the measuring helpers benchmarks share. Benchmarks are registered in
 * bench/index.ts; this file holds only types and helpers so that benchmark files need not import
 * the runner.
 */
import v8 from "node:v8";
import vm from "node:vm";

/** `×`: a ratio of two measurements. */
export type Unit = "ms" | "MB" | "MB/s" | "ops/s" | "×";

/** The median passes when it is below (`<`), at most (`≤`) or above (`>`) `value`, in `unit`. */
export interface Target {
  op: "<" | "≤" | ">";
  value: number;
  unit: Unit;
}

export interface Result {
  unit: Unit;
  median: number;
  /** Absent for single measurements. */
  p95?: number;
  runs: number;
  /** Lines printed under the table: what the benchmark saw, for a reader checking it is sane. */
  notes?: string[];
}

export interface Benchmark {
  name: string;
  /** One short line on what is measured. */
  what: string;
  target?: Target;
  /** Builds its own input (untimed), measures, and reports. */
  run(): Promise<Result>;
}

export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

/** Nearest-rank percentile (`p` in 0..100): with 15 samples, p95 is the slowest run. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

export interface TimingOptions {
  warmup: number;
  runs: number;
}

/**
 * Wall time of `fn` in milliseconds, `runs` times after `warmup` untimed calls. What `fn` returns is
 * passed to `check` (untimed) so the work cannot be optimised away and results can be verified.
 */
export function timeRuns<T>(
  fn: () => T,
  options: TimingOptions,
  check: (value: T) => void = () => {},
): number[] {
  for (let i = 0; i < options.warmup; i += 1) check(fn());
  const samples: number[] = [];
  for (let i = 0; i < options.runs; i += 1) {
    const start = process.hrtime.bigint();
    const value = fn();
    const end = process.hrtime.bigint();
    samples.push(Number(end - start) / 1e6);
    check(value);
  }
  return samples;
}

export function timingResult(samples: readonly number[], notes?: string[]): Result {
  return {
    unit: "ms",
    median: median(samples),
    p95: percentile(samples, 95),
    runs: samples.length,
    ...(notes === undefined ? {} : { notes }),
  };
}

let collector: (() => void) | undefined;

/**
 * A full garbage collection, for heap measurements. Uses `global.gc` when node runs with
 * --expose-gc, and otherwise turns the flag on at run time (package.json's script stays plain).
 */
export function collectGarbage(): void {
  if (collector === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed !== undefined) {
      collector = exposed;
    } else {
      v8.setFlagsFromString("--expose-gc");
      collector = vm.runInNewContext("gc") as () => void;
    }
  }
  collector();
  collector();
}

export const MB = 1024 * 1024;

export function heapUsedMb(): number {
  return process.memoryUsage().heapUsed / MB;
}
