/** `condor-autoscaler plan`: one observation and plan, printed as a table or as JSON. Acts on nothing. */
import { createBackends } from "../backends.js";
import { formatDuration } from "../config/duration.js";
import { poolPolicy } from "../config/policies.js";
import { policyInForce } from "../config/schedules.js";
import { createLog } from "../daemon/log.js";
import { redact, redactText } from "../daemon/redact.js";
import { emptyMemory } from "../model/memory.js";
import type { Action, Plan } from "../model/plan.js";
import type { IdleJob, Snapshot } from "../model/snapshot.js";
import { plan } from "../policy/plan.js";
import { plural } from "../policy/plural.js";
import { describeCalls } from "../tick/act.js";
import { observe } from "../tick/observe.js";
import { loadOrExit } from "./load.js";
import { registerConfiguredSecrets } from "./secrets.js";
import { table } from "./table.js";

/** Exit status of `plan` when a source could not be read: what it printed is partial. */
export const PLAN_INCOMPLETE = 3;

/** What `plan` could not see: the queue, the collector, clouds whose listing failed. */
export interface Unobserved {
  queue: boolean;
  collector: boolean;
  clouds: string[];
}

export function unobservedOf(snapshot: Snapshot): Unobserved {
  return {
    queue: snapshot.gaps.some((g) => g.source === "queue"),
    collector: snapshot.gaps.some((g) => g.source === "machines"),
    clouds: snapshot.gaps.flatMap((g) => (g.source === "cloud" && g.cloud ? [g.cloud] : [])),
  };
}

const UNKNOWN = "unknown";

export function formatPlan(
  decided: Omit<Plan, "actions"> & { actions: Array<Action & { calls?: string[] }> },
  unobserved: Unobserved = { queue: false, collector: false, clouds: [] },
  jobs: readonly IdleJob[] = [],
): string {
  // Never a 0 for what could not be read: "0 idle jobs" would read as "no demand".
  const rows = Object.entries(decided.demand).map(([cloud, d]) =>
    unobserved.queue
      ? [cloud, UNKNOWN, UNKNOWN, UNKNOWN]
      : [cloud, String(d.idleJobs), String(d.cpus), String(d.memoryMb)],
  );
  // A job that several clouds' constraints select is in each of their rows: the total is of jobs.
  const total = (pick: (job: IdleJob) => number) =>
    String(jobs.reduce((sum, j) => sum + pick(j), 0));
  const totalRow =
    rows.length > 1 && !unobserved.queue
      ? [["all clouds", String(jobs.length), total((j) => j.cpus), total((j) => j.memoryMb)]]
      : [];
  const shared = jobs.filter((job) => job.clouds.length > 1).length;
  const demand =
    table([["CLOUD", "IDLE JOBS", "CPUS", "MEMORY MB"], ...rows, ...totalRow]) +
    (shared > 0 && totalRow.length > 0
      ? `\n(${plural(shared, "job")} that several clouds select counted under each; "all clouds" counts each job once)`
      : "");
  const workers =
    decided.workers.length === 0
      ? "(none)"
      : table([
          ["CLOUD", "NAME", "INSTANCE", "STATE", "IDLE FOR"],
          ...decided.workers.map((w) => [
            w.cloud,
            w.name,
            w.instanceId,
            w.state,
            w.idleSeconds === null ? "-" : formatDuration(w.idleSeconds),
          ]),
        ]);
  const actions =
    decided.actions.length === 0
      ? "(none)"
      : decided.actions
          .map(
            (a) =>
              (a.kind === "launch"
                ? `launch ${a.count} on ${a.cloud}: ${a.reason}`
                : `terminate ${a.instanceIds.join(", ")} on ${a.cloud}: ${a.reason}`) +
              (a.calls ?? []).map((call) => `\n  would call ${call}`).join(""),
          )
          .join("\n");
  const unseen = [
    ...(unobserved.queue ? ["the queue (condor_q)"] : []),
    ...(unobserved.collector ? ["the collector (condor_status): worker states"] : []),
    ...unobserved.clouds.map((cloud) => `${cloud}'s workers (its listing failed)`),
  ];
  const header =
    unseen.length === 0 ? "" : `INCOMPLETE: unknown this time: ${unseen.join("; ")}\n\n`;
  const notes = decided.notes.length === 0 ? "" : `\n\nNOTES\n${decided.notes.join("\n")}`;
  return `${header}DEMAND\n${demand}\n\nWORKERS\n${workers}\n\nACTIONS\n${actions}${notes}\n`;
}

export async function planCommand(dir: string, json: boolean): Promise<number> {
  const config = await loadOrExit(dir);
  await registerConfiguredSecrets(config);
  // Logs go to stderr so that stdout holds only the plan.
  const log = createLog(
    { ...config.global.logging, format: "pretty", level: "warn" },
    process.stderr,
  );
  const backends = await createBackends(config, log, { readOnly: true });
  const policy = poolPolicy(config);
  const now = backends.clock.now();
  const snapshot = await observe(backends, policy, now, log);
  // As a tick plans: with the bounds and holds of the schedule windows open now.
  const decided = plan(snapshot, policyInForce(policy, now), emptyMemory(), now);
  // The calls each action would make, described by its provider; none is made.
  const actions = decided.actions.map((action) => ({
    ...action,
    calls: describeCalls(action, backends.providers.get(action.cloud)),
  }));
  const unobserved = unobservedOf(snapshot);
  if (json) {
    const { demand, workers, unfit, notes } = decided;
    // Error texts from tools and clouds are in the notes: scrubbed as the logs are.
    const document = redact({ demand, workers, actions, unfit, notes, unobserved });
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  } else {
    process.stdout.write(
      redactText(formatPlan({ ...decided, actions }, unobserved, snapshot.jobs)),
    );
  }
  return snapshot.gaps.length === 0 ? 0 : PLAN_INCOMPLETE;
}
