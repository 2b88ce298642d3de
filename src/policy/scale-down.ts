/**
 * Scale-down: which of our workers to terminate. Never a busy worker, never one we do not own,
 * never below the cloud's minimum for idle workers, never anything on an incomplete observation.
 */
import { formatDuration } from "../config/duration.js";
import type { TerminateAction, WorkerReport } from "../model/plan.js";
import type { CloudPolicy } from "../model/policy.js";
import type { Worker } from "../model/snapshot.js";

/**
 * The lifecycle state a person sees: a worker without ads that has joined before is `missing`;
 * one that never joined is `booting`, and past the boot timeout `stuck`.
 */
export function lifecycle(
  worker: Worker,
  policy: CloudPolicy | undefined,
  now: number,
  joined: ReadonlySet<string> = NONE,
): WorkerReport["state"] {
  if (worker.state !== "booting") return worker.state;
  if (joined.has(worker.instanceId)) return "missing";
  if (policy !== undefined && now - worker.launchedAt > policy.bootTimeout) return "stuck";
  return worker.state;
}

const NONE: ReadonlySet<string> = new Set();

/** Terminations for one cloud, given its workers as observed. */
export function scaleDown(
  policy: CloudPolicy,
  workers: readonly Worker[],
  now: number,
  joined?: ReadonlySet<string>,
  /** The collector's ads were read this tick: without them no worker is judged idle or stuck. */
  machinesSeen = true,
  /** Each idle worker's timeout under `idleTimeout: auto` (src/policy/adaptive.ts), by id. */
  auto: ReadonlyMap<string, { timeout: number; why: string }> = new Map(),
): TerminateAction[] {
  const actions: TerminateAction[] = [];
  const terminate = (worker: Worker, cause: TerminateAction["cause"], reason: string) =>
    actions.push({
      kind: "terminate",
      cloud: policy.name,
      instanceIds: [worker.instanceId],
      cause,
      reason,
    });

  const timeout = (worker: Worker) =>
    policy.idleTimeout === "auto"
      ? (auto.get(worker.instanceId) ?? { timeout: Number.POSITIVE_INFINITY, why: "" })
      : { timeout: policy.idleTimeout, why: "idleTimeout" };
  let alive = 0;
  const idle: Worker[] = [];
  for (const worker of workers) {
    const state = lifecycle(worker, policy, now, joined);
    if (!machinesSeen && state !== "failed") {
      if (state !== "gone") alive += 1;
      continue;
    }
    if (state === "stuck") {
      terminate(
        worker,
        "stuck",
        `${worker.name}: stuck booting for ${formatDuration(now - worker.launchedAt)} (bootTimeout ${formatDuration(policy.bootTimeout)})`,
      );
    } else if (state === "failed") {
      terminate(
        worker,
        "failed",
        `${worker.name}: failed in the cloud: ${worker.fault?.message ?? "no reason given"}`,
      );
    } else if (state !== "gone") {
      alive += 1;
      if (state === "idle" && (worker.idleSeconds ?? 0) > timeout(worker).timeout)
        idle.push(worker);
    }
  }

  idle.sort(
    (a, b) =>
      (b.idleSeconds ?? 0) - (a.idleSeconds ?? 0) || a.instanceId.localeCompare(b.instanceId),
  );
  const removable = Math.max(0, alive - policy.minWorkers);
  for (const worker of idle.slice(0, removable)) {
    const { timeout: limit, why } = timeout(worker);
    terminate(
      worker,
      "idle",
      `${worker.name}: idle for ${formatDuration(worker.idleSeconds ?? 0)} (${why} ${formatDuration(limit)})`,
    );
  }
  return actions;
}
