/**
 * The adaptive defaults, `persistence: auto` and `idleTimeout: auto`: what they learn of the pool
 * (boot times, gaps between arrivals, how fast busy workers free up, where a cloud's quota ends)
 * and the values they take. Pure functions of the snapshot, the memory and the time.
 *
 * - Warm buffer: while jobs keep arriving (the last arrival is more recent than the buffer's
 *   timeout), AUTO_BUFFER_WORKERS spare workers (idle or booting, on the preferred clouds) are
 *   kept, launched when the arrivals have taken them: the next job finds a worker instead of a
 *   boot. The buffer's idle worker waits out the gap between arrivals that AUTO_GAP_QUANTILE of
 *   recent gaps stay under (at least a boot, at most AUTO_IDLE_MAX); a longer quiet spell ends it.
 * - Other idle workers (ski rental): keeping one costs its idle time, ending it costs a boot when
 *   work comes back (the buffer absorbs the wait), so it is kept as long as its cloud's observed
 *   boot takes, the break-even. On a dearer cloud the boot it saves would be bought on the
 *   cheapest one: the break-even is that boot's price, the boot time scaled by cheapest / own
 *   price per hour.
 * - Persistence: waiting before counting a job saves a boot only when a busy worker frees up for
 *   it while it waits. Jobs are held CLASSIC_PERSISTENCE while the workers expected to free up
 *   within that hold (from the recent rate of frees) and the idle and booting ones can take them;
 *   when the queue grows faster than that, they count at once.
 * - Quota: a cloud that answered `quota` with n workers is taken to hold n (AUTO_QUOTA_HOLD), so
 *   demand beyond spills over in the same tick instead of asking, failing and waiting a tick.
 */
import {
  AUTO_BOOT_SAMPLES,
  AUTO_BOOT_TIME_GUESS,
  AUTO_BUFFER_WORKERS,
  AUTO_FREE_SAMPLES,
  AUTO_FREE_WINDOW,
  AUTO_GAP_QUANTILE,
  AUTO_GAP_SAMPLES,
  AUTO_IDLE_MAX,
  AUTO_QUOTA_HOLD,
  AUTO_SPARE_GAP_QUANTILE,
  CLASSIC_PERSISTENCE,
} from "../config/defaults.js";
import type { DemandMemory, Memory } from "../model/memory.js";
import type { PoolPolicy, Seconds } from "../model/policy.js";
import type { Snapshot, Worker } from "../model/snapshot.js";
import { type CallOutcome, cloudMemory, withCloudMemory } from "./backoff.js";
import { quantileOf, slide } from "./sliding-window.js";

function emptyDemand(): DemandMemory {
  return { gaps: [], frees: [], busy: [] };
}

function bounded<T>(values: readonly T[], size: number): T[] {
  return values.length > size ? values.slice(values.length - size) : [...values];
}

/** The cloud launches go to first: the warm buffer's, and the worker shape persistence counts in. */
function preferredCloud(policy: PoolPolicy): PoolPolicy["clouds"][number] | undefined {
  return [...policy.clouds].sort((a, b) => a.priority - b.priority)[0];
}

/** Whether the policy uses any adaptive default (otherwise nothing is learned). */
export function isAdaptive(policy: PoolPolicy): boolean {
  return policy.persistence === "auto" || policy.clouds.some((c) => c.idleTimeout === "auto");
}

/**
 * The memory with what this observation teaches the adaptive defaults: boots of workers seen in
 * the pool for the first time (`before` is the memory before this tick's joins were added), new
 * arrivals in the queue, busy workers now idle.
 */
