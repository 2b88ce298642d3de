/**
 * Baselines the simulator runs on the same tick path as our planner, to compare against it:
 *
 * - `elastiqClassic`: the algorithm of elastiq (https://github.com/dberzano/elastiq), the daemon
 *   that scaled CERN's virtual analysis facilities: count the jobs waiting, ask for one VM per
 *   n jobs, shut down VMs idle for an hour, pick the victims at random.
 * - `staticPool`: a fixed number of workers, kept alive whatever the queue holds, and no more.
 * - `clairvoyant`: an oracle that knows every arrival and the site's boot delay (at the end).
 *
 * The first two are planners like ours (pure functions of snapshot, policy, memory and time) and keep the
 * rules that protect the clouds and the jobs rather than decide how many workers to run: no
 * launch into a cloud that backs off, is disabled or could not be observed (launchBlock); no call
 * at all to a throttled cloud; nothing terminated on an incomplete observation; no launch above a
 * cloud's maxWorkers, maxLaunchPerTick or slow-start batch; the scopes backing off are avoided.
 * They ignore the quota headroom a cloud reports: elastiq never asked, it only met the refusals.
 */
import {
  BASELINE_DEFAULT_SEED,
  ELASTIQ_DEPLOY_TIME,
  ELASTIQ_IDLE_TIME,
  ELASTIQ_JOBS_PER_VM,
  ELASTIQ_WAITING_JOBS_THRESHOLD,
  ELASTIQ_WAITING_JOBS_TIME,
} from "../config/defaults.js";
import { formatDuration } from "../config/duration.js";
import { type AutoscalerConfig, simulatedProviderSchema } from "../config/schema.js";
import type { Memory } from "../model/memory.js";
import type { LaunchAction, Plan, TerminateAction, WorkerReport } from "../model/plan.js";
import type { CloudPolicy, PoolPolicy, Seconds, WorkerShape } from "../model/policy.js";
import type { Snapshot, Worker } from "../model/snapshot.js";
import { avoidedScopes, cloudMemory, isThrottled, launchBlock } from "../policy/backoff.js";
import { analyseDemand } from "../policy/demand.js";
import { plural } from "../policy/plural.js";
import { cloudSight } from "../policy/sight.js";
import { incompleteNote, reportWorkers } from "../policy/workers.js";
import { type Random, seededRandom } from "../random.js";
import type { Planner } from "../tick/tick.js";
import type { PoolTruth } from "./pool.js";

// ---- What both baselines share ----

/**
 * A baseline is a planner (it can be called, and passed as `TickInput.planner`) that also carries
 * what the simulator's `SimPolicy` needs besides: itself as `planner`, and the durations it decides
 * by as `timers`, so that a quiet stretch is skipped only up to the next one a worker or job crosses.
 */
export type BaselinePlanner = Planner & {
  readonly planner: Planner;
  readonly timers: readonly number[];
};

function baseline(planner: Planner, timers: readonly number[]): BaselinePlanner {
  return Object.assign(planner, { planner, timers: [...new Set(timers)] });
}

/** One configured cloud as a baseline sees it this tick. */
interface Fleet {
  policy: CloudPolicy;
  workers: Worker[];
  /** The cloud asked us to slow down: no call at all this tick, terminations included. */
  throttled: boolean;
}

interface Survey {
  /** Lower priority first, then by name: the order launches fill the clouds in. */
  fleets: Fleet[];
  workers: WorkerReport[];
  /** Terminations only on a complete observation: the baselines keep the first build's rule. */
  complete: boolean;
  /** Whether the queue was read; when it was not, no job counts. */
  queueSeen: boolean;
  notes: string[];
}

function survey(snapshot: Snapshot, policy: PoolPolicy, memory: Memory, now: number): Survey {
  // Workers are reported with our planner's lifecycle (stuck past bootTimeout) whatever the
  // baseline decides, so that the simulator measures every policy with the same yardstick.
  const { workers, byCloud } = reportWorkers(snapshot, policy, now);

  const notes: string[] = [];
  const complete = snapshot.gaps.length === 0;
  const incomplete = incompleteNote(snapshot);
  if (incomplete !== undefined) notes.push(incomplete);
  const fleets = [...policy.clouds]
    .sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name))
    .map((cloud) => {
      const throttled = isThrottled(cloudMemory(memory, cloud.name), now);
      if (throttled) notes.push(`${cloud.name}: throttled, no calls this tick`);
      return { policy: cloud, workers: byCloud.get(cloud.name) ?? [], throttled };
    });
  return {
    fleets,
    workers,
    complete,
    queueSeen: !snapshot.gaps.some((gap) => gap.source === "queue"),
    notes,
  };
}

