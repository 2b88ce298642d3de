/**
 * What every planner reports of an observation the same way: the workers with their lifecycle
 * state (`stuck` derived from the boot timeout), grouped by cloud, and the note of an incomplete
 * observation. Our planner and the simulator's baselines share it, so they are measured alike.
 */
import type { WorkerReport } from "../model/plan.js";
import type { PoolPolicy } from "../model/policy.js";
import type { Snapshot, Worker } from "../model/snapshot.js";
import { lifecycle } from "./scale-down.js";

export function reportWorkers(
  snapshot: Snapshot,
  policy: PoolPolicy,
  now: number,
  joined: (cloud: string) => ReadonlySet<string> = () => new Set(),
): { workers: WorkerReport[]; byCloud: Map<string, Worker[]> } {
  const policies = new Map(policy.clouds.map((cloud) => [cloud.name, cloud]));
  const byCloud = new Map<string, Worker[]>(policy.clouds.map((cloud) => [cloud.name, []]));
  const workers: WorkerReport[] = [];
  for (const worker of snapshot.workers) {
    byCloud.get(worker.cloud)?.push(worker);
    workers.push({
      cloud: worker.cloud,
      name: worker.name,
      instanceId: worker.instanceId,
      state: lifecycle(worker, policies.get(worker.cloud), now, joined(worker.cloud)),
      idleSeconds: worker.state === "idle" ? (worker.idleSeconds ?? 0) : null,
    });
  }
  return { workers, byCloud };
}

/** Why nothing is scaled down this tick, or undefined when the observation is complete. */
export function incompleteNote(snapshot: Snapshot): string | undefined {
  if (snapshot.gaps.length === 0) return undefined;
  const what = snapshot.gaps.map((gap) => `${gap.cloud ?? gap.source}: ${gap.message}`).join("; ");
  return `observation incomplete, nothing is scaled down this tick (${what})`;
}

/** What the pool's own sources missed this tick, and what the planner does without them. */
export function poolSourceNotes(snapshot: Snapshot): string[] {
  const notes: string[] = [];
  for (const gap of snapshot.gaps) {
    if (gap.source === "queue")
      notes.push(`queue not read, no job counts as demand this tick: ${gap.message}`);
    if (gap.source === "machines")
      notes.push(
        `collector not read, no idle or stuck worker is terminated this tick: ${gap.message}`,
      );
  }
  return notes;
}