export function rememberDemand(
  before: Memory,
  memory: Memory,
  snapshot: Snapshot,
  policy: PoolPolicy,
  now: number,
): Memory {
  if (!isAdaptive(policy)) return memory;
  let next = memory;
  const machinesSeen = !snapshot.gaps.some((gap) => gap.source === "machines");
  const queueSeen = !snapshot.gaps.some((gap) => gap.source === "queue");

  if (machinesSeen) {
    for (const cloud of policy.clouds) {
      const joined = new Set(cloudMemory(before, cloud.name).joined ?? []);
      const boots: number[] = [];
      for (const worker of snapshot.workers) {
        if (worker.cloud !== cloud.name || joined.has(worker.instanceId)) continue;
        if (worker.state !== "idle" && worker.state !== "busy") continue;
        const boot = now - worker.launchedAt;
        // One that joined past its boot timeout (or one met after a restart) says nothing of boots.
        if (boot >= 0 && boot <= cloud.bootTimeout) boots.push(boot);
      }
      if (boots.length === 0) continue;
      const known = cloudMemory(next, cloud.name).boots ?? [];
      next = withCloudMemory(next, cloud.name, {
        boots: bounded([...known, ...boots], AUTO_BOOT_SAMPLES),
      });
    }
  }

  const demand = next.demand ?? emptyDemand();
  let { lastArrival } = demand;
  const added: number[] = [];
  if (queueSeen) {
    const cpusAt = new Map<number, number>();
    for (const job of snapshot.jobs) {
      if (lastArrival !== undefined && job.idleSince <= lastArrival) continue;
      if (job.idleSince > now) continue;
      cpusAt.set(job.idleSince, (cpusAt.get(job.idleSince) ?? 0) + Math.max(1, job.cpus));
    }
    // Jobs matched to idle workers between two looks never show in the queue: those workers do.
    const wasIdle = new Set(demand.idle ?? []);
    const cpusOf = new Map(policy.clouds.map((c) => [c.name, c.worker.cpus]));
    if (machinesSeen && cpusAt.size === 0) {
      let taken = 0;
      for (const worker of snapshot.workers)
        if (worker.state === "busy" && wasIdle.has(worker.instanceId))
          taken += cpusOf.get(worker.cloud) ?? 1;
      if (taken > 0 && (lastArrival === undefined || now > lastArrival)) cpusAt.set(now, taken);
    }
    for (const at of [...cpusAt.keys()].sort((a, b) => a - b)) {
      if (lastArrival !== undefined) added.push(at - lastArrival);
      lastArrival = at;
    }
  }
  let frees = demand.frees;
  let busy = demand.busy;
  let idle = demand.idle ?? [];
  if (machinesSeen) {
    const wasBusy = new Set(demand.busy);
    const freed = snapshot.workers.filter(
      (w) => w.state === "idle" && wasBusy.has(w.instanceId),
    ).length;
    if (freed > 0)
      frees = bounded([...frees, ...Array.from({ length: freed }, () => now)], AUTO_FREE_SAMPLES);
    busy = snapshot.workers
      .filter((w) => w.state === "busy")
      .map((w) => w.instanceId)
      .sort();
    idle = snapshot.workers
      .filter((w) => w.state === "idle")
      .map((w) => w.instanceId)
      .sort();
  }
  return {
    ...next,
    demand: {
      ...(lastArrival === undefined ? {} : { lastArrival }),
      gaps: added.length > 0 ? slide(demand.gaps, added, AUTO_GAP_SAMPLES) : demand.gaps,
      frees,
      busy,
      ...(idle.length === 0 ? {} : { idle }),
    },
  };
}

/** A cloud's boot time: the median of its recent boots, or AUTO_BOOT_TIME_GUESS before any. */
export function bootTime(memory: Memory, cloud: string): Seconds {
  return quantileOf(cloudMemory(memory, cloud).boots ?? [], 0.5) ?? AUTO_BOOT_TIME_GUESS;
}

/** The idle timeout of the warm buffer: the gap AUTO_GAP_QUANTILE of recent gaps stay under. */
export function bufferTimeout(memory: Memory, boot: Seconds): Seconds {
  const gap = quantileOf(memory.demand?.gaps ?? [], AUTO_GAP_QUANTILE) ?? boot;
  return Math.min(AUTO_IDLE_MAX, Math.max(boot, gap));
}

/**
 * Workers the warm buffer keeps: AUTO_BUFFER_WORKERS while jobs keep arriving (the last one came
 * within the buffer's timeout on the preferred cloud), none before a second arrival or after a
 * quiet spell.
 */
export function bufferSize(memory: Memory, policy: PoolPolicy, now: number): number {
  const last = memory.demand?.lastArrival;
  const first = preferredCloud(policy);
  // One batch of jobs is not yet a stream of them.
  if (last === undefined || first === undefined || (memory.demand?.gaps.length ?? 0) === 0)
    return 0;
  const timeout = bufferTimeout(memory, bootTime(memory, first.name));
  return now - last > timeout ? 0 : AUTO_BUFFER_WORKERS;
}

/**
 * The idle timeout of each idle worker (by instance id) of the clouds with `idleTimeout: auto`:
 * the warm buffer (preferred clouds first, most recently busy first) gets `bufferTimeout`, the
 * others their cloud's boot time. Clouds with a number keep it.
 */
export function idleTimeouts(
  workers: readonly Worker[],
  policy: PoolPolicy,
  memory: Memory,
  now: number,
): Map<string, { timeout: Seconds; why: string }> {
  const timeouts = new Map<string, { timeout: Seconds; why: string }>();
  const clouds = new Map(policy.clouds.map((c) => [c.name, c]));
  const idle = workers.filter(
    (w) => w.state === "idle" && clouds.get(w.cloud)?.idleTimeout === "auto",
  );
  if (idle.length === 0) return timeouts;
  const priority = (w: Worker) => clouds.get(w.cloud)?.priority ?? 0;
  idle.sort(
    (a, b) =>
      priority(a) - priority(b) ||
      (a.idleSeconds ?? 0) - (b.idleSeconds ?? 0) ||
      a.instanceId.localeCompare(b.instanceId),
  );
  const size = bufferSize(memory, policy, now);
  const cheapest = Math.min(...policy.clouds.map((c) => c.costPerHour));
  idle.forEach((worker, rank) => {
    const boot = bootTime(memory, worker.cloud);
    if (rank < size) {
      timeouts.set(worker.instanceId, {
        timeout: bufferTimeout(memory, boot),
        why: `warm buffer of ${size}, idleTimeout auto`,
      });
      return;
    }
    const price = clouds.get(worker.cloud)?.costPerHour ?? 0;
    if (price > cheapest) {
      timeouts.set(worker.instanceId, {
        timeout: (boot * cheapest) / price,
        why: `a boot at the cheapest cloud's price (${cheapest}/h, this one ${price}/h), idleTimeout auto`,
      });
    } else {
      timeouts.set(worker.instanceId, { timeout: boot, why: "boot time, idleTimeout auto" });
    }
  });
  return timeouts;
}