function terminate(
  cloud: string,
  worker: Worker,
  cause: TerminateAction["cause"],
  reason: string,
): TerminateAction {
  return { kind: "terminate", cloud, instanceIds: [worker.instanceId], cause, reason };
}

/**
 * Failed workers, and workers still booting more than `stuckAfter` after their launch: both
 * baselines end them, as our planner does (elastiq terminated and replaced VMs in error, and
 * killed those that had not joined after its estimated deploy time).
 */
function faulty(fleet: Fleet, stuckAfter: Seconds, limit: string, now: number): TerminateAction[] {
  const actions: TerminateAction[] = [];
  for (const worker of fleet.workers) {
    const age = now - worker.launchedAt;
    if (worker.state === "failed") {
      const why = worker.fault?.message ?? "no reason given";
      actions.push(
        terminate(
          fleet.policy.name,
          worker,
          "failed",
          `${worker.name}: failed in the cloud: ${why}`,
        ),
      );
    } else if (worker.state === "booting" && age > stuckAfter) {
      const reason = `${worker.name}: stuck booting for ${formatDuration(age)} (${limit})`;
      actions.push(terminate(fleet.policy.name, worker, "stuck", reason));
    }
  }
  return actions;
}

/** How many workers one cloud may still be asked for this tick, and what it is given. */
interface Room {
  policy: CloudPolicy;
  /** Workers alive after this tick's terminations. */
  alive: number;
  allowance: number;
  /** The cap that sets the allowance, or why launches are held back. */
  limit: string;
  /** Launched to keep the cloud's minWorkers. */
  topUp: number;
  /** Launched for the baseline's own reason (waiting jobs, the static pool's size). */
  more: number;
}

/**
 * `present` counts the workers being terminated this tick too: a termination may fail, and the
 * cloud's maxWorkers must hold even then.
 */
function roomOf(
  fleet: Fleet,
  present: number,
  alive: number,
  snapshot: Snapshot,
  memory: Memory,
  now: number,
): Room {
  const { policy } = fleet;
  const state = cloudMemory(memory, policy.name);
  const gap = snapshot.gaps.find((g) => g.source === "cloud" && g.cloud === policy.name);
  const block =
    gap !== undefined
      ? `not observed this tick: ${gap.message}`
      : (policy.hold ?? launchBlock(state, now));
  const room = { policy, alive, topUp: 0, more: 0 };
  if (block !== undefined) return { ...room, allowance: 0, limit: block };
  const caps: Array<[string, number]> = [
    [`capped by maxWorkers ${policy.maxWorkers}`, policy.maxWorkers - present],
    [`capped by maxLaunchPerTick ${policy.maxLaunchPerTick}`, policy.maxLaunchPerTick],
  ];
  if (state.batchLimit !== undefined)
    caps.push([`capped by slow start (${state.batchLimit} at a time)`, state.batchLimit]);
  const [limit, allowance] = caps.reduce((low, cap) => (cap[1] < low[1] ? cap : low));
  return { ...room, allowance: Math.max(0, allowance), limit };
}

function left(room: Room): number {
  return room.allowance - room.topUp - room.more;
}

/** Gives `wanted` workers to the rooms in order, each up to its allowance; returns what is left. */
function fill(rooms: readonly Room[], wanted: number): number {
  let rest = wanted;
  for (const room of rooms) {
    const take = Math.min(rest, left(room));
    if (take <= 0) continue;
    room.more += take;
    rest -= take;
  }
  return rest;
}

/** Why the clouds could not take more: one clause per cloud that ran out of room. */
function whyFull(rooms: readonly Room[]): string {
  return rooms
    .filter((room) => left(room) <= 0)
    .map((room) => `${room.policy.name}: ${room.limit}`)
    .join("; ");
}

