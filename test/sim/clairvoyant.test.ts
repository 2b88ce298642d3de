/**
 * The clairvoyant baseline on workloads small enough to follow by hand. One cloud: boot 2 min, no
 * spread, join 30 s (a lead of 150 s), 1-cpu workers; ticks every 30 s, negotiation every 60 s.
 */
import test from "ava";
import { loadConfig } from "../../src/config/load.js";
import type { AutoscalerConfig } from "../../src/config/schema.js";
import { clairvoyant, elastiqClassic, siteClouds } from "../../src/sim/baselines.js";
import { type SimPolicy, simulate } from "../../src/sim/engine.js";
import type { SimRun } from "../../src/sim/run.js";
import type { JobSpec } from "../../src/sim/scenarios.js";
import { configDir } from "../config/config-dir.js";

const GLOBAL = "pool: hand\ntickInterval: 30s\npersistence: 0s\ncondor:\n  kind: simulated\n";

function cloudFile(extra = ""): string {
  return `provider:
  kind: simulated
  bootDelay: 2m
  bootSpread: 0s
  joinDelay: 30s
${extra}costPerHour: 0.5
maxWorkers: 10
worker:
  cpus: 1
  memoryMb: 4000
idleTimeout: 5m
`;
}

async function site(cloud = cloudFile()): Promise<AutoscalerConfig> {
  return loadConfig(await configDir({ "autoscaler.yaml": GLOBAL, "clouds.d/cloud.yaml": cloud }));
}

function oracle(config: AutoscalerConfig): SimPolicy {
  return {
    name: "clairvoyant",
    config,
    oracle: clairvoyant(siteClouds(config), config.global.tickInterval),
  };
}

function job(submitAt: number, runtime: number, cpus = 1): JobSpec {
  return { submitAt, runtime, cpus, memoryMb: 500, gpus: 0 };
}

function waits(run: SimRun): number[] {
  return run.jobs.map((j) => (j.startedAt ?? Number.POSITIVE_INFINITY) - j.submitAt);
}

test("the site's lead is boot delay, its whole spread and the join delay; its cap is maxWorkers or the quota", async (t) => {
  const config = await site(
    cloudFile("").replace("bootSpread: 0s", "bootSpread: 20s\n  quota:\n    instances: 3"),
  );
  t.deepEqual(siteClouds(config), [{ name: "cloud", lead: 170, cap: 3 }]);
});

test("clairvoyant launches ahead: a job submitted at 600 s finds its worker joined and waits only for the negotiation, where elastiq waits for a boot", async (t) => {
  const config = await site();
  const jobs = [job(600, 600)];
  const seer = await simulate(jobs, oracle(config), { seed: 1 });
  t.is(seer.launches, 1);
  const [wait] = waits(seer);
  t.true(wait !== undefined && wait <= 60, `waited ${wait} s`);
  const classic = elastiqClassic();
  const elastiq = await simulate(
    jobs,
    { name: "elastiq", config, planner: classic.planner, timers: classic.timers },
    { seed: 1 },
  );
  t.true((waits(elastiq)[0] ?? 0) >= 150, "elastiq launches on the job and waits for the boot");
});

test("clairvoyant terminates a worker as soon as no job comes that it would serve before a fresh launch", async (t) => {
  const config = await site();
  // The first runs 180-780 (it starts at the negotiation after its worker joins); the second
  // comes 120 s after it ends (sooner than a fresh launch: the same worker serves it); the third
  // over an hour later (a fresh launch serves it as soon: the worker goes meanwhile).
  const run = await simulate([job(0, 600), job(900, 600), job(5000, 600)], oracle(config), {
    seed: 1,
  });
  t.is(run.launches, 2);
  t.is(run.terminations, 2);
  // Idle only between jobs and until the tick after each last one, never for an idle timeout.
  t.true(run.usage.seconds.idle < 300, `idle ${run.usage.seconds.idle} s`);
});

test("clairvoyant stays within the site's quota: it launches no worker the quota refuses, and the second job waits", async (t) => {
  const config = await site(
    cloudFile("").replace("joinDelay: 30s", "joinDelay: 30s\n  quota:\n    instances: 1"),
  );
  const run = await simulate([job(600, 600), job(600, 600)], oracle(config), { seed: 1 });
  t.is(run.launches, 1);
  t.deepEqual(run.errors, {});
  const [first, second] = waits(run);
  t.true(first !== undefined && second !== undefined && second >= first + 600);
});

test("the same seed gives the same clairvoyant run", async (t) => {
  const config = await site(cloudFile("").replace("bootSpread: 0s", "bootSpread: 30s"));
  const jobs = [job(0, 300), job(100, 900, 1), job(2000, 60), job(2010, 600)];
  const a = await simulate(jobs, oracle(config), { seed: 7 });
  const b = await simulate(jobs, oracle(config), { seed: 7 });
  t.deepEqual(a, b);
});
