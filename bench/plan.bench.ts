/**
 * plan() on synthetic pools. The snapshot is built deterministically (seededRandom) before any
 * timing starts; only plan() itself is timed.
 */
import { emptyMemory, type Memory } from "../src/model/memory.js";
import type { Plan } from "../src/model/plan.js";
import type { CloudPolicy, PoolPolicy, WorkerShape } from "../src/model/policy.js";
import type { IdleJob, Snapshot, Worker, WorkerState } from "../src/model/snapshot.js";
import { plan } from "../src/policy/plan.js";
import { type Random, seededRandom } from "../src/random.js";
import {
  type Benchmark,
  collectGarbage,
  heapUsedMb,
  type Result,
  timeRuns,
  timingResult,
} from "./harness.js";

/** A fixed "now", so every run of the benchmark sees the same pool. */
export const NOW = 1_700_000_000;
const POOL = "bench";
const PERSISTENCE = 60;

interface CloudSpec {
  name: string;
  priority: number;
  share: number;
  costPerHour: number;
  minWorkers: number;
  worker: WorkerShape;
  jobs: string;
  /** Fraction of the snapshot's workers that belong to this cloud. */
  workerFraction: number;
}

const CLOUDS: readonly CloudSpec[] = [
  {
    name: "site-openstack",
    priority: 10,
    share: 2,
    costPerHour: 0,
    minWorkers: 20,
    worker: { cpus: 8, memoryMb: 32_768, gpus: 0 },
    jobs: "RequestGPUs =?= 0",
    workerFraction: 0.45,
  },
  {
    name: "ec2-spot",
    priority: 10,
    share: 1,
    costPerHour: 0.17,
    minWorkers: 0,
    worker: { cpus: 4, memoryMb: 16_384, gpus: 0 },
    jobs: 'Owner != "prod"',
    workerFraction: 0.4,
  },
  {
    name: "ec2-gpu",
    priority: 20,
    share: 1,
    costPerHour: 1.2,
    minWorkers: 0,
    worker: { cpus: 16, memoryMb: 65_536, gpus: 2 },
    jobs: "true",
    workerFraction: 0.15,
  },
];

export function poolPolicy(): PoolPolicy {
  const clouds: CloudPolicy[] = CLOUDS.map((spec) => ({
    name: spec.name,
    priority: spec.priority,
    share: spec.share,
    costPerHour: spec.costPerHour,
    minWorkers: spec.minWorkers,
    maxWorkers: 5_000,
    worker: spec.worker,
    jobs: spec.jobs,
    idleTimeout: 600,
    bootTimeout: 900,
    maxLaunchPerTick: 500,
    backoff: { initial: 60, max: 1800, transient: 15 },
  }));
  return { pool: POOL, persistence: PERSISTENCE, clouds };
}

/** A memory with one scoped backoff still running, so launches carry an `avoid` list. */
export function benchMemory(): Memory {
  const memory = emptyMemory();
  memory.clouds["ec2-spot"] = {
    scoped: {
      "instanceType=m5.xlarge": {
        kind: "capacity",
        until: NOW + 120,
        failures: 2,
        message: "InsufficientInstanceCapacity",
      },
    },
  };
  return memory;
}

function pick<T>(items: readonly T[], random: Random): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

interface JobTemplate {
  cpus: number;
  memoryMb: number;
  gpus: number;
  clouds: readonly string[];
  /** Relative frequency in the queue. */
  weight: number;
}

const TEMPLATE_COUNT = 40;
/** The same requests in every pool size, so sizes differ only in how many jobs and workers. */
const TEMPLATE_SEED = 4_242;
const OWNERS = Array.from({ length: 25 }, (_, i) => `user${String(i).padStart(2, "0")}`);

/**
 * A few dozen distinct requests, each selected by 1–3 clouds, with Zipf-like frequencies: a few
 * requests dominate the queue, as in real pools. Some are selected only by clouds whose shape
 * cannot hold them (unfit jobs).
 */
function jobTemplates(random: Random): JobTemplate[] {
  const names = CLOUDS.map((cloud) => cloud.name);
  const templates: JobTemplate[] = [];
  for (let i = 0; i < TEMPLATE_COUNT; i += 1) {
    const cpus = pick([1, 1, 1, 1, 2, 2, 4, 8], random);
    const gpus = i % 8 === 7 ? pick([1, 1, 2], random) : 0;
    const perCpu = 1000 + random() * 3000;
    const memoryMb = Math.min(16_000, Math.max(1000, Math.round((cpus * perCpu) / 500) * 500));
    const cloudCount = 1 + Math.floor(random() * 3);
    const shuffled = [...names].sort(() => random() - 0.5);
    const clouds = gpus > 0 && random() < 0.8 ? ["ec2-gpu"] : shuffled.slice(0, cloudCount);
    templates.push({ cpus, memoryMb, gpus, clouds, weight: 1 / (i + 1) });
  }
  return templates;
}