function launch(room: Room, reason: string, memory: Memory, now: number): LaunchAction {
  const action: LaunchAction = {
    kind: "launch",
    cloud: room.policy.name,
    count: room.topUp + room.more,
    reason,
  };
  const avoid = avoidedScopes(cloudMemory(memory, room.policy.name), now);
  if (avoid.length > 0) action.avoid = avoid;
  return action;
}

/** A baseline's plan: its actions, with the demand it saw and a note for jobs no worker can hold. */
function planOf(
  analysis: Pick<Plan, "demand" | "unfit">,
  workers: Plan["workers"],
  actions: Plan["actions"],
  notes: readonly string[],
): Plan {
  const { demand, unfit } = analysis;
  return { demand, workers, actions, unfit, notes: [...notes, ...unfitNote(unfit)] };
}

function unfitNote(unfit: Plan["unfit"]): string[] {
  if (unfit.jobs === 0) return [];
  const examples = unfit.examples.join(", ");
  return [`no cloud's worker shape can hold ${plural(unfit.jobs, "job")}, e.g. ${examples}`];
}

/** Up to `count` of `items`, chosen uniformly at random (a partial Fisher–Yates shuffle). */
function choose<T>(items: readonly T[], count: number, random: Random): T[] {
  const pool = [...items];
  const picked = Math.min(count, pool.length);
  for (let i = 0; i < picked; i += 1) {
    const j = i + Math.floor(random() * (pool.length - i));
    const chosen = pool[j] as T;
    pool[j] = pool[i] as T;
    pool[i] = chosen;
  }
  return pool.slice(0, picked);
}

function check(name: string, value: number, integer: boolean, minimum: number): number {
  if (!Number.isFinite(value) || value < minimum || (integer && !Number.isInteger(value))) {
    const what = integer ? "an integer" : "a number";
    throw new RangeError(`${name} must be ${what} of at least ${minimum}, got ${value}`);
  }
  return value;
}

// ---- elastiq ----

export interface ElastiqOptions {
  /** n_jobs_per_vm: waiting jobs one new VM is expected to take. */
  jobsPerVm?: number;
  /** waiting_jobs_threshold: VMs are asked for only when more jobs than this wait. */
  waitingJobsThreshold?: number;
  /** waiting_jobs_time_s: a job counts as waiting once it has been idle this long. */
  waitingJobsTime?: Seconds;
  /** estimated_vm_deploy_time_s: a booting VM counts as on its way for this long, then is stuck. */
  deployTime?: Seconds;
  /** idle_for_time_s: a VM idle for longer is shut down. */
  idleTime?: Seconds;
  /** Seeds the draw of the idle VMs to shut down; default BASELINE_DEFAULT_SEED. */
  seed?: number;
  /** Draws the idle VMs to shut down; takes precedence over `seed`. */
  random?: Random;
}

type ElastiqSettings = Required<Omit<ElastiqOptions, "seed">>;

function elastiqSettings(options: ElastiqOptions): ElastiqSettings {
  return {
    jobsPerVm: check("jobsPerVm", options.jobsPerVm ?? ELASTIQ_JOBS_PER_VM, true, 1),
    waitingJobsThreshold: check(
      "waitingJobsThreshold",
      options.waitingJobsThreshold ?? ELASTIQ_WAITING_JOBS_THRESHOLD,
      false,
      0,
    ),
    waitingJobsTime: check(
      "waitingJobsTime",
      options.waitingJobsTime ?? ELASTIQ_WAITING_JOBS_TIME,
      false,
      0,
    ),
    deployTime: check("deployTime", options.deployTime ?? ELASTIQ_DEPLOY_TIME, false, 0),
    idleTime: check("idleTime", options.idleTime ?? ELASTIQ_IDLE_TIME, false, 0),
    random: options.random ?? seededRandom(options.seed ?? BASELINE_DEFAULT_SEED),
  };
}

