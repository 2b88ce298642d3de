/**
 * What happens around a termination: right before, idle workers are checked once more with
 * HTCondor, and any that got a job meanwhile are spared; right after, the terminated workers' ads
 * are withdrawn from the collector, so the negotiator stops matching jobs to slots that are gone.
 */
import type Logger from "bunyan";
import type { CondorPool, WorkerRef } from "../condor/pool.js";
import type { Action } from "../model/plan.js";
import type { Snapshot } from "../model/snapshot.js";
import type { CallOutcome } from "../policy/backoff.js";

function refs(instanceIds: readonly string[], snapshot: Snapshot): WorkerRef[] {
  const byId = new Map(snapshot.workers.map((worker) => [worker.instanceId, worker]));
  return instanceIds.map((instanceId) => {
    const startd = byId.get(instanceId)?.startd;
    return startd === undefined ? { instanceId } : { instanceId, startd };
  });
}

/** The actions without idle terminations of workers HTCondor no longer shows idle. */
export async function spareClaimed(
  actions: readonly Action[],
  snapshot: Snapshot,
  condor: CondorPool,
  log: Logger,
): Promise<Action[]> {
  const idleIds = actions.flatMap((a) =>
    a.kind === "terminate" && a.cause === "idle" ? a.instanceIds : [],
  );
  if (idleIds.length === 0 || condor.confirmIdle === undefined) return [...actions];
  let still: Set<string>;
  try {
    still = await condor.confirmIdle(refs(idleIds, snapshot));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    log.warn(
      { instanceIds: idleIds },
      `cannot re-check idle workers before terminating, sparing them this tick: ${why}`,
    );
    still = new Set();
  }
  const kept: Action[] = [];
  for (const action of actions) {
    if (action.kind !== "terminate" || action.cause !== "idle") {
      kept.push(action);
      continue;
    }
    const idle = action.instanceIds.filter((id) => still.has(id));
    for (const id of action.instanceIds.filter((i) => !still.has(i))) {
      log.info(
        { cloud: action.cloud, instanceId: id },
        `spared ${id} on ${action.cloud}: no longer idle when re-checked`,
      );
    }
    if (idle.length > 0) kept.push({ ...action, instanceIds: idle });
  }
  return kept;
}

/** Withdraws the ads of every worker a terminate call removed. */
export async function withdrawTerminated(
  outcomes: readonly CallOutcome[],
  snapshot: Snapshot,
  condor: CondorPool,
  log: Logger,
): Promise<void> {
  const gone = outcomes.flatMap((o) => (o.operation === "terminate" ? (o.instanceIds ?? []) : []));
  if (gone.length === 0 || condor.withdraw === undefined) return;
  try {
    await condor.withdraw(refs(gone, snapshot));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    log.warn(
      { instanceIds: gone },
      `could not withdraw the ads of terminated workers (they expire by themselves): ${why}`,
    );
  }
}
