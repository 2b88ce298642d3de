/**
 * One tick: observe → plan → act → remember. The daemon and the simulator both run exactly this.
 */
import { randomBytes } from "node:crypto";
import type Logger from "bunyan";
import { policyInForce } from "../config/schedules.js";
import type { Memory } from "../model/memory.js";
import type { Action, Plan } from "../model/plan.js";
import type { PoolPolicy } from "../model/policy.js";
import type { Snapshot } from "../model/snapshot.js";
import { rememberDemand, rememberQuota } from "../policy/adaptive.js";
import { type CallOutcome, rememberFaults, rememberOutcome } from "../policy/backoff.js";
import { rememberJoined } from "../policy/joined.js";
import { plan } from "../policy/plan.js";
import { rememberLaunches, rememberSight } from "../policy/sight.js";
import type { Random } from "../random.js";
import { act } from "./act.js";
import { spareClaimed, withdrawOrphans, withdrawTerminated } from "./guard.js";
import { observe, type Sources } from "./observe.js";

export interface TickInput extends Sources {
  policy: PoolPolicy;
  memory: Memory;
  now: number;
  dryRun: boolean;
  concurrency: number;
  random: Random;
  log: Logger;
  /**
   * Decides the actions; default: the policy's planner. The simulator passes its baselines
   * (elastiq-classic, a static pool) to compare them on the same tick path.
   */
  planner?: Planner;
  /** Says when the tick has overrun its deadline: the steps not yet begun are then skipped. */
  overdue?: () => boolean;
  /**
   * Writes the memory with this tick's launch intents where a restart finds it (run --state),
   * before any launch call. A failure skips the tick's launches: none is made unrecorded.
   */
  recordIntents?: (memory: Memory) => Promise<void>;
  /**
   * Time zone of the schedules that name none; default: the host's. The simulator passes the
   * trace's, so that a run does not depend on the machine it runs on.
   */
  timezone?: string;
  /** Launch tokens; default: random. The simulator passes a deterministic one. */
  newToken?: () => string;
  /**
   * The notes the previous tick logged. One that holds for hours (an open schedule window, a
   * cap) is said at info when it first appears and at debug while it repeats, so the log keeps
   * what changed.
   */
  notesBefore?: readonly string[];
}

/** A tick abandoned at its deadline, before `step`. */
export class TickOverrun extends Error {
  override readonly name = "TickOverrun";
  constructor(readonly step: string) {
    super(`deadline passed before ${step}: abandoned`);
  }
}

/** What plan() is: a pure function of the observation, the policy and the memory. */
export type Planner = (snapshot: Snapshot, policy: PoolPolicy, memory: Memory, now: number) => Plan;

export interface TickResult {
  snapshot: Snapshot;
  plan: Plan;
  outcomes: CallOutcome[];
  memory: Memory;
}

/**
 * One line per tick: what was seen, and what was done (the clouds' answers, not the plan; a dry
 * run says what it would have done).
 */
