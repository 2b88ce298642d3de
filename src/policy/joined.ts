/**
 * Which workers have joined the pool at least once. A worker that has joined and has no ads now is
 * `missing`, not `booting`: ads vanish in a collector restart, and a one-job pilot's startd leaves
 * when its job is done. Killing it as stuck or counting it as room for jobs would both be wrong.
 */
import type { Memory } from "../model/memory.js";
import type { CloudPolicy } from "../model/policy.js";
import type { Snapshot } from "../model/snapshot.js";
import { cloudMemory, withCloudMemory } from "./backoff.js";

/**
 * The memory with this snapshot's joined workers added. A cloud listed this tick forgets the ids
 * it no longer lists; one that could not be listed keeps what it had.
 */
export function rememberJoined(
  memory: Memory,
  snapshot: Snapshot,
  policies: readonly CloudPolicy[],
): Memory {
  let next = memory;
  for (const policy of policies) {
    const state = cloudMemory(next, policy.name);
    const listed = !snapshot.gaps.some((g) => g.source === "cloud" && g.cloud === policy.name);
    const mine = snapshot.workers.filter((w) => w.cloud === policy.name && w.state !== "gone");
    const present = new Set(mine.map((w) => w.instanceId));
    const joined = new Set(
      listed ? (state.joined ?? []).filter((id) => present.has(id)) : (state.joined ?? []),
    );
    for (const worker of mine)
      if (worker.state === "idle" || worker.state === "busy") joined.add(worker.instanceId);
    if (joined.size === 0 && state.joined === undefined) continue;
    next = withCloudMemory(next, policy.name, { joined: [...joined].sort() });
  }
  return next;
}

/** The ids of a cloud's workers that have joined at least once. */
export function joinedIds(memory: Memory, cloud: string): ReadonlySet<string> {
  return new Set(cloudMemory(memory, cloud).joined ?? []);
}
