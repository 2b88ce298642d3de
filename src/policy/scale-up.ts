/**
 * Scale-up: how many workers to ask of which cloud.
 *
 * 1. Jobs that fit on workers already booting or idle (and on workers launched to keep a cloud's
 *    minimum) are taken off the demand first.
 * 2. The rest is packed into new workers, cloud groups in priority order (lower first). Inside a
 *    group the most starved cloud (fewest workers per unit of share) goes first, the cheaper one
 *    on a tie. Each cloud is capped by maxWorkers, quota headroom, the per-tick limit and slow
 *    start; a cloud that is capped, backing off or disabled leaves its jobs to the next.
 */
import { formatDuration } from "../config/duration.js";
import type { Memory } from "../model/memory.js";
import type { LaunchAction } from "../model/plan.js";
import type { CloudPolicy, PoolPolicy, WorkerShape } from "../model/policy.js";
import type { Headroom } from "../model/snapshot.js";
import { learnedQuotaRoom } from "./adaptive.js";
import { avoidedScopes, cloudMemory, launchBlock } from "./backoff.js";
import { classesFor, type JobClass, packInto, remainingJobs } from "./demand.js";
import { plural } from "./plural.js";

/** What scale-up needs to know of one cloud after scale-down was decided. */
export interface CloudFleet {
  policy: CloudPolicy;
  /** Workers that exist (not gone), including those being terminated this tick. */
  present: number;
  /** Workers that will still exist after this tick's terminations. */
  remaining: number;
  /** Booting (not stuck) and idle workers not being terminated: room for jobs already. */
  free: number;
  headroom?: Headroom;
  /** Why the cloud could not be observed this tick, if it could not. */
  unobserved?: string;
}

interface Placement {
  fleet: CloudFleet;
  classes: JobClass[];
  allowance: number;
  /** The smallest cap, for the log when it binds. */
  cap: string;
  block?: string;
  minTopUp: number;
  launch: number;
  absorbed: number;
  /** Free workers (idle, booting, topping up the minimum) the absorbed jobs take. */
  absorbedWorkers: number;
  /** Launched to keep the warm buffer (adaptive defaults), not for any job. */
  buffer: number;
  placedJobs: number;
  placedCpus: number;
  placedMemoryMb: number;
  spilledFrom: string[];
  /** Jobs this cloud could run were left waiting when its group was done. */
  leftWaiting: number;
}

function shapeText(shape: WorkerShape): string {
  return `${shape.cpus}-cpu/${shape.memoryMb}MB${shape.gpus > 0 ? `/${shape.gpus}-gpu` : ""}`;
}

function headroomWorkers(headroom: Headroom | undefined, shape: WorkerShape): number {
  if (headroom === undefined) return Number.POSITIVE_INFINITY;
  let workers = headroom.instances ?? Number.POSITIVE_INFINITY;
  if (headroom.cpus !== undefined)
    workers = Math.min(workers, Math.floor(headroom.cpus / shape.cpus));
  if (headroom.memoryMb !== undefined) {
    workers = Math.min(workers, Math.floor(headroom.memoryMb / shape.memoryMb));
  }
  return Math.max(0, workers);
}

function placementFor(
  pool: PoolPolicy,
  fleet: CloudFleet,
  classes: readonly JobClass[],
  memory: Memory,
  now: number,
): Placement {
  const { policy } = fleet;
  const state = cloudMemory(memory, policy.name);
  const block =
    fleet.unobserved !== undefined
      ? `not observed this tick: ${fleet.unobserved}`
      : (policy.hold ?? launchBlock(state, now));
  const caps: Array<[string, number]> = [
    [`maxWorkers ${policy.maxWorkers}`, policy.maxWorkers - fleet.present],
    [`maxLaunchPerTick ${policy.maxLaunchPerTick}`, policy.maxLaunchPerTick],
    [`quota headroom`, headroomWorkers(fleet.headroom, policy.worker)],
  ];
  if (state.batchLimit !== undefined)
    caps.push([`slow start (${state.batchLimit} at a time)`, state.batchLimit]);
  const learned = learnedQuotaRoom(memory, pool, policy.name, fleet.present, now);
  if (learned !== undefined)
    caps.push([`quota (answered at ${state.quotaSeen?.instances ?? 0} workers)`, learned]);
  let [cap, allowance] = caps[0] ?? ["", 0];
  for (const [name, value] of caps) {
    if (value < allowance) [cap, allowance] = [name, value];
  }
  allowance = block === undefined ? Math.max(0, allowance) : 0;
  const minTopUp = Math.min(allowance, Math.max(0, policy.minWorkers - fleet.remaining));
  return {
    fleet,
    classes: classesFor(classes, policy.name),
    allowance,
    cap,
    ...(block === undefined ? {} : { block }),
    minTopUp,
    launch: minTopUp,
    absorbed: 0,
    absorbedWorkers: 0,
    buffer: 0,
    placedJobs: 0,
    placedCpus: 0,
    placedMemoryMb: 0,
    spilledFrom: [],
    leftWaiting: 0,
  };
}

function byPriority(a: Placement, b: Placement): number {
  return (
    a.fleet.policy.priority - b.fleet.policy.priority ||
    a.fleet.policy.name.localeCompare(b.fleet.policy.name)
  );
}