/**
 * elastiq's algorithm over our snapshot. Every tick:
 *
 * 1. Failed VMs are terminated, and so are VMs still booting `deployTime` after their launch
 *    (elastiq's own check of VMs that never join: it applies its estimated deploy time, not the
 *    cloud's bootTimeout, which the baseline leaves to our planner).
 * 2. In each cloud, VMs idle for longer than `idleTime` are shut down, but never below the
 *    cloud's minWorkers; when fewer may go than qualify, the victims are drawn at random.
 * 3. A cloud below its minWorkers is topped up (elastiq's min_vms).
 * 4. The idle jobs that have waited at least `waitingJobsTime` and that the worker of some cloud
 *    selecting them can hold are counted (a job no worker can hold would have elastiq launch VMs
 *    for it until the end of time, which says nothing about scaling);
 *    when there are more than `waitingJobsThreshold`, ceil(waiting / jobsPerVm) VMs are wanted,
 *    less the VMs still deploying (booting, launched less than `deployTime` ago) and those just
 *    launched for minWorkers. elastiq knew one cloud; here the VMs go to the clouds in priority
 *    order, each up to its room, blind to which jobs a cloud selects or its worker shape, as
 *    elastiq was.
 *
 * Where it departs from elastiq 1.0: elastiq required the queue to stay above the threshold for
 * `waitingJobsTime` (one timer, kept between checks); a planner keeps no state of its own, so
 * each job must have waited that long instead. elastiq rounded waiting / jobsPerVm to the nearest
 * integer, and took jobsPerVm jobs off the waiting ones for every VM launched within the deploy
 * time, joined or not, before comparing with the threshold; this asks for ceil(), compares the
 * jobs themselves, and subtracts only the VMs that have not joined yet (a joined one runs jobs,
 * which then no longer wait).
 */
export function elastiqClassic(options: ElastiqOptions = {}): BaselinePlanner {
  const settings = elastiqSettings(options);
  const { jobsPerVm, waitingJobsThreshold, waitingJobsTime, deployTime, idleTime, random } =
    settings;
  const deployLimit = `not in the pool after elastiq's estimated deploy time ${formatDuration(deployTime)}`;

  const planner: Planner = (snapshot, policy, memory, now) => {
    const seen = survey(snapshot, policy, memory, now);
    const notes = [...seen.notes];
    const terminations: TerminateAction[] = [];
    const rooms: Room[] = [];
    let deploying = 0;

    for (const fleet of seen.fleets) {
      const acting = seen.complete && !fleet.throttled;
      const leaving = acting ? faulty(fleet, deployTime, deployLimit, now) : [];
      const leavingIds = new Set(leaving.flatMap((action) => action.instanceIds));
      let present = 0;
      let alive = 0;
      const idle: Worker[] = [];
      for (const worker of fleet.workers) {
        if (worker.state === "gone") continue;
        present += 1;
        if (leavingIds.has(worker.instanceId)) continue;
        alive += 1;
        if (worker.state === "booting" && now - worker.launchedAt < deployTime) deploying += 1;
        if (worker.state === "idle" && (worker.idleSeconds ?? 0) > idleTime) idle.push(worker);
      }
      terminations.push(...leaving);

      if (acting && idle.length > 0) {
        const removable = Math.max(0, alive - fleet.policy.minWorkers);
        // Sorted first, so that the draw depends on the seed only, not on the listing's order.
        const candidates = [...idle].sort((a, b) => a.instanceId.localeCompare(b.instanceId));
        const victims =
          removable >= candidates.length ? candidates : choose(candidates, removable, random);
        const drawn =
          victims.length < candidates.length
            ? `, drawn at random among ${candidates.length} (minWorkers ${fleet.policy.minWorkers})`
            : "";
        for (const worker of victims) {
          const idleFor = formatDuration(worker.idleSeconds ?? 0);
          const reason = `${worker.name}: idle for ${idleFor} (elastiq's idle time ${formatDuration(idleTime)})${drawn}`;
          terminations.push(terminate(fleet.policy.name, worker, "idle", reason));
        }
        alive -= victims.length;
      }

      const room = roomOf(fleet, present, alive, snapshot, memory, now);
      room.topUp = Math.min(room.allowance, Math.max(0, fleet.policy.minWorkers - alive));
      rooms.push(room);
    }

    const shapes = new Map(policy.clouds.map((cloud) => [cloud.name, cloud.worker]));
    const fitsSome = (job: Snapshot["jobs"][number]) =>
      job.clouds.some((name) => {
        const shape = shapes.get(name);
        return (
          shape !== undefined &&
          Math.max(1, job.cpus) <= shape.cpus &&
          job.memoryMb <= shape.memoryMb &&
          job.gpus <= shape.gpus
        );
      });
    const waitedSince = now - waitingJobsTime;
    let waiting = 0;
    if (seen.queueSeen) {
      for (const job of snapshot.jobs)
        if (job.idleSince <= waitedSince && fitsSome(job)) waiting += 1;
    }
    const wanted = waiting > waitingJobsThreshold ? Math.ceil(waiting / jobsPerVm) : 0;
    const toppedUp = rooms.reduce((sum, room) => sum + room.topUp, 0);
    const request = Math.max(0, wanted - deploying - toppedUp);
    const unmet = fill(rooms, request);
    const why = `${plural(waiting, "job")} waiting ≥ ${formatDuration(waitingJobsTime)} (threshold ${waitingJobsThreshold}) want ${plural(wanted, "VM")} at ${jobsPerVm} jobs per VM${deploying > 0 ? `, ${deploying} still deploying` : ""}`;
    if (unmet > 0)
      notes.push(
        `elastiq: ${plural(unmet, "VM")} wanted that no cloud can take: ${whyFull(rooms)}`,
      );

    const launches: LaunchAction[] = [];
    for (const room of rooms) {
      if (room.topUp + room.more === 0) continue;
      const parts: string[] = [];
      if (room.more > 0) parts.push(`elastiq: ${room.more} of ${request} new VMs: ${why}`);
      if (room.topUp > 0) parts.push(`${room.topUp} to keep minWorkers ${room.policy.minWorkers}`);
      if (unmet > 0 && left(room) === 0) parts.push(room.limit);
      launches.push(launch(room, parts.join("; "), memory, now));
    }

    const analysis = analyseDemand(
      seen.queueSeen ? snapshot.jobs : [],
      { ...policy, persistence: waitingJobsTime },
      now,
    );
    return planOf(analysis, seen.workers, [...launches, ...terminations], notes);
  };
  return baseline(planner, [waitingJobsTime, deployTime, idleTime]);
}

