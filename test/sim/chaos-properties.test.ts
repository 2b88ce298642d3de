/**
 * Properties over whole runs of partial observation (sequences of partial snapshots, through the
 * real tick): whatever the collector restarts, listing lag and broken cloud, the simulator's
 * invariants hold against its truth (no worker running a job is terminated, no cloud above
 * maxWorkers, no launch into a cloud backing off), every job is done, and a broken cloud changes
 * nothing for the healthy one.
 */
import test from "ava";
import fc from "fast-check";
import { loadConfig } from "../../src/config/load.js";
import type { AutoscalerConfig } from "../../src/config/schema.js";
import { simulate } from "../../src/sim/engine.js";
import type { JobSpec } from "../../src/sim/scenarios.js";
import { configDir } from "../config/config-dir.js";

const GLOBAL = "pool: prop\ntickInterval: 30s\npersistence: 0s\ncondor:\n  kind: simulated\n";

function cloudFile(priority: number, bootDelay: number): string {
  return `provider:
  kind: simulated
  bootDelay: ${bootDelay}s
  bootSpread: 30s
  joinDelay: 30s
priority: ${priority}
maxWorkers: 6
worker:
  cpus: 4
  memoryMb: 8000
idleTimeout: 5m
bootTimeout: 10m
`;
}

let configs: Promise<AutoscalerConfig[]> | undefined;
/** Two-cloud configurations with boot delays short and long against the boot timeout. */
function twoCloudConfigs(): Promise<AutoscalerConfig[]> {
  configs ??= Promise.all(
    [60, 300, 540].map(async (bootDelay) =>
      loadConfig(
        await configDir({
          "autoscaler.yaml": GLOBAL,
          "clouds.d/first.yaml": cloudFile(0, bootDelay),
          "clouds.d/second.yaml": cloudFile(1, bootDelay),
        }),
      ),
    ),
  );
  return configs;
}

const jobsArb: fc.Arbitrary<JobSpec[]> = fc.array(
  fc.record({
    submitAt: fc.integer({ min: 0, max: 6 * 3600 }),
    runtime: fc.integer({ min: 60, max: 3 * 3600 }),
    cpus: fc.integer({ min: 1, max: 4 }),
    memoryMb: fc.constant(1000),
    gpus: fc.constant(0),
  }),
  { minLength: 1, maxLength: 25 },
);

const observationArb = fc.record(
  {
    collectorRestart: fc.record({
      every: fc.integer({ min: 1800, max: 4 * 3600 }),
      // A restarted collector has every ad again within the startds' UPDATE_INTERVAL (300 s).
      duration: fc.integer({ min: 30, max: 300 }),
    }),
    listingLag: fc.integer({ min: 0, max: 300 }),
    brokenCloud: fc.constantFrom("first", "second"),
  },
  { requiredKeys: [] },
);

test("any partial observation: the invariants hold against the truth and every job is done", async (t) => {
  const all = await twoCloudConfigs();
  await fc.assert(
    fc.asyncProperty(
      jobsArb,
      observationArb,
      fc.integer({ min: 0, max: 2 }),
      fc.integer({ min: 1, max: 1000 }),
      async (jobs, observation, which, seed) => {
        const config = all[which];
        if (config === undefined) return;
        // simulate throws InvariantViolation on the first broken invariant.
        const run = await simulate(jobs, { name: "p", config }, { seed, observation });
        if (!run.jobs.every((job) => job.finishedAt !== undefined))
          throw new Error(`unfinished jobs under ${JSON.stringify(observation)}`);
      },
    ),
    { numRuns: 40, seed: 20261204 },
  );
  t.pass("40 runs, each checked at every tick by the simulator itself");
});

test("a broken first cloud changes nothing for the second: the same launches and worker-hours as without it", async (t) => {
  const all = await twoCloudConfigs();
  await fc.assert(
    fc.asyncProperty(jobsArb, fc.integer({ min: 1, max: 1000 }), async (jobs, seed) => {
      const config = all[0];
      if (config === undefined) return;
      const alone = await simulate(
        jobs,
        {
          name: "alone",
          config: { ...config, clouds: config.clouds.filter((c) => c.name === "second") },
        },
        { seed },
      );
      const broken = await simulate(
        jobs,
        { name: "broken", config },
        { seed, observation: { brokenCloud: "first" } },
      );
      if (broken.launches !== alone.launches || broken.terminations !== alone.terminations)
        throw new Error(
          `launches ${broken.launches} vs ${alone.launches}, terminations ${broken.terminations} vs ${alone.terminations}`,
        );
    }),
    { numRuns: 25, seed: 20261204 },
  );
  t.pass("25 runs");
});
