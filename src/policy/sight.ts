/**
 * The observation model: what each source (the queue, the collector's ads, each cloud's listing)
 * answered this tick, when it last answered, and what a cloud was last seen with and has been
 * launched since. Pure functions of memory, the snapshot and the time.
 *
 * Which decision needs which source (README, "How it decides"):
 * - launches into a cloud: its own listing this tick (and the queue, for demand);
 * - a cloud's idle and stuck terminations: its own listing and the collector's ads;
 * - a cloud's failed terminations: its own listing;
 * - spill-over: a cloud not listed this tick counts the workers it was last seen with (for at most
 *   LAST_SEEN_HOLD) and its launches not listed yet (for at most LAUNCH_LISTING_GRACE) as there.
 */
import {
  COLLECTOR_SUSPECT_HOLD,
  DEFAULT_AUTH_FAILURES_TO_DISABLE,
  LAST_SEEN_HOLD,
  LAUNCH_LISTING_GRACE,
  MASS_DISAPPEARANCE_MIN,
} from "../config/defaults.js";
import { formatDuration } from "../config/duration.js";
import type { CloudMemory, Memory, Sight } from "../model/memory.js";
import type { CloudPolicy, PoolPolicy } from "../model/policy.js";
import type { ObservationGap, Snapshot, Worker } from "../model/snapshot.js";
import type { CallOutcome } from "./backoff.js";
import { cloudMemory, withCloudMemory } from "./backoff.js";
import { plural } from "./plural.js";

function answered(previous: Sight | undefined, now: number): Sight {
  const {
    failingSince: _since,
    kind: _kind,
    message: _message,
    ...kept
  } = previous ?? {
    failures: 0,
  };
  return { ...kept, lastOk: now, failures: 0 };
}

function failed(previous: Sight | undefined, gap: ObservationGap, now: number): Sight {
  const sight: Sight = {
    ...(previous ?? { failures: 0 }),
    failures: (previous?.failures ?? 0) + 1,
    failingSince: previous?.failingSince ?? now,
    message: gap.message,
  };
  if (gap.kind !== undefined) sight.kind = gap.kind;
  return sight;
}

/**
 * Memory after this tick's observation: each source's sight, a listed cloud's workers as last
 * seen and its launches not listed yet, and a cloud disabled whose listing answered `auth`
 * `authFailuresToDisable` ticks in a row.
 */
export function rememberSight(
  memory: Memory,
  snapshot: Snapshot,
  policy: PoolPolicy,
  now: number,
): Memory {
  const gapOf = (source: ObservationGap["source"], cloud?: string) =>
    snapshot.gaps.find((g) => g.source === source && (cloud === undefined || g.cloud === cloud));
  const source = (name: "queue" | "machines"): Sight => {
    const gap = gapOf(name);
    const previous = memory.sources?.[name];
    return gap === undefined ? answered(previous, now) : failed(previous, gap, now);
  };
  const clouds: Record<string, CloudMemory> = { ...memory.clouds };
  const disableAfter = policy.authFailuresToDisable ?? DEFAULT_AUTH_FAILURES_TO_DISABLE;
  for (const cloud of policy.clouds) {
    const state = cloudMemory(memory, cloud.name);
    const gap = gapOf("cloud", cloud.name);
    const next: CloudMemory = { ...state };
    if (gap === undefined) {
      const workers = snapshot.workers.filter((w) => w.cloud === cloud.name);
      const listed = new Set(workers.map((w) => w.instanceId));
      next.listing = answered(state.listing, now);
      next.lastSeen = { at: now, workers };
      const pending = (state.launched ?? []).filter(
        (launch) => !listed.has(launch.id) && now - launch.at <= LAUNCH_LISTING_GRACE,
      );
      if (pending.length > 0) next.launched = pending;
      else delete next.launched;
      // An intent left by a crash is settled once the cloud lists what it launched, by token.
      const tokens = workers.flatMap((w) => (w.launchToken === undefined ? [] : [w.launchToken]));
      const open = (state.intents ?? []).filter(
        (intent) =>
          now - intent.at <= LAUNCH_LISTING_GRACE &&
          !tokens.some((token) => token.startsWith(`${intent.token}.`)),
      );
      if (open.length > 0) next.intents = open;
      else delete next.intents;
    } else {
      next.listing = failed(state.listing, gap, now);
      if (
        gap.kind === "auth" &&
        next.listing.kind === "auth" &&
        next.listing.failures >= disableAfter &&
        next.disabled === undefined
      ) {
        next.disabled = {
          kind: "auth",
          message: `listing refused ${next.listing.failures} ticks in a row: ${gap.message}`,
          since: now,
        };
      }
    }
    clouds[cloud.name] = next;
  }
  const next: Memory = {
    ...memory,
    clouds,
    sources: { queue: source("queue"), machines: source("machines") },
  };
  const suspect = collectorSuspect(memory, snapshot, now);
  if (suspect === undefined) delete next.collectorSuspect;
  else next.collectorSuspect = suspect;
  return next;
}

/**
 * Whether the collector's answer looks like a restart: many of our workers that had ads a tick
 * ago have none now. It stays suspect until half of the joined workers show ads again, or for
 * COLLECTOR_SUSPECT_HOLD at most.
 */