function weightedPicker(templates: readonly JobTemplate[]): (random: Random) => JobTemplate {
  const total = templates.reduce((sum, template) => sum + template.weight, 0);
  const cumulative: number[] = [];
  let running = 0;
  for (const template of templates) {
    running += template.weight / total;
    cumulative.push(running);
  }
  return (random) => {
    const r = random();
    const index = cumulative.findIndex((bound) => r < bound);
    const template = templates[index === -1 ? templates.length - 1 : index];
    if (template === undefined) throw new Error("no job templates");
    return template;
  };
}

/**
 * Idle jobs in clusters (one submit, many procs, same request), from two schedds. About 90% have
 * waited past the persistence window; the rest were idle for less than a minute.
 */
function idleJobs(count: number, random: Random): IdleJob[] {
  const pickTemplate = weightedPicker(jobTemplates(seededRandom(TEMPLATE_SEED)));
  const jobs: IdleJob[] = [];
  let cluster = 100_000;
  while (jobs.length < count) {
    cluster += 1 + Math.floor(random() * 5);
    const template = pickTemplate(random);
    const procs = Math.min(count - jobs.length, 1 + Math.floor(random() ** 3 * 500));
    const schedd = random() < 0.7 ? "schedd1.example.org" : "schedd2.example.org";
    const owner = pick(OWNERS, random);
    const recent = random() < 0.1;
    const clusterIdleSince =
      NOW - (recent ? random() * PERSISTENCE : PERSISTENCE + random() * 6 * 3600);
    for (let proc = 0; proc < procs; proc += 1) {
      jobs.push({
        id: `${schedd}#${cluster}.${proc}`,
        idleSince: Math.floor(Math.min(NOW, clusterIdleSince + random() * 30)),
        cpus: template.cpus,
        memoryMb: template.memoryMb,
        gpus: template.gpus,
        owner,
        // One array per job, as a parser of `condor_q -json` would produce.
        clouds: [...template.clouds],
      });
    }
  }
  return jobs;
}

const STATES: ReadonlyArray<[WorkerState, number]> = [
  ["busy", 0.68],
  ["idle", 0.16],
  ["booting", 0.1],
  ["failed", 0.03],
  ["gone", 0.03],
];

function workerState(random: Random): WorkerState {
  let r = random();
  for (const [state, fraction] of STATES) {
    if (r < fraction) return state;
    r -= fraction;
  }
  return "busy";
}

function hex(random: Random, digits: number): string {
  let text = "";
  for (let i = 0; i < digits; i += 1) text += Math.floor(random() * 16).toString(16);
  return text;
}

/**
 * Workers spread over the clouds by `workerFraction`, in every state. Idle ones have been idle for
 * up to 30 minutes (idleTimeout is 10), booting ones were launched up to 20 minutes ago
 * (bootTimeout is 15), so every scale-down path is taken.
 */
function workers(count: number, random: Random): Worker[] {
  const result: Worker[] = [];
  for (const [index, cloud] of CLOUDS.entries()) {
    const share =
      index === CLOUDS.length - 1
        ? count - result.length
        : Math.round(count * cloud.workerFraction);
    for (let i = 0; i < share; i += 1) {
      const id = `i-${hex(random, 17)}`;
      const state = workerState(random);
      const launchedAt =
        state === "booting"
          ? NOW - Math.floor(random() * 1200)
          : NOW - 1200 - Math.floor(random() * 86_400);
      const worker: Worker = {
        cloud: cloud.name,
        instanceId: id,
        name: `${POOL}-${cloud.name}-${id.slice(2, 10)}`,
        state,
        launchedAt,
        address: `10.${index}.${Math.floor(i / 250)}.${(i % 250) + 1}`,
        image: "cernvm4-micro-2024.06",
      };
      if (state === "idle") worker.idleSeconds = Math.floor(random() * 1800);
      if (state === "failed")
        worker.fault = { message: "instance entered ERROR state", kind: "capacity" };
      result.push(worker);
    }
  }
  return result;
}

export interface PoolSize {
  jobs: number;
  workers: number;
  seed: number;
}