/**
 * The persistence this tick. A number is itself; `auto` is 0 when the jobs waiting beyond the
 * idle and booting workers outnumber the workers expected to free up while they are held
 * (CLASSIC_PERSISTENCE: a worker freed later finds the job launched for anyway), and
 * CLASSIC_PERSISTENCE otherwise.
 */
export function persistenceNow(
  snapshot: Snapshot,
  policy: PoolPolicy,
  memory: Memory,
  now: number,
): Seconds {
  if (policy.persistence !== "auto") return policy.persistence;
  const first = preferredCloud(policy);
  if (first === undefined) return CLASSIC_PERSISTENCE;
  const frees = (memory.demand?.frees ?? []).filter((at) => at > now - AUTO_FREE_WINDOW);
  const expected = (frees.length / AUTO_FREE_WINDOW) * CLASSIC_PERSISTENCE;
  let room = 0;
  for (const worker of snapshot.workers)
    if (worker.state === "idle" || worker.state === "booting") room += 1;
  const perWorker = first.worker.cpus;
  let waiting = 0;
  for (const job of snapshot.jobs) waiting += Math.max(1, job.cpus);
  return waiting > (room + expected) * perWorker ? 0 : CLASSIC_PERSISTENCE;
}

/**
 * Spare (idle or booting) workers the warm buffer wants launched, with `idleTimeout: auto`: its
 * size while the last arrival is more recent than AUTO_SPARE_GAP_QUANTILE of the gaps. Later in
 * a lull the buffer's idle worker stays, but one taken is not replaced.
 */
export function spareTarget(memory: Memory, policy: PoolPolicy, now: number): number {
  if (!policy.clouds.some((c) => c.idleTimeout === "auto")) return 0;
  const last = memory.demand?.lastArrival;
  const usual = quantileOf(memory.demand?.gaps ?? [], AUTO_SPARE_GAP_QUANTILE);
  if (last === undefined || usual === undefined || now - last > usual) return 0;
  return bufferSize(memory, policy, now);
}

/**
 * The memory with the quota ceilings this tick's launch answers taught (adaptive defaults only):
 * a cloud that answered `quota` (not for one scope) holds the workers it has, as far as we know.
 */
export function rememberQuota(
  memory: Memory,
  outcomes: readonly CallOutcome[],
  snapshot: Snapshot,
  policy: PoolPolicy,
  now: number,
): Memory {
  if (!isAdaptive(policy)) return memory;
  let next = memory;
  for (const outcome of outcomes) {
    if (outcome.operation !== "launch" || outcome.error?.kind !== "quota") continue;
    if (outcome.error.scope !== undefined) continue;
    const present = snapshot.workers.filter(
      (w) => w.cloud === outcome.cloud && w.state !== "gone",
    ).length;
    next = withCloudMemory(next, outcome.cloud, {
      quotaSeen: { instances: present + outcome.succeeded, at: now },
    });
  }
  return next;
}

/** How many more workers a cloud's learned quota allows, or undefined when none is known. */
export function learnedQuotaRoom(
  memory: Memory,
  policy: PoolPolicy,
  cloud: string,
  present: number,
  now: number,
): number | undefined {
  if (!isAdaptive(policy)) return undefined;
  const seen = cloudMemory(memory, cloud).quotaSeen;
  if (seen === undefined || now - seen.at >= AUTO_QUOTA_HOLD) return undefined;
  return Math.max(0, seen.instances - present);
}

/** The durations the adaptive defaults decide by now (the simulator wakes when one runs out). */
export function adaptiveTimers(policy: PoolPolicy, memory: Memory): Seconds[] {
  const timers: Seconds[] = [];
  const cheapest = Math.min(...policy.clouds.map((c) => c.costPerHour));
  for (const cloud of policy.clouds) {
    if (cloud.idleTimeout !== "auto") continue;
    const boot = bootTime(memory, cloud.name);
    timers.push(boot, bufferTimeout(memory, boot));
    if (cloud.costPerHour > cheapest) timers.push((boot * cheapest) / cloud.costPerHour);
  }
  return timers;
}
