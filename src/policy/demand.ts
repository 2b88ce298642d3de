/**
 * Demand: which idle jobs count, which clouds can hold them, and how they pack into workers.
 * Jobs are grouped into classes of identical requests so that packing 100,000 jobs costs about as
 * much as packing the few dozen shapes a real queue holds.
 */
import type { CloudDemand, UnfitJobs } from "../model/plan.js";
import type { PoolPolicy, WorkerShape } from "../model/policy.js";
import type { IdleJob } from "../model/snapshot.js";

/** Identical jobs: same request, same clouds that can hold them. */
export interface JobClass {
  cpus: number;
  memoryMb: number;
  gpus: number;
  /** Clouds that select these jobs and whose worker shape can hold one. */
  clouds: readonly string[];
  count: number;
  /** Jobs of the class not yet placed on a worker; packing decrements it. */
  remaining: number;
}

export interface DemandAnalysis {
  /** Largest request first, the order first-fit-decreasing packs in. */
  classes: JobClass[];
  demand: Record<string, CloudDemand>;
  unfit: UnfitJobs;
}

const UNFIT_EXAMPLES = 5;

function fits(job: { cpus: number; memoryMb: number; gpus: number }, shape: WorkerShape): boolean {
  return job.cpus <= shape.cpus && job.memoryMb <= shape.memoryMb && job.gpus <= shape.gpus;
}

/** HTCondor gives every job at least one core. */
function requestedCpus(job: IdleJob): number {
  return Math.max(1, job.cpus);
}

export function analyseDemand(
  jobs: readonly IdleJob[],
  policy: PoolPolicy,
  now: number,
  /** Seconds a job must have waited to count: the policy's persistence as it stands this tick. */
  persistence: number = policy.persistence === "auto" ? 0 : policy.persistence,
): DemandAnalysis {
  const shapes = new Map(policy.clouds.map((cloud) => [cloud.name, cloud.worker]));
  const demand: Record<string, CloudDemand> = {};
  for (const cloud of policy.clouds) {
    demand[cloud.name] = { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 };
  }
  const unfit: UnfitJobs = { jobs: 0, examples: [] };
  const byKey = new Map<string, JobClass>();
  const waitedEnough = now - persistence;

  for (const job of jobs) {
    if (job.idleSince > waitedEnough) continue;
    const cpus = requestedCpus(job);
    const key = `${cpus}|${job.memoryMb}|${job.gpus}|${job.clouds.join(",")}`;
    const known = byKey.get(key);
    if (known !== undefined) {
      known.count += 1;
      known.remaining += 1;
      continue;
    }
    const request = { cpus, memoryMb: job.memoryMb, gpus: job.gpus };
    const selecting = job.clouds.filter((cloud) => shapes.has(cloud));
    const fitting = selecting.filter((cloud) => {
      const shape = shapes.get(cloud);
      return shape !== undefined && fits(request, shape);
    });
    const jobClass: JobClass = { ...request, clouds: fitting, count: 1, remaining: 1 };
    byKey.set(key, jobClass);
    if (selecting.length > 0 && fitting.length === 0 && unfit.examples.length < UNFIT_EXAMPLES) {
      unfit.examples.push(
        `${job.id} (${cpus} cpus, ${job.memoryMb} MB${job.gpus > 0 ? `, ${job.gpus} gpus` : ""})`,
      );
    }
  }

  const classes: JobClass[] = [];
  for (const [key, jobClass] of byKey) {
    const selecting = key.slice(key.lastIndexOf("|") + 1);
    for (const cloud of selecting === "" ? [] : selecting.split(",")) {
      const cloudDemand = demand[cloud];
      if (cloudDemand === undefined) continue;
      cloudDemand.idleJobs += jobClass.count;
      cloudDemand.cpus += jobClass.count * jobClass.cpus;
      cloudDemand.memoryMb += jobClass.count * jobClass.memoryMb;
      cloudDemand.gpus += jobClass.count * jobClass.gpus;
    }
    if (jobClass.clouds.length > 0) {
      classes.push(jobClass);
    } else if (selecting !== "" && selecting.split(",").some((cloud) => shapes.has(cloud))) {
      unfit.jobs += jobClass.count;
    }
  }
  classes.sort((a, b) => b.cpus - a.cpus || b.memoryMb - a.memoryMb || b.gpus - a.gpus);
  return { classes, demand, unfit };
}

/** How many jobs of a class one more fits into what is left of a worker. */
function fitCount(jobClass: JobClass, free: WorkerShape): number {
  let count = Math.floor(free.cpus / jobClass.cpus);
  if (jobClass.memoryMb > 0) count = Math.min(count, Math.floor(free.memoryMb / jobClass.memoryMb));
  if (jobClass.gpus > 0) count = Math.min(count, Math.floor(free.gpus / jobClass.gpus));
  return count;
}

export interface Packed {
  /** Workers used (each holds at least one job). */
  workers: number;
  jobs: number;
  cpus: number;
  memoryMb: number;
}

/**
 * Packs the remaining jobs of `classes` (those the cloud can hold) into at most `workers` empty
 * workers of `shape`, first fit decreasing, and takes the placed jobs off the classes. A filled
 * worker's pattern is repeated while the classes have jobs for it, so the cost grows with the
 * number of distinct patterns, not with the number of workers.
 */
export function packInto(
  classes: readonly JobClass[],
  shape: WorkerShape,
  workers: number,
  /** At most this many jobs per worker (1 for one-job containers). */
  jobsPerWorker = Number.POSITIVE_INFINITY,
): Packed {
  const packed: Packed = { workers: 0, jobs: 0, cpus: 0, memoryMb: 0 };
  const pattern: Array<{ jobClass: JobClass; taken: number }> = [];
  while (packed.workers < workers) {
    pattern.length = 0;
    const free = { ...shape };
    let slots = jobsPerWorker;
    for (const jobClass of classes) {
      if (jobClass.remaining === 0) continue;
      const taken = Math.min(jobClass.remaining, fitCount(jobClass, free), slots);
      if (taken === 0) continue;
      pattern.push({ jobClass, taken });
      free.cpus -= taken * jobClass.cpus;
      free.memoryMb -= taken * jobClass.memoryMb;
      free.gpus -= taken * jobClass.gpus;
      slots -= taken;
      if (free.cpus <= 0 || slots <= 0) break;
    }
    if (pattern.length === 0) break;
    let repeats = workers - packed.workers;
    for (const { jobClass, taken } of pattern) {
      repeats = Math.min(repeats, Math.floor(jobClass.remaining / taken));
    }
    for (const { jobClass, taken } of pattern) {
      jobClass.remaining -= taken * repeats;
      packed.jobs += taken * repeats;
      packed.cpus += taken * repeats * jobClass.cpus;
      packed.memoryMb += taken * repeats * jobClass.memoryMb;
    }
    packed.workers += repeats;
  }
  return packed;
}

/** The classes a cloud can hold, in packing order. */
export function classesFor(classes: readonly JobClass[], cloud: string): JobClass[] {
  return classes.filter((jobClass) => jobClass.clouds.includes(cloud));
}

export function remainingJobs(classes: readonly JobClass[]): number {
  let total = 0;
  for (const jobClass of classes) total += jobClass.remaining;
  return total;
}