/** A fresh idempotency token: 32 hex digits, unique across restarts. */
function randomToken(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Gives each launch a token and writes the intents down (write-ahead) before any call. When they
 * cannot be written, the launches wait for the next tick.
 */
async function writeIntents(
  actions: readonly Action[],
  memory: Memory,
  input: TickInput,
): Promise<{ actions: Action[]; intended: Memory }> {
  if (!actions.some((a) => a.kind === "launch")) return { actions: [...actions], intended: memory };
  const tokened = actions.map((a) =>
    a.kind === "launch" ? { ...a, token: (input.newToken ?? randomToken)() } : a,
  );
  const clouds = { ...memory.clouds };
  for (const action of tokened) {
    if (action.kind !== "launch" || action.token === undefined) continue;
    const state = clouds[action.cloud] ?? { scoped: {} };
    clouds[action.cloud] = {
      ...state,
      intents: [
        ...(state.intents ?? []),
        { token: action.token, count: action.count, at: input.now },
      ],
    };
  }
  const intended: Memory = { ...memory, clouds };
  try {
    await input.recordIntents?.(intended);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    input.log.error(
      `launch intents cannot be written down, so no launch this tick (a crash could repeat it): ${why}`,
    );
    return { actions: actions.filter((a) => a.kind !== "launch"), intended: memory };
  }
  return { actions: tokened, intended };
}

/** The memory without the intents of launches that were made (answered, well or not). */
function settleIntents(memory: Memory, actions: readonly Action[]): Memory {
  const answered = new Set(
    actions.flatMap((a) => (a.kind === "launch" && a.token ? [a.token] : [])),
  );
  if (answered.size === 0) return memory;
  const clouds = { ...memory.clouds };
  for (const [name, state] of Object.entries(clouds)) {
    if (state.intents === undefined) continue;
    const open = state.intents.filter((intent) => !answered.has(intent.token));
    const { intents: _settled, ...rest } = state;
    clouds[name] = open.length > 0 ? { ...rest, intents: open } : rest;
  }
  return { ...memory, clouds };
}

export function summarise(
  result: Pick<TickResult, "snapshot" | "plan" | "outcomes">,
  dryRun = false,
): string {
  const { snapshot, plan: decided, outcomes } = result;
  const states = new Map<string, number>();
  for (const worker of decided.workers)
    states.set(worker.state, (states.get(worker.state) ?? 0) + 1);
  const workers = [...states].map(([state, count]) => `${count} ${state}`).join(", ") || "none";
  const done = (operation: "launch" | "terminate") =>
    outcomes.reduce((sum, o) => sum + (o.operation === operation ? o.succeeded : 0), 0);
  const planned = (kind: "launch" | "terminate") =>
    decided.actions.reduce(
      (sum, a) =>
        sum + (a.kind !== kind ? 0 : a.kind === "launch" ? a.count : a.instanceIds.length),
      0,
    );
  const acted = dryRun
    ? `would launch ${planned("launch")}, terminate ${planned("terminate")}`
    : `launched ${done("launch")} of ${planned("launch")}, terminated ${done("terminate")} of ${planned("terminate")}`;
  const gaps = snapshot.gaps.length > 0 ? `; INCOMPLETE (${snapshot.gaps.length} gaps)` : "";
  const jobs = snapshot.gaps.some((g) => g.source === "queue")
    ? "idle jobs unknown"
    : `${snapshot.jobs.length} idle jobs`;
  return `${jobs}; workers: ${workers}; ${acted}${gaps}`;
}

export async function runTick(input: TickInput): Promise<TickResult> {
  const { policy, now, log } = input;
  const snapshot = await observe(input, policy, now, log);
  for (const gap of snapshot.gaps)
    log.warn({ gap }, `observation gap in ${gap.cloud ?? gap.source}: ${gap.message}`);
  // What the clouds took back (spot reclaimed, no valid host) counts before this tick's plan.
  const observed = rememberDemand(
    input.memory,
    rememberSight(
      rememberJoined(
        rememberFaults(input.memory, snapshot.workers, policy.clouds, now, input.random),
        snapshot,
        policy.clouds,
      ),
      snapshot,
      policy,
      now,
    ),
    snapshot,
    policy,
    now,
  );
  for (const worker of snapshot.workers) {
    const fault = worker.fault;
    if (fault?.kind === undefined) continue;
    if (input.memory.clouds[worker.cloud]?.faultsSeen?.includes(worker.instanceId)) continue;
    // A spot reclaim, a server failed for lack of room: said once, when first seen.
    log.warn(
      { cloud: worker.cloud, instanceId: worker.instanceId, kind: fault.kind, scope: fault.scope },
      `${worker.cloud}: ${worker.instanceId} taken back by the cloud (${fault.kind}): ${fault.message}`,
    );
  }
  if (input.overdue?.()) throw new TickOverrun("planning");
  // The schedule windows open now set the bounds the planner sees: it stays a pure function.
  const inForce = policyInForce(policy, now, input.timezone);
  const decided = (input.planner ?? plan)(snapshot, inForce, observed, now);
  const checked = input.dryRun
    ? decided.actions
    : await spareClaimed(decided.actions, snapshot, input.condor, log);
  // Never act on an observation older than the deadline.
  if (input.overdue?.()) throw new TickOverrun("acting");
  const { actions, intended } = input.dryRun
    ? { actions: checked, intended: observed }
    : await writeIntents(checked, observed, input);
  const outcomes = await act(actions, input.providers, input, log);
  // After the actions they explain (a cap that held a launch back, jobs no worker fits).
  const said = new Set(input.notesBefore ?? []);
  for (const note of decided.notes) {
    if (said.has(note)) log.debug({ note, repeated: true }, note);
    else log.info({ note }, note);
  }
  if (!input.dryRun) {
    await withdrawTerminated(outcomes, snapshot, input.condor, log);
    await withdrawOrphans(snapshot, input.condor, log);
  }

  // Answered launches are settled: their instances are in `launched` until listed.
  let memory = rememberLaunches(settleIntents(intended, actions), outcomes, now);
  for (const outcome of outcomes) {
    const cloud = policy.clouds.find((c) => c.name === outcome.cloud);
    if (cloud !== undefined) memory = rememberOutcome(memory, outcome, cloud, now, input.random);
  }
  memory = rememberQuota(memory, outcomes, snapshot, policy, now);
  for (const cloud of policy.clouds) {
    const before = input.memory.clouds[cloud.name];
    const after = memory.clouds[cloud.name];
    if (after?.disabled !== undefined && before?.disabled === undefined) {
      log.error(
        { cloud: cloud.name, disabled: after.disabled },
        `${cloud.name}: DISABLED until the config is reloaded (${after.disabled.kind}): ${after.disabled.message}`,
      );
    } else if (after?.backoff !== undefined && after.backoff !== before?.backoff) {
      log.warn(
        { cloud: cloud.name, backoff: after.backoff },
        `${cloud.name}: backing off for ${Math.round(after.backoff.until - now)}s after ${after.backoff.kind}`,
      );
    }
  }
  return { snapshot, plan: decided, outcomes, memory };
}