// ---- Static pool ----

export interface StaticPoolOptions {
  /** A worker still booting this long after its launch is stuck; default: the cloud's bootTimeout. */
  stuckAfter?: Seconds;
}

/**
 * A cloud's workers as last known: this tick's listing with the launches it does not show yet, or,
 * when it went unlisted, its last listing (of any age) with the launches since.
 */
function lastKnown(snapshot: Snapshot, cloud: CloudPolicy, memory: Memory, now: number): Worker[] {
  const sight = cloudSight(snapshot, cloud, memory, now);
  if (sight.listed) return sight.counted.filter((worker) => worker.state !== "gone");
  const state = cloudMemory(memory, cloud.name);
  const seen = (state.lastSeen?.workers ?? []).filter((worker) => worker.state !== "gone");
  const ids = new Set(seen.map((worker) => worker.instanceId));
  const pending = (state.launched ?? [])
    .filter((launch) => !ids.has(launch.id))
    .map(
      (launch): Worker => ({
        cloud: cloud.name,
        instanceId: launch.id,
        name: launch.id,
        state: "booting",
        launchedAt: launch.at,
      }),
    );
  return [...seen, ...pending];
}

/**
 * A fixed pool of `workers` workers, whatever the queue holds: the missing ones are launched into
 * the clouds in priority order, each up to its room (so a cloud that backs off leaves its share to
 * the next); failed and stuck workers are terminated and replaced as soon as a cloud has room.
 * Clouds' minWorkers are ignored: the pool's size is the only target.
 *
 * The pool never grows past its size: a cloud not listed this tick counts the workers of its last
 * listing, however old (counting them as none would top up in another cloud and overshoot once
 * it answers), launches not listed yet count as booting, and idle workers above the size (after
 * a failed termination, say) are terminated, the least preferred cloud's first.
 */
