/**
 * Demand: the idle jobs of the queue, each marked with the clouds whose constraint selects it.
 *
 * HTCondor evaluates everything, never this code: the constraints, and the requests, which are
 * often expressions (a job submitted without request_memory asks for
 * `ifthenelse(MemoryUsage isnt undefined, MemoryUsage, (ImageSize + 1023) / 1024)`, which -json
 * prints unevaluated). So one `condor_q -af:t` per schedd prints, per idle job, the evaluated
 * values of JOB_COLUMNS and, when the clouds' constraints differ, a 1/0 per cloud.
 */

import { CondorError } from "../model/errors.js";
import type { IdleJob } from "../model/snapshot.js";
import { queryTool, type ToolOptions } from "./exec.js";
import type { JobSelector } from "./pool.js";

/** The columns of the -af answer, in order; the per-cloud flags follow them. */
export const JOB_COLUMNS = [
  "GlobalJobId",
  "ClusterId",
  "ProcId",
  "EnteredCurrentStatus",
  "QDate",
  "RequestCpus",
  "RequestMemory",
  "RequestGPUs",
  "Owner",
] as const;

/**
 * What `condor_q -global` prints on stdout, exit 0, when no schedd holds a job at all (any output
 * format). Without -global a constraint that matches nothing prints nothing.
 */
export const ALL_QUEUES_EMPTY = "All queues are empty";

export interface QueueTarget {
  /** -pool host[:port]. */
  collector?: string;
  /** Schedd names; undefined: all (-global). */
  schedds?: readonly string[];
}

/** Jobs skipped because a request HTCondor evaluated is undefined, an error or not a number. */
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

/** The -af argument of a cloud's flag: `=?= true` makes undefined or error a plain 0. */
export function cloudFlag(constraint: string): string {
  return `ifThenElse((${constraint}) =?= true, 1, 0)`;
}

/** The schedd-unique id: `GlobalJobId` without its submit time (`schedd#cluster.proc`). */
function jobId(global: string, cluster: number, proc: number): string {
  if (global === "undefined") return `${cluster}.${proc}`;
  const hash = global.lastIndexOf("#");
  return hash > 0 ? global.slice(0, hash) : global;
}

/** A number as -af prints one; `undefined`, `error` and anything else are not. */
function evaluated(field: string | undefined): number | undefined {
  if (field === undefined || field === "" || field === "undefined" || field === "error")
    return undefined;
  const value = Number(field);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * One job from its -af fields (JOB_COLUMNS order), or undefined when HTCondor could not evaluate
 * a request: such a job matches no slot either.
 */
export function idleJobFromFields(
  fields: readonly string[],
  clouds: readonly string[],
): IdleJob | undefined {
  const [global, clusterId, procId, entered, qdate, cpuRequest, memoryRequest, gpuRequest, owner] =
    fields;
  const cluster = evaluated(clusterId);
  const proc = evaluated(procId);
  const idleSince = evaluated(entered) ?? evaluated(qdate);
  // HTCondor gives one core and no GPU when a job does not ask.
  const cpus = cpuRequest === "undefined" ? 1 : evaluated(cpuRequest);
  const memoryMb = evaluated(memoryRequest);
  const gpus = gpuRequest === "undefined" ? 0 : evaluated(gpuRequest);
  if (
    global === undefined ||
    cluster === undefined ||
    proc === undefined ||
    idleSince === undefined ||
    cpus === undefined ||
    memoryMb === undefined ||
    gpus === undefined
  ) {
    return undefined;
  }
  const id = jobId(global, cluster, proc);
  return owner === undefined || owner === "undefined" || owner === ""
    ? { id, idleSince, cpus, memoryMb, gpus, clouds }
    : { id, idleSince, cpus, memoryMb, gpus, clouds, owner };
}

/**
 * Reads the -af:t answer. A line with the wrong number of fields means the answer is not what was
 * asked for (cut short, or another format): the whole answer is refused, never half read.
 */
export function parseQueue(
  stdout: string,
  command: string,
  clouds: readonly string[],
  flagged: boolean,
): QueueAnswer {
  const jobs: IdleJob[] = [];
  const skipped: SkippedJobs = { count: 0 };
  if (stdout.trim() === ALL_QUEUES_EMPTY) return { jobs, skipped };
  const width = JOB_COLUMNS.length + (flagged ? clouds.length : 0);
  let lineNumber = 0;
  for (const line of stdout.split("\n")) {
    lineNumber += 1;
    if (line === "") continue;
    const fields = line.split("\t");
    if (fields.length !== width) {
      throw new CondorError(
        "output",
        command,
        `line ${lineNumber} has ${fields.length} fields, expected ${width}`,
      );
    }
    const selecting = flagged
      ? clouds.filter((_, index) => fields[JOB_COLUMNS.length + index] === "1")
      : clouds;
    if (selecting.length === 0) continue;
    const job = idleJobFromFields(fields, selecting);
    if (job === undefined) {
      skipped.count += 1;
      skipped.example ??= `${fields[1] ?? "?"}.${fields[2] ?? "?"}`;
      continue;
    }
    jobs.push(job);
  }
  return { jobs, skipped };
}

/** The arguments of one schedd's (or -global's) demand query. */
export function queueArgs(
  selectors: readonly JobSelector[],
  target: QueueTarget,
  schedd: string | undefined,
): { args: string[]; flagged: boolean } {
  const flagged = new Set(selectors.map((s) => s.constraint.trim())).size > 1;
  const flags = flagged ? selectors.map((s) => cloudFlag(s.constraint)) : [];
  return {
    // -af takes every argument up to the next one starting with '-': it comes last.
    args: [
      ...targetArgs(target, schedd),
      "-constraint",
      idleConstraint(selectors),
      "-af:t",
      ...JOB_COLUMNS,
      ...flags,
    ],
    flagged,
  };
}

/** Idle jobs of every schedd asked for; any failed call fails the whole answer (a queue gap). */
export async function queryIdleJobs(
  selectors: readonly JobSelector[],
  target: QueueTarget,
  tools: ToolOptions,
): Promise<QueueAnswer> {
  if (selectors.length === 0) return { jobs: [], skipped: { count: 0 } };
  const clouds = selectors.map((s) => s.cloud);
  const schedds = target.schedds ?? [undefined];
  const answers = await Promise.all(
    schedds.map((schedd) => {
      const { args, flagged } = queueArgs(selectors, target, schedd);
      return queryTool("condor_q", args, tools, (stdout, command) =>
        parseQueue(stdout, command, clouds, flagged),
      );
    }),
  );
  const skipped: SkippedJobs = { count: 0 };
  for (const answer of answers) {
    skipped.count += answer.skipped.count;
    skipped.example ??= answer.skipped.example;
  }
  // A schedd listed twice (or answering twice under -global) must not count its jobs twice.
  const seen = new Set<string>();
  const jobs = answers
    .flatMap((answer) => answer.jobs)
    .filter((job) => !seen.has(job.id) && seen.add(job.id) !== undefined);
  return { jobs, skipped };
}