/** Fewest workers per unit of share first; cheaper, then name, on a tie. */
function mostStarved(a: Placement, b: Placement): number {
  const starvation = (p: Placement) => (p.fleet.remaining + p.launch) / p.fleet.policy.share;
  return (
    starvation(a) - starvation(b) ||
    a.fleet.policy.costPerHour - b.fleet.policy.costPerHour ||
    a.fleet.policy.name.localeCompare(b.fleet.policy.name)
  );
}

export interface ScaleUp {
  actions: LaunchAction[];
  notes: string[];
}

export function scaleUp(
  pool: PoolPolicy,
  fleets: readonly CloudFleet[],
  classes: readonly JobClass[],
  memory: Memory,
  now: number,
  /** The persistence this tick (`auto` decides it per tick), for the reason. */
  persistence: number = pool.persistence === "auto" ? 0 : pool.persistence,
  /** Spare workers the warm buffer wants (adaptive defaults; 0 otherwise). */
  spare = 0,
): ScaleUp {
  const placements = fleets
    .map((fleet) => placementFor(pool, fleet, classes, memory, now))
    .sort(byPriority);
  const notes: string[] = [];

  // 1. Capacity that exists or is being made anyway takes jobs first.
  for (const placement of placements) {
    const free = placement.fleet.free + placement.minTopUp;
    const packed = packInto(
      placement.classes,
      placement.fleet.policy.worker,
      free,
      placement.fleet.policy.jobsPerWorker,
    );
    placement.absorbed = packed.jobs;
    placement.absorbedWorkers = packed.workers;
  }

  // 2. New workers, group by group.
  const unmetBefore: string[] = [];
  let start = 0;
  while (start < placements.length) {
    const priority = placements[start]?.fleet.policy.priority;
    let end = start;
    while (end < placements.length && placements[end]?.fleet.policy.priority === priority) end += 1;
    const group = placements.slice(start, end);
    start = end;

    for (;;) {
      const open = group.filter((p) => p.launch < p.allowance && remainingJobs(p.classes) > 0);
      const next = open.sort(mostStarved)[0];
      if (next === undefined) break;
      // Alone in its group a cloud takes all it can at once; otherwise one worker at a time keeps the shares.
      const room = open.length === 1 ? next.allowance - next.launch : 1;
      const packed = packInto(
        next.classes,
        next.fleet.policy.worker,
        room,
        next.fleet.policy.jobsPerWorker,
      );
      if (packed.workers === 0) break;
      next.launch += packed.workers;
      next.placedJobs += packed.jobs;
      next.placedCpus += packed.cpus;
      next.placedMemoryMb += packed.memoryMb;
      if (unmetBefore.length > 0) next.spilledFrom = [...unmetBefore];
    }

    for (const placement of group) {
      const waiting = remainingJobs(placement.classes);
      placement.leftWaiting = waiting;
      if (waiting === 0) continue;
      const why = placement.block ?? `capped by ${placement.cap}`;
      notes.push(
        `${placement.fleet.policy.name}: could not take ${plural(waiting, "more job")}: ${why}`,
      );
      unmetBefore.push(placement.fleet.policy.name);
    }
  }

  // 3. The warm buffer (adaptive defaults): spare workers for the work expected within a boot.
  let short = spare;
  for (const placement of placements)
    short -= placement.fleet.free + placement.minTopUp - placement.absorbedWorkers;
  for (const placement of placements) {
    if (short <= 0) break;
    if (placement.fleet.policy.idleTimeout !== "auto") continue;
    const take = Math.min(short, placement.allowance - placement.launch);
    if (take <= 0) continue;
    placement.launch += take;
    placement.buffer += take;
    short -= take;
  }

  const unplaced = remainingJobs(classes);
  if (unplaced > 0) notes.push(`${plural(unplaced, "job")} wait that no cloud can take this tick`);

  const actions: LaunchAction[] = [];
  for (const placement of placements) {
    if (placement.launch === 0) continue;
    const { policy } = placement.fleet;
    const parts: string[] = [];
    const demandWorkers = placement.launch - placement.minTopUp - placement.buffer;
    if (demandWorkers > 0) {
      parts.push(
        `${plural(placement.placedJobs, "idle job")} (${placement.placedCpus} cpus, ${placement.placedMemoryMb} MB) waiting ≥ ${formatDuration(persistence)}${pool.persistence === "auto" ? " (persistence auto)" : ""}: need ${plural(demandWorkers, `new ${shapeText(policy.worker)} worker`)}`,
      );
    }
    if (placement.minTopUp > 0)
      parts.push(`${placement.minTopUp} to keep minWorkers ${policy.minWorkers}`);
    if (placement.buffer > 0)
      parts.push(
        `${plural(placement.buffer, "spare worker")} for the jobs expected within one boot (warm buffer of ${spare}, idleTimeout auto)`,
      );
    if (placement.absorbed > 0)
      parts.push(`${plural(placement.absorbed, "more job")} fit on workers booting or idle`);
    if (placement.leftWaiting > 0) {
      parts.push(`capped by ${placement.cap}`);
    }
    if (placement.spilledFrom.length > 0)
      parts.push(`spilled over from ${placement.spilledFrom.join(", ")}`);
    const action: LaunchAction = {
      kind: "launch",
      cloud: policy.name,
      count: placement.launch,
      reason: parts.join("; "),
    };
    const avoid = avoidedScopes(cloudMemory(memory, policy.name), now);
    if (avoid.length > 0) action.avoid = avoid;
    actions.push(action);
  }
  return { actions, notes };
}