export function staticPool(workers: number, options: StaticPoolOptions = {}): BaselinePlanner {
  const size = check("workers", workers, true, 0);
  const stuckAfter =
    options.stuckAfter === undefined
      ? undefined
      : check("stuckAfter", options.stuckAfter, false, 0);

  const planner: Planner = (snapshot, policy, memory, now) => {
    const seen = survey(snapshot, policy, memory, now);
    const notes = [...seen.notes];
    const terminations: TerminateAction[] = [];
    const rooms: Room[] = [];
    const spare: Array<{ fleet: Fleet; worker: Worker }> = [];

    for (const fleet of seen.fleets) {
      const timeout = stuckAfter ?? fleet.policy.bootTimeout;
      const limit = `${stuckAfter === undefined ? "bootTimeout" : "stuckAfter"} ${formatDuration(timeout)}`;
      const acting = seen.complete && !fleet.throttled;
      const leaving = acting ? faulty(fleet, timeout, limit, now) : [];
      const leavingIds = new Set(leaving.flatMap((action) => action.instanceIds));
      terminations.push(...leaving);
      const counted = lastKnown(snapshot, fleet.policy, memory, now);
      const present = counted.length;
      const alive = counted.filter((worker) => !leavingIds.has(worker.instanceId)).length;
      rooms.push(roomOf(fleet, present, alive, snapshot, memory, now));
      if (acting)
        for (const worker of fleet.workers)
          if (worker.state === "idle" && !leavingIds.has(worker.instanceId))
            spare.push({ fleet, worker });
    }

    const alive = rooms.reduce((sum, room) => sum + room.alive, 0);
    const missing = Math.max(0, size - alive);
    const unmet = fill(rooms, missing);
    if (unmet > 0) {
      notes.push(
        `static pool of ${size}: ${plural(unmet, "worker")} missing that no cloud can take: ${whyFull(rooms)}`,
      );
    }
    const replacing =
      terminations.length > 0 ? ` (${terminations.length} failed or stuck being replaced)` : "";
    const launches: LaunchAction[] = [];
    for (const room of rooms) {
      if (room.more === 0) continue;
      const parts = [
        `static pool of ${plural(size, "worker")} has ${alive} alive${replacing}: ${room.more} of ${missing} missing`,
      ];
      if (unmet > 0 && left(room) === 0) parts.push(room.limit);
      launches.push(launch(room, parts.join("; "), memory, now));
    }

    const surplus = alive - size;
    if (surplus > 0) {
      // The least preferred cloud's first, then the longest idle; never a busy worker.
      const victims = spare
        .sort(
          (a, b) =>
            seen.fleets.indexOf(b.fleet) - seen.fleets.indexOf(a.fleet) ||
            (b.worker.idleSeconds ?? 0) - (a.worker.idleSeconds ?? 0) ||
            a.worker.instanceId.localeCompare(b.worker.instanceId),
        )
        .slice(0, surplus);
      for (const { fleet, worker } of victims) {
        const reason = `${worker.name}: static pool of ${plural(size, "worker")} has ${alive}: idle and above the size`;
        terminations.push(terminate(fleet.policy.name, worker, "idle", reason));
      }
    }

    const analysis = analyseDemand(seen.queueSeen ? snapshot.jobs : [], policy, now);
    return planOf(analysis, seen.workers, [...launches, ...terminations], notes);
  };
  return baseline(planner, stuckAfter === undefined ? [] : [stuckAfter]);
}

// ---- Clairvoyant ----

/** What the clairvoyant baseline knows of one cloud of the site. */
export interface SiteCloud {
  name: string;
  /** Launch to joining the pool at the slowest: boot delay + its whole spread + join delay. */
  lead: Seconds;
  /** How many workers the site lets this cloud run: maxWorkers and any quota it has. */
  cap: number;
}

/** The clouds' leads and caps from the site's simulated settings (another kind: the defaults). */
export function siteClouds(config: AutoscalerConfig): SiteCloud[] {
  return config.clouds.map((cloud) => {
    const provider =
      cloud.provider.kind === "simulated"
        ? cloud.provider
        : simulatedProviderSchema.parse({ kind: "simulated" });
    const quota = provider.quota ?? {};
    const caps = [
      cloud.maxWorkers,
      quota.instances ?? Number.POSITIVE_INFINITY,
      quota.cpus === undefined
        ? Number.POSITIVE_INFINITY
        : Math.floor(quota.cpus / cloud.worker.cpus),
      quota.memoryMb === undefined
        ? Number.POSITIVE_INFINITY
        : Math.floor(quota.memoryMb / cloud.worker.memoryMb),
    ];
    return {
      name: cloud.name,
      lead: provider.bootDelay + provider.bootSpread + provider.joinDelay,
      cap: Math.min(...caps),
    };
  });
}

