/**
 * Demand: the idle jobs of the queue, each marked with the clouds whose constraint selects it.
 *
 * HTCondor evaluates the constraints, never this code. One `condor_q -json` asks for the idle jobs
 * any cloud selects. When the clouds' constraints differ, one `condor_q -af` evaluates every
 * cloud's constraint per job. That is two calls at most, however many clouds share the pool.
 */

import type { IdleJob } from "../model/snapshot.js";
import { type ClassAd, numberValue, parseClassAds, stringAttr } from "./classads.js";
import { queryTool, runTool, type ToolOptions } from "./exec.js";
import type { JobSelector } from "./pool.js";

export const JOB_ATTRIBUTES = [
  "GlobalJobId",
  "ClusterId",
  "ProcId",
  "JobStatus",
  "QDate",
  "EnteredCurrentStatus",
  "RequestCpus",
  "RequestMemory",
  "RequestDisk",
  "RequestGPUs",
  "Owner",
  "AcctGroup",
] as const;

export interface QueueTarget {
  /** -pool host[:port]. */
  collector?: string;
  /** Schedd names; undefined: all (-global). */
  schedds?: readonly string[];
}

/** Jobs skipped because an attribute the planner needs was missing or not a number. */
export interface SkippedJobs {
  count: number;
  example?: string;
}

export interface QueueAnswer {
  jobs: IdleJob[];
  skipped: SkippedJobs;
}

function targetArgs(target: QueueTarget, schedd: string | undefined): string[] {
  const args = target.collector === undefined ? [] : ["-pool", target.collector];
  return schedd === undefined ? [...args, "-global"] : [...args, "-name", schedd];
}

/** Every distinct constraint, or-ed: the jobs any cloud would serve. */
export function idleConstraint(selectors: readonly JobSelector[]): string {
  const distinct = [...new Set(selectors.map((s) => s.constraint.trim()))];
  return `JobStatus == 1 && (${distinct.map((c) => `(${c})`).join(" || ")})`;
}

/** The schedd-unique id: `GlobalJobId` without its submit time (`schedd#cluster.proc`). */
function jobId(global: unknown, cluster: number, proc: number): string {
  if (typeof global !== "string") return `${cluster}.${proc}`;
  const hash = global.lastIndexOf("#");
  return hash > 0 ? global.slice(0, hash) : global;
}

/** An idle job from its ad, or undefined when an attribute the planner needs is unusable. */
export function idleJobFromAd(ad: ClassAd, clouds: readonly string[]): IdleJob | undefined {
  // Named reads, not a loop over names: this runs for every idle job of the pool.
  const cluster = numberValue(ad.ClusterId);
  const proc = numberValue(ad.ProcId);
  const idleSince = numberValue(ad.EnteredCurrentStatus) ?? numberValue(ad.QDate);
  // HTCondor gives one core and no GPU when a job does not ask; memory it always sets.
  const cpus = ad.RequestCpus === undefined ? 1 : numberValue(ad.RequestCpus);
  const memoryMb = numberValue(ad.RequestMemory);
  // ClassAd names are case-insensitive and -json prints the ad's own spelling: HTCondor writes RequestGPUs.
  const gpuRequest = ad.RequestGPUs ?? ad.RequestGpus;
  const gpus = gpuRequest === undefined ? 0 : numberValue(gpuRequest);
  if (
    cluster === undefined ||
    proc === undefined ||
    idleSince === undefined ||
    cpus === undefined ||
    memoryMb === undefined ||
    gpus === undefined
  ) {
    return undefined;
  }
  const owner = typeof ad.Owner === "string" ? ad.Owner : undefined;
  const id = jobId(ad.GlobalJobId, cluster, proc);
  return owner === undefined
    ? { id, idleSince, cpus, memoryMb, gpus, clouds }
    : { id, idleSince, cpus, memoryMb, gpus, clouds, owner };
}

/** Parses `-af GlobalJobId <flag per cloud>` lines: global job id → the clouds selecting it. */
export function parseMembership(stdout: string, clouds: readonly string[]): Map<string, string[]> {
  const membership = new Map<string, string[]>();
  for (const line of stdout.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const [id, ...flags] = fields;
    if (id === undefined || id === "" || flags.length !== clouds.length) continue;
    membership.set(
      id,
      clouds.filter((_, index) => flags[index] === "1"),
    );
  }
  return membership;
}

async function queryOne(
  selectors: readonly JobSelector[],
  target: QueueTarget,
  schedd: string | undefined,
  tools: ToolOptions,
): Promise<QueueAnswer> {
  const constraint = idleConstraint(selectors);
  const base = [...targetArgs(target, schedd), "-constraint", constraint];
  const jsonArgs = [...base, "-json", "-attributes", JOB_ATTRIBUTES.join(",")];
  const clouds = selectors.map((s) => s.cloud);
  const shared = new Set(selectors.map((s) => s.constraint.trim())).size === 1;
  // `=?= true` makes an undefined or error result a plain "no".
  const flags = selectors.map((s) => `ifThenElse((${s.constraint}) =?= true, 1, 0)`);
  const [ads, membershipOut] = await Promise.all([
    queryTool("condor_q", jsonArgs, tools, parseClassAds),
    shared
      ? Promise.resolve("")
      : runTool("condor_q", [...base, "-af", "GlobalJobId", ...flags], tools),
  ]);
  const membership = shared ? undefined : parseMembership(membershipOut, clouds);

  const jobs: IdleJob[] = [];
  const skipped: SkippedJobs = { count: 0 };
  for (const ad of ads) {
    const global = stringAttr(ad, "GlobalJobId");
    // A job that appeared between the two calls is counted at the next tick.
    const selecting =
      membership === undefined ? clouds : global === undefined ? undefined : membership.get(global);
    if (selecting === undefined) continue;
    if (selecting.length === 0) continue;
    const job = idleJobFromAd(ad, selecting);
    if (job === undefined) {
      skipped.count += 1;
      skipped.example ??= `${String(ad.ClusterId)}.${String(ad.ProcId)}`;
      continue;
    }
    jobs.push(job);
  }
  return { jobs, skipped };
}

/** Idle jobs of every schedd asked for; any failed call fails the whole answer (a queue gap). */
export async function queryIdleJobs(
  selectors: readonly JobSelector[],
  target: QueueTarget,
  tools: ToolOptions,
): Promise<QueueAnswer> {
  if (selectors.length === 0) return { jobs: [], skipped: { count: 0 } };
  const schedds = target.schedds ?? [undefined];
  const answers = await Promise.all(
    schedds.map((schedd) => queryOne(selectors, target, schedd, tools)),
  );
  const skipped: SkippedJobs = { count: 0 };
  for (const answer of answers) {
    skipped.count += answer.skipped.count;
    skipped.example ??= answer.skipped.example;
  }
  return { jobs: answers.flatMap((answer) => answer.jobs), skipped };
}