function collectorSuspect(
  memory: Memory,
  snapshot: Snapshot,
  now: number,
): Memory["collectorSuspect"] {
  if (snapshot.gaps.some((g) => g.source === "machines")) return memory.collectorSuspect;
  // Keys `<cloud>/<instance id>`: who had ads a tick ago, and who has ever joined.
  const hadAds = new Set<string>();
  const joined = new Set<string>();
  for (const [cloud, state] of Object.entries(memory.clouds)) {
    for (const worker of state.lastSeen?.workers ?? [])
      if (worker.state === "idle" || worker.state === "busy")
        hadAds.add(`${cloud}/${worker.instanceId}`);
    for (const id of state.joined ?? []) joined.add(`${cloud}/${id}`);
  }
  let vanished = 0;
  let joinedListed = 0;
  let joinedWithout = 0;
  for (const worker of snapshot.workers) {
    const key = `${worker.cloud}/${worker.instanceId}`;
    if (!(hadAds.has(key) || joined.has(key))) continue;
    if (worker.state === "gone" || worker.state === "failed") continue;
    joinedListed += 1;
    if (worker.state !== "booting") continue;
    joinedWithout += 1;
    if (hadAds.has(key)) vanished += 1;
  }
  if (vanished >= MASS_DISAPPEARANCE_MIN && vanished * 2 >= hadAds.size)
    return { since: now, vanished };
  const previous = memory.collectorSuspect;
  if (previous === undefined) return undefined;
  if (now - previous.since > COLLECTOR_SUSPECT_HOLD || joinedWithout * 2 < joinedListed)
    return undefined;
  return previous;
}

/** Memory after this tick's launches: what each cloud created, until a listing shows it. */
export function rememberLaunches(
  memory: Memory,
  outcomes: readonly CallOutcome[],
  now: number,
): Memory {
  let next = memory;
  for (const outcome of outcomes) {
    if (outcome.operation !== "launch" || (outcome.instanceIds ?? []).length === 0) continue;
    const state = cloudMemory(next, outcome.cloud);
    const launched = [
      ...(state.launched ?? []),
      ...(outcome.instanceIds ?? []).map((id) => ({ id, at: now })),
    ];
    next = withCloudMemory(next, outcome.cloud, { launched });
  }
  return next;
}

/** What the planner counts of one cloud this tick. */
export interface CloudSight {
  /** Its listing answered this tick: it may be launched into and scaled down. */
  listed: boolean;
  /** Workers to count for capacity (present, free): listed or last seen, plus pending launches. */
  counted: Worker[];
  /** Why the count is not this tick's listing alone, for the notes. */
  note?: string;
}

function pendingWorkers(
  cloud: CloudPolicy,
  state: CloudMemory,
  known: ReadonlySet<string>,
  now: number,
): Worker[] {
  const booting = (id: string, at: number): Worker => ({
    cloud: cloud.name,
    instanceId: id,
    name: id,
    state: "booting",
    launchedAt: at,
  });
  const launched = (state.launched ?? [])
    .filter((launch) => !known.has(launch.id) && now - launch.at <= LAUNCH_LISTING_GRACE)
    .map((launch) => booting(launch.id, launch.at));
  // A launch whose answer never came (a crash mid-call) may have made all it asked for.
  const unanswered = (state.intents ?? [])
    .filter((intent) => now - intent.at <= LAUNCH_LISTING_GRACE)
    .flatMap((intent) =>
      Array.from({ length: intent.count }, (_, i) => booting(`${intent.token}.${i}`, intent.at)),
    );
  return [...launched, ...unanswered];
}

export function cloudSight(
  snapshot: Snapshot,
  cloud: CloudPolicy,
  memory: Memory,
  now: number,
): CloudSight {
  const state = cloudMemory(memory, cloud.name);
  const listed = !snapshot.gaps.some((g) => g.source === "cloud" && g.cloud === cloud.name);
  if (listed) {
    const workers = snapshot.workers.filter((w) => w.cloud === cloud.name);
    const pending = pendingWorkers(cloud, state, new Set(workers.map((w) => w.instanceId)), now);
    return {
      listed,
      counted: [...workers, ...pending],
      ...(pending.length === 0
        ? {}
        : {
            note: `${cloud.name}: ${plural(pending.length, "launched instance")} not listed yet (or launches unanswered), counted as booting`,
          }),
    };
  }
  const lastSeen = state.lastSeen;
  const fresh = lastSeen !== undefined && now - lastSeen.at <= LAST_SEEN_HOLD;
  const seen = fresh ? lastSeen.workers.filter((w) => w.state !== "gone") : [];
  const pending = pendingWorkers(cloud, state, new Set(seen.map((w) => w.instanceId)), now);
  const counted = [...seen, ...pending];
  const why = snapshot.gaps.find((g) => g.source === "cloud" && g.cloud === cloud.name)?.message;
  const counting =
    lastSeen === undefined
      ? "never listed before"
      : fresh
        ? `counting the ${plural(counted.length, "worker")} it had ${formatDuration(now - lastSeen.at)} ago and launched since`
        : `last listed ${formatDuration(now - lastSeen.at)} ago, longer than ${formatDuration(LAST_SEEN_HOLD)}: its workers no longer count`;
  const note = `${cloud.name}: not listed this tick (${why ?? "no answer"}); ${counting}; no launches, no terminations there`;
  return { listed, counted, note };
}