/** A worker of the clairvoyant's model of the next few minutes. */
interface Bin {
  id?: string;
  cloud: string;
  free: WorkerShape;
  /** Resources it gets back, and when. */
  releases: Array<{ at: number; cpus: number; memoryMb: number; gpus: number }>;
  /** It runs a job now (it cannot be terminated). */
  busy: boolean;
  /** The model gives it a job before the horizon. */
  used: boolean;
}

function fits(free: WorkerShape, job: { cpus: number; memoryMb: number; gpus: number }): boolean {
  return free.cpus >= job.cpus && free.memoryMb >= job.memoryMb && free.gpus >= job.gpus;
}

function releaseDue(bin: Bin, at: number): void {
  if (bin.releases.every((r) => r.at > at)) return;
  for (const r of bin.releases.filter((r) => r.at <= at)) {
    bin.free.cpus += r.cpus;
    bin.free.memoryMb += r.memoryMb;
    bin.free.gpus += r.gpus;
  }
  bin.releases = bin.releases.filter((r) => r.at > at);
}

/**
 * The clairvoyant baseline: an oracle that sees the trace's future and the site's boot delays.
 * Every tick it plays the next `lead + tickInterval` seconds in a model of the pool (the longest
 * lead of the site's clouds: a launch at the next tick could be ready no sooner): the jobs running
 * now end when they will, the idle jobs and every job submitted before the horizon are placed, in
 * submission order, first-fit on the workers that run jobs, then the idle ones, then those still
 * booting, then new ones. New workers go to the cheapest cloud that has room (then the faster,
 * then by name), up to what the site lets each run (maxWorkers, quota): it launches them now,
 * the last tick from which they are ready in time. An idle or booting worker the model gives no
 * job before the horizon is terminated now: a fresh launch at a later tick serves any later job
 * as soon. It ignores the policy knobs (minWorkers, maxLaunchPerTick, idleTimeout), and keeps the
 * rules that protect the clouds (no launch into a cloud that backs off, is throttled or unobserved;
 * nothing terminated on an incomplete observation; failed and stuck workers ended).
 */