export function syntheticSnapshot(size: PoolSize): Snapshot {
  const random = seededRandom(size.seed);
  return {
    takenAt: NOW,
    jobs: idleJobs(size.jobs, random),
    workers: workers(size.workers, random),
    clouds: {
      "site-openstack": { headroom: { instances: 1_000, cpus: 8_000, memoryMb: 32_768_000 } },
      "ec2-spot": { headroom: { cpus: 4_000 } },
      "ec2-gpu": {},
    },
    gaps: [],
  };
}

/** What the synthetic pool holds, for a reader checking it looks like a real one. */
export function describeSnapshot(snapshot: Snapshot): string {
  const waited = snapshot.jobs.filter((job) => job.idleSince <= NOW - PERSISTENCE).length;
  const requests = new Set(
    snapshot.jobs.map((job) => `${job.cpus}|${job.memoryMb}|${job.gpus}|${job.clouds.join(",")}`),
  );
  const states = new Map<string, number>();
  for (const worker of snapshot.workers)
    states.set(worker.state, (states.get(worker.state) ?? 0) + 1);
  const byState = [...states].map(([state, count]) => `${count} ${state}`).join(", ");
  return (
    `${snapshot.jobs.length} jobs (${waited} past persistence, ${requests.size} distinct requests); ` +
    `${snapshot.workers.length} workers (${byState})`
  );
}

/** What a plan came to, for a reader checking that the synthetic pool exercises the planner. */
export function describePlan(result: Plan): string {
  const launches = result.actions
    .flatMap((action) => (action.kind === "launch" ? [`${action.cloud} +${action.count}`] : []))
    .join(", ");
  const terminations = result.actions.filter((action) => action.kind === "terminate").length;
  const counted = Object.values(result.demand).reduce((sum, demand) => sum + demand.idleJobs, 0);
  return (
    `launch ${launches || "none"}; ${terminations} terminations; ` +
    `${counted} job-cloud demand pairs; ${result.unfit.jobs} unfit; ${result.notes.length} notes`
  );
}

function signature(result: Plan): string {
  return JSON.stringify(
    result.actions.map((action) => [
      action.kind,
      action.cloud,
      action.kind === "launch" ? action.count : action.instanceIds.length,
    ]),
  );
}

const TIMING = { warmup: 3, runs: 15 };

function planTiming(name: string, what: string, size: PoolSize, targetMs: number): Benchmark {
  return {
    name,
    what,
    target: { op: "<", value: targetMs, unit: "ms" },
    async run(): Promise<Result> {
      const snapshot = syntheticSnapshot(size);
      const policy = poolPolicy();
      const memory = benchMemory();
      const first = plan(snapshot, policy, memory, NOW);
      const expected = signature(first);
      const samples = timeRuns(
        () => plan(snapshot, policy, memory, NOW),
        TIMING,
        (result) => {
          // plan() is pure: every run must decide the same.
          if (signature(result) !== expected)
            throw new Error(`${name}: plan() differed between runs`);
        },
      );
      return timingResult(samples, [describeSnapshot(snapshot), describePlan(first)]);
    },
  };
}

const BIG: PoolSize = { jobs: 100_000, workers: 10_000, seed: 20_240_601 };
const MID: PoolSize = { jobs: 10_000, workers: 1_000, seed: 20_240_602 };

export const planBenchmarks: Benchmark[] = [
  planTiming("plan big", "plan(): 100k idle jobs, 10k workers, 3 clouds", BIG, 200),
  planTiming("plan mid", "plan(): 10k idle jobs, 1k workers, 3 clouds", MID, 20),
  {
    name: "plan memory",
    what: "heap delta: build 100k/10k snapshot + plan once",
    target: { op: "<", value: 200, unit: "MB" },
    async run(): Promise<Result> {
      collectGarbage();
      const before = heapUsedMb();
      const snapshot = syntheticSnapshot(BIG);
      collectGarbage();
      const withSnapshot = heapUsedMb();
      const result = plan(snapshot, poolPolicy(), benchMemory(), NOW);
      collectGarbage();
      const after = heapUsedMb();
      // Keep both alive until measured.
      if (snapshot.jobs.length === 0 || result.workers.length === 0) throw new Error("empty pool");
      return {
        unit: "MB",
        median: after - before,
        runs: 1,
        notes: [
          `snapshot ${(withSnapshot - before).toFixed(1)} MB + plan result ${(after - withSnapshot).toFixed(1)} MB (retained, after full GC)`,
        ],
      };
    },
  },
];
