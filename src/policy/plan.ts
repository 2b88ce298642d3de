/**
 * The planner: a pure function of (snapshot, policies, memory, now) to actions, each with the
 * reason a person reads in the log. No I/O, no clock reads.
 */

import { formatDuration } from "../config/duration.js";
import type { Memory } from "../model/memory.js";
import type { Action, Plan } from "../model/plan.js";
import type { PoolPolicy } from "../model/policy.js";
import type { Snapshot } from "../model/snapshot.js";
import { idleTimeouts, persistenceNow, spareTarget } from "./adaptive.js";
import { cloudMemory, isThrottled } from "./backoff.js";
import { analyseDemand } from "./demand.js";
import { joinedIds } from "./joined.js";
import { plural } from "./plural.js";
import { lifecycle, scaleDown } from "./scale-down.js";
import { type CloudFleet, scaleUp } from "./scale-up.js";
import { cloudSight } from "./sight.js";
import { poolSourceNotes, reportWorkers } from "./workers.js";

export function plan(snapshot: Snapshot, policy: PoolPolicy, memory: Memory, now: number): Plan {
  // Once per cloud: it is asked for every worker.
  const joinedByCloud = new Map<string, ReadonlySet<string>>();
  const joined = (cloud: string): ReadonlySet<string> => {
    let ids = joinedByCloud.get(cloud);
    if (ids === undefined) {
      ids = joinedIds(memory, cloud);
      joinedByCloud.set(cloud, ids);
    }
    return ids;
  };
  const { workers, byCloud: workersByCloud } = reportWorkers(snapshot, policy, now, joined);

  const notes = poolSourceNotes(snapshot);
  const queueSeen = !snapshot.gaps.some((gap) => gap.source === "queue");
  const suspect = memory.collectorSuspect;
  if (suspect !== undefined)
    notes.push(
      `the collector lost the ads of ${plural(suspect.vanished, "worker")} at once ${formatDuration(now - suspect.since)} ago (a restart?): no idle or stuck worker is terminated until they are back`,
    );
  const machinesSeen =
    !snapshot.gaps.some((gap) => gap.source === "machines") && suspect === undefined;

  const autoTimeouts = idleTimeouts(snapshot.workers, policy, memory, now);
  const terminations: Action[] = [];
  const fleets: CloudFleet[] = [];
  for (const cloud of policy.clouds) {
    // Each cloud is decided on its own sources: one broken cloud stops only itself.
    const sight = cloudSight(snapshot, cloud, memory, now);
    for (const window of cloud.windows ?? []) notes.push(`${cloud.name}: ${window}`);
    if (sight.note !== undefined) notes.push(sight.note);
    const cloudWorkers = workersByCloud.get(cloud.name) ?? [];
    const throttled = isThrottled(cloudMemory(memory, cloud.name), now);
    if (throttled) notes.push(`${cloud.name}: throttled, no calls this tick`);
    const leaving =
      sight.listed && !throttled
        ? scaleDown(cloud, cloudWorkers, now, joined(cloud.name), machinesSeen, autoTimeouts)
        : [];
    terminations.push(...leaving);
    const leavingIds = new Set(leaving.flatMap((action) => action.instanceIds));

    let present = 0;
    let free = 0;
    for (const worker of sight.counted) {
      if (worker.state === "gone") continue;
      present += 1;
      if (leavingIds.has(worker.instanceId)) continue;
      const state = lifecycle(worker, cloud, now, joined(cloud.name));
      if (state === "idle" || state === "booting") free += 1;
    }
    const gap = snapshot.gaps.find((g) => g.source === "cloud" && g.cloud === cloud.name);
    const headroom = snapshot.clouds[cloud.name]?.headroom;
    fleets.push({
      policy: cloud,
      present,
      remaining: present - leavingIds.size,
      free,
      ...(headroom === undefined ? {} : { headroom }),
      ...(gap === undefined ? {} : { unobserved: gap.message }),
    });
  }

  const missing = workers.filter((w) => w.state === "missing").length;
  if (missing > 0)
    notes.push(
      `${plural(missing, "worker")} joined the pool before but show no ads now: kept, and no room for jobs`,
    );

  const persistence = persistenceNow(snapshot, policy, memory, now);
  const analysis = analyseDemand(queueSeen ? snapshot.jobs : [], policy, now, persistence);
  if (analysis.unfit.jobs > 0) {
    notes.push(
      `no cloud's worker shape can hold ${plural(analysis.unfit.jobs, "job")}, e.g. ${analysis.unfit.examples.join(", ")}`,
    );
  }
  const launches = scaleUp(
    policy,
    fleets,
    analysis.classes,
    memory,
    now,
    persistence,
    queueSeen ? spareTarget(memory, policy, now) : 0,
  );
  notes.push(...launches.notes);

  return {
    demand: analysis.demand,
    workers,
    actions: [...launches.actions, ...terminations],
    unfit: analysis.unfit,
    notes,
  };
}