export function clairvoyant(
  site: readonly SiteCloud[],
  tickInterval: Seconds,
): (truth: PoolTruth) => { planner: Planner; wakeAt: (now: number) => number } {
  const lead = Math.max(0, ...site.map((cloud) => cloud.lead));
  const ahead = lead + tickInterval;
  // The cheapest first, then the faster: the order new workers go to.
  const order = (policy: PoolPolicy) =>
    [...policy.clouds]
      .map((cloud) => ({ cloud, site: site.find((s) => s.name === cloud.name) }))
      .sort(
        (a, b) =>
          (a.cloud.costPerHour ?? 0) - (b.cloud.costPerHour ?? 0) ||
          (a.site?.lead ?? 0) - (b.site?.lead ?? 0) ||
          a.cloud.name.localeCompare(b.cloud.name),
      );

  return (truth) => {
    const planner: Planner = (snapshot, policy, memory, now) => {
      const seen = survey(snapshot, policy, memory, now);
      const notes = [...seen.notes];
      const terminations: TerminateAction[] = [];
      const leaving = new Set<string>();
      for (const fleet of seen.fleets) {
        if (!seen.complete || fleet.throttled) continue;
        const limit = `bootTimeout ${formatDuration(fleet.policy.bootTimeout)}`;
        for (const action of faulty(fleet, fleet.policy.bootTimeout, limit, now)) {
          terminations.push(action);
          for (const id of action.instanceIds) leaving.add(id);
        }
      }
      const horizon = now + ahead;
      const machines = truth.machinesNow();
      const bins: Bin[] = [
        ...machines
          .filter((m) => !leaving.has(m.id))
          .map((m) => ({
            id: m.id,
            cloud: m.cloud,
            free: m.free,
            releases: m.running.map(({ endsAt, cpus, memoryMb, gpus }) => ({
              at: endsAt,
              cpus,
              memoryMb,
              gpus,
            })),
            busy: m.running.length > 0,
            used: false,
          }))
          // Busy workers first: a job they can hold keeps no idle worker alive.
          .sort((a, b) => Number(b.busy) - Number(a.busy)),
        ...truth
          .joining()
          .filter((i) => !leaving.has(i.id))
          .map((i) => ({
            id: i.id,
            cloud: i.cloud,
            free: { ...i.shape },
            releases: [],
            busy: false,
            used: false,
          })),
      ];
      const present = new Map<string, number>();
      for (const bin of bins) present.set(bin.cloud, (present.get(bin.cloud) ?? 0) + 1);
      const launchable = order(policy).filter(({ cloud }) => {
        const gap = snapshot.gaps.find((g) => g.source === "cloud" && g.cloud === cloud.name);
        const fleet = seen.fleets.find((f) => f.policy.name === cloud.name);
        return (
          gap === undefined &&
          fleet?.throttled !== true &&
          launchBlock(cloudMemory(memory, cloud.name), now) === undefined
        );
      });
      const room = new Map(
        launchable.map(({ cloud, site: s }) => [
          cloud.name,
          Math.max(0, (s?.cap ?? cloud.maxWorkers) - (present.get(cloud.name) ?? 0)),
        ]),
      );
      const fresh = new Map<string, number>();
      // At most as many idle jobs as the site has cpus can start before the horizon.
      const siteCpus = policy.clouds.reduce(
        (sum, c) =>
          sum + c.worker.cpus * (site.find((s) => s.name === c.name)?.cap ?? c.maxWorkers),
        0,
      );
      const demand = [
        ...truth.idleNow(siteCpus).map((job) => ({ ...job, at: now })),
        ...truth.arrivals(horizon),
      ];
      let unmet = 0;
      for (const job of demand) {
        for (const bin of bins) releaseDue(bin, job.at);
        let bin = bins.find((b) => fits(b.free, job));
        if (bin === undefined) {
          const where = launchable.find(
            ({ cloud }) => (room.get(cloud.name) ?? 0) > 0 && fits(cloud.worker, job),
          );
          if (where === undefined) {
            unmet += 1;
            continue;
          }
          room.set(where.cloud.name, (room.get(where.cloud.name) ?? 0) - 1);
          fresh.set(where.cloud.name, (fresh.get(where.cloud.name) ?? 0) + 1);
          bin = {
            cloud: where.cloud.name,
            free: { ...where.cloud.worker },
            releases: [],
            busy: false,
            used: false,
          };
          bins.push(bin);
        }
        bin.used = true;
        bin.free.cpus -= job.cpus;
        bin.free.memoryMb -= job.memoryMb;
        bin.free.gpus -= job.gpus;
        // Started no sooner than it arrives; the end frees the room for later jobs.
        bin.releases.push({
          at: job.at + job.runtime,
          cpus: job.cpus,
          memoryMb: job.memoryMb,
          gpus: job.gpus,
        });
      }
      if (unmet > 0)
        notes.push(`clairvoyant: ${plural(unmet, "job")} before the horizon the site cannot hold`);

      const launches: LaunchAction[] = [];
      for (const { cloud } of launchable) {
        const count = fresh.get(cloud.name) ?? 0;
        if (count === 0) continue;
        const action: LaunchAction = {
          kind: "launch",
          cloud: cloud.name,
          count,
          reason: `clairvoyant: ${plural(count, "worker")} needed by ${formatDuration(ahead)} from now (lead ${formatDuration(lead)} + tick ${formatDuration(tickInterval)})`,
        };
        const avoid = avoidedScopes(cloudMemory(memory, cloud.name), now);
        if (avoid.length > 0) action.avoid = avoid;
        launches.push(action);
      }
      if (seen.complete) {
        const unused = new Set(
          bins.flatMap((bin) => (!bin.busy && !bin.used && bin.id !== undefined ? [bin.id] : [])),
        );
        for (const fleet of seen.fleets) {
          if (fleet.throttled) continue;
          for (const worker of fleet.workers) {
            if (!unused.has(worker.instanceId) || leaving.has(worker.instanceId)) continue;
            if (worker.state !== "idle" && worker.state !== "booting") continue;
            const reason = `${worker.name}: clairvoyant: no job for it before a fresh launch could serve one (${formatDuration(ahead)})`;
            terminations.push(terminate(fleet.policy.name, worker, "idle", reason));
          }
        }
      }

      const analysis = analyseDemand(seen.queueSeen ? snapshot.jobs : [], policy, now);
      return planOf(analysis, seen.workers, [...launches, ...terminations], notes);
    };
    // The next decision that no pool event triggers: launching ahead of the next arrival.
    const wakeAt = (now: number) => truth.nextArrivalAfter(now + ahead) - ahead;
    return { planner, wakeAt };
  };
}
