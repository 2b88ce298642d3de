/**
 * The simulator over whole traces: the NASA iPSC trace (about 18,000 jobs over three months) with
 * the demo's policy, and a synthetic 1,000,000-job trace. The trace is read before timing starts;
 * one run each (they take seconds), the policy's simulated clouds and pool included.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.js";
import { simulate } from "../src/sim/engine.js";
import { readTrace, syntheticTrace } from "../src/sim/trace.js";
import type { Benchmark, Result } from "./harness.js";

const ROOT = join(import.meta.dirname, "..");
const DEMO = join(ROOT, "examples/simulated");

/** A site big enough for the synthetic load: one cloud of up to 400 four-cpu workers. */
async function bigSite(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-bench-"));
  await mkdir(join(dir, "clouds.d"));
  await writeFile(
    join(dir, "autoscaler.yaml"),
    "pool: bench\ntickInterval: 30s\npersistence: 60s\ncondor:\n  kind: simulated\n",
  );
  await writeFile(
    join(dir, "clouds.d/big.yaml"),
    "provider:\n  kind: simulated\nmaxWorkers: 400\nmaxLaunchPerTick: 50\n" +
      "worker:\n  cpus: 4\n  memoryMb: 16000\nidleTimeout: 10m\n",
  );
  return dir;
}

async function timed(
  jobs: Parameters<typeof simulate>[0],
  label: string,
  dir = DEMO,
): Promise<Result> {
  const config = await loadConfig(dir);
  const started = performance.now();
  const run = await simulate(jobs, { name: "demo", config }, { seed: 1 });
  const ms = performance.now() - started;
  const days = run.endedAt / 86400;
  // The process's peak resident set so far (this run is the biggest one), and the heap the run's
  // result and input still hold.
  const peakMb = process.resourceUsage().maxRSS / 1024;
  const heapMb = process.memoryUsage().heapUsed / 1024 / 1024;
  return {
    unit: "ms",
    median: ms,
    runs: 1,
    notes: [
      `${label}: ${jobs.length} jobs over ${days.toFixed(1)} days, ${run.ticks} ticks run (the rest skipped as quiet), ${run.launches} launches; peak RSS ${peakMb.toFixed(0)} MB, heap after ${heapMb.toFixed(0)} MB (target < 1024 MB)`,
    ],
  };
}

export const simBenchmarks: readonly Benchmark[] = [
  {
    name: "simulate NASA iPSC",
    what: "the demo policy over the NASA iPSC trace (--max-cpus 4)",
    target: { op: "<", value: 5000, unit: "ms" },
    async run() {
      const trace = await readTrace(join(ROOT, "examples/traces/NASA-iPSC-1993-3.1-cln.swf.gz"), {
        maxCpus: 4,
      });
      return timed(trace.jobs, "NASA iPSC");
    },
  },
  {
    name: "simulate 1M synthetic",
    what: "1,000,000 synthetic jobs (≤ 4 cpus, one every 3 s) on a 400-worker cloud",
    target: { op: "<", value: 60_000, unit: "ms" },
    async run() {
      const jobs = syntheticTrace({
        jobs: 1_000_000,
        seed: 1,
        maxCpus: 4,
        meanInterarrival: 3,
        meanRuntime: 600,
      });
      return timed(jobs, "synthetic", await bigSite());
    },
  },
];
