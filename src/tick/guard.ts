/**
 * What happens around a termination: right before, idle and stuck workers are checked once more
 * with HTCondor, and any whose state changed meanwhile are spared; right after, the terminated
 * workers' ads are withdrawn from the collector, so the negotiator stops matching jobs to slots
 * that are gone. Ads of our workers whose instance the cloud no longer has are withdrawn too.
 */
import type Logger from "bunyan";
import type { CondorPool, RecheckedState, WorkerRef } from "../condor/pool.js";
import type { Action, TerminationCause } from "../model/plan.js";
import type { Snapshot } from "../model/snapshot.js";
import type { CallOutcome } from "../policy/backoff.js";

function refs(instanceIds: readonly string[], snapshot: Snapshot): WorkerRef[] {
  const byId = new Map(snapshot.workers.map((worker) => [worker.instanceId, worker]));
  return instanceIds.map((instanceId) => {
    const startd = byId.get(instanceId)?.startd;
    return startd === undefined ? { instanceId } : { instanceId, startd };
  });
}

/**
 * What a re-check must show for a termination to go ahead: an idle worker still idle; a worker
 * stuck booting still without any slot ad (one that has joined since is not stuck).
 */
const REQUIRED: Partial<Record<TerminationCause, RecheckedState>> = {
  idle: "idle",
  stuck: "absent",
};

const SPARED_BECAUSE: Record<RecheckedState, string> = {
  idle: "it is idle in the pool",
  busy: "no longer idle when re-checked",
  absent: "its ads are gone from the collector when re-checked",
};

/** The actions without the terminations a re-check with HTCondor does not confirm. */
export async function spareClaimed(
  actions: readonly Action[],
  snapshot: Snapshot,
  condor: CondorPool,
  log: Logger,
): Promise<Action[]> {
  const checked = actions.flatMap((a) =>
    a.kind === "terminate" && REQUIRED[a.cause] !== undefined ? a.instanceIds : [],
  );
  if (checked.length === 0 || condor.recheck === undefined) return [...actions];
  let states: Map<string, RecheckedState>;
  try {
    states = await condor.recheck(refs(checked, snapshot));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    log.warn(
      { instanceIds: checked },
      `cannot re-check workers before terminating, sparing them this tick: ${why}`,
    );
    states = new Map();
  }
  const kept: Action[] = [];
  for (const action of actions) {
    const required = action.kind === "terminate" ? REQUIRED[action.cause] : undefined;
    if (action.kind !== "terminate" || required === undefined) {
      kept.push(action);
      continue;
    }
    const confirmed = action.instanceIds.filter((id) => states.get(id) === required);
    for (const id of action.instanceIds) {
      const state = states.get(id);
      if (state === undefined || state === required) continue;
      log.info(
        { cloud: action.cloud, instanceId: id, cause: action.cause, state },
        `spared ${id} on ${action.cloud}: ${SPARED_BECAUSE[state]}`,
      );
    }
    if (confirmed.length > 0) kept.push({ ...action, instanceIds: confirmed });
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

/** Withdraws the ads that workers which died on their own left in the collector. */
export async function withdrawOrphans(
  snapshot: Snapshot,
  condor: CondorPool,
  log: Logger,
): Promise<void> {
  const orphans = snapshot.orphanAds ?? [];
  if (orphans.length === 0 || condor.withdraw === undefined) return;
  for (const orphan of orphans) {
    log.info(
      { cloud: orphan.cloud, instanceId: orphan.instanceId, startd: orphan.startd },
      `withdrawing the ads of ${orphan.startd}: ${orphan.cloud} no longer has ${orphan.instanceId}`,
    );
  }
  try {
    await condor.withdraw(orphans.map(({ instanceId, startd }) => ({ instanceId, startd })));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    log.warn(
      { instanceIds: orphans.map((orphan) => orphan.instanceId) },
      `could not withdraw the ads of workers that are gone (next tick again): ${why}`,
    );
  }
}
