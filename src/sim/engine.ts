/**
 * The discrete-event simulator: one policy over one trace, on a virtual clock, through the same
 * tick path as the daemon (observe → plan → act over the provider interface). The simulated pool
 * plays its events between ticks; a tick that changes nothing is followed by the next tick at
 * which something can change (an event, a timer of the policy), so quiet stretches cost nothing.
 */
import { Writable } from "node:stream";
import Logger from "bunyan";
import {
  CLASSIC_PERSISTENCE,
  DEFAULT_ACTION_CONCURRENCY,
  DEFAULT_SIM_NEGOTIATION_INTERVAL,
  SIM_HORIZON_AFTER_TRACE,
} from "../config/defaults.js";
import { poolPolicy } from "../config/policies.js";
import { nextScheduleEdge, policyInForce } from "../config/schedules.js";
import { type AutoscalerConfig, simulatedProviderSchema } from "../config/schema.js";
import { ERROR_KINDS, type ErrorKind } from "../model/errors.js";
import { emptyMemory, type Memory } from "../model/memory.js";
import type { PoolPolicy } from "../model/policy.js";
import type { Snapshot } from "../model/snapshot.js";
import { adaptiveTimers } from "../policy/adaptive.js";
import { cloudMemory, launchBlock } from "../policy/backoff.js";
import type { Provider } from "../providers/provider.js";
import { SimulatedCloud } from "../providers/simulated.js";
import { seededRandom } from "../random.js";
import { type Planner, runTick, type TickResult } from "../tick/tick.js";
import { ObservedCloud, type PartialObservation, RestartingCollector } from "./chaos.js";
import { ManualClock } from "./clock.js";
import { type PoolTruth, SimulatedPool } from "./pool.js";
import type { SimRun } from "./run.js";
import type { JobSpec } from "./scenarios.js";
import { Timeline, type TimeWindow, UsageRecorder } from "./usage.js";

/**
 * Any fixed epoch for a trace without a clock of its own: traces are relative, and a fixed start
 * keeps runs identical.
 */
export const DEFAULT_SIM_EPOCH = 1_600_000_000;

function fitsSomewhere(
  job: { cpus: number; memoryMb: number; gpus: number },
  rules: PoolPolicy,
): boolean {
  return rules.clouds.some(
    (c) =>
      c.worker.cpus >= job.cpus && c.worker.memoryMb >= job.memoryMb && c.worker.gpus >= job.gpus,
  );
}

export interface SimPolicy {
  /** A config directory's name, or a baseline's. */
  name: string;
  /** Its clouds and global settings (tick interval, persistence); non-simulated clouds are simulated. */
  config: AutoscalerConfig;
  /** Default: our planner. */
  planner?: Planner;
  /** Durations (s) the planner decides by besides the policy's own, so no decision is skipped. */
  timers?: readonly number[];
  /**
   * An oracle (the clairvoyant baseline): given the simulated world's truth, the planner, used
   * instead of `planner`, and when it next wants to decide whatever else happens.
   */
  oracle?: (truth: PoolTruth) => { planner: Planner; wakeAt?: (now: number) => number };
}

export interface SimOptions {
  seed: number;
  /** Chaos: the chance of a provider error on each call, of every kind (0 = none). */
  faults?: number;
  /** Partial observation: collector restarts, listing lag, a broken cloud (src/sim/chaos.ts). */
  observation?: PartialObservation;
  /** Check the invariants after every tick (always on with faults or partial observation). */
  checkInvariants?: boolean;
  negotiationInterval?: number;
  /** Epoch second of the trace's time 0 (its own clock: schedules are read on it); default fixed. */
  startAt?: number;
  /**
   * Time zone of the schedules that name none: the trace's site's. Default UTC, never the host's,
   * so that a run gives the same numbers on every machine.
   */
  timezone?: string;
  /** Keep the timeline (not the totals) for this span only: seconds from the trace's start. */
  window?: TimeWindow;
  /** Called now and then with the jobs done so far and the trace's total. */
  onProgress?: (done: number, total: number) => void;
}

/** An invariant broken by a tick: the simulator stops at the first one. */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
  constructor(
    readonly policy: string,
    readonly tick: number,
    /** Seconds from the start of the trace. */
    readonly at: number,
    message: string,
  ) {
    super(`${policy}: tick ${tick} (t=${at}s): ${message}`);
  }
}

function quietLog(): Logger {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  return Logger.createLogger({ name: "sim", streams: [{ level: Logger.FATAL + 1, stream: sink }] });
}

/**
 * Errors injected in chaos mode: a call fails at `rate`, with each kind equally likely. Those that
 * disable a cloud come only on list (a launch answered auth or config disables the cloud until an
 * admin reloads, which would end the experiment). The simulated cloud tries the entries in turn,
 * each with its own draw, so the i-th of k strikes with (rate/k) / (1 - i·rate/k): the chance it
 * is reached times that is rate/k, and the k together fail rate of the calls.
 */
export function chaosFailures(rate: number) {
  const onCalls: ErrorKind[] = ["transient", "throttled", "quota", "capacity"];
  const entries = (operation: "launch" | "terminate" | "list", kinds: readonly ErrorKind[]) => {
    const share = rate / kinds.length;
    return kinds.map((kind, i) => ({
      kind,
      operation,
      from: 0,
      probability: Math.min(1, share / (1 - i * share)),
    }));
  };
  return [
    ...entries("launch", onCalls),
    ...entries("terminate", onCalls),
    ...entries("list", ERROR_KINDS),
  ];
}

export async function simulate(
  jobs: readonly JobSpec[],
  policy: SimPolicy,
  options: SimOptions,
): Promise<SimRun> {
  const { config } = policy;
  const epoch = options.startAt ?? DEFAULT_SIM_EPOCH;
  const timezone = options.timezone ?? "UTC";
  const clock = new ManualClock(epoch);
  const random = seededRandom(options.seed);
  const rules: PoolPolicy = poolPolicy(config);
  const faults = options.faults ?? 0;
  const observation = options.observation ?? {};
  const checking =
    options.checkInvariants === true || faults > 0 || Object.keys(observation).length > 0;

  const clouds = config.clouds.map((cloud) => {
    const base =
      cloud.provider.kind === "simulated"
        ? cloud.provider
        : simulatedProviderSchema.parse({ kind: "simulated" });
    const settings = {
      ...base,
      existing: [],
      failures: [...base.failures, ...(faults > 0 ? chaosFailures(faults) : [])],
    };
    return new SimulatedCloud({
      pool: config.global.pool,
      cloud: cloud.name,
      shape: cloud.worker,
      settings,
      clock,
      random,
    });
  });
  // What the tick sees; the report and the invariants use the clouds and the pool themselves.
  const providers = new Map<string, Provider>(
    clouds.map((cloud) => [
      cloud.cloud,
      observation.listingLag === undefined && observation.brokenCloud === undefined
        ? cloud
        : new ObservedCloud(
            cloud,
            clock,
            observation.listingLag ?? 0,
            observation.brokenCloud === cloud.cloud,
          ),
    ]),
  );
  // Accounted at event times, from the truth (a failed listing hides workers from the tick only).
  // A window gives the plot's buckets to that span only, so a week of a long trace is sharp.
  const usage = new UsageRecorder(0, new Timeline(1000, options.window));
  const costs = new Map(rules.clouds.map((c) => [c.name, c.costPerHour ?? 0]));
  const pool = new SimulatedPool({
    observer: {
      worker: (at, instance, from, to) =>
        usage.worker(at - epoch, from, to, costs.get(instance.cloud) ?? 0),
      queue: (at, idle) => usage.queue(at - epoch, idle),
    },
    pool: config.global.pool,
    clock,
    jobs,
    fleets: clouds,
    negotiationInterval: options.negotiationInterval ?? DEFAULT_SIM_NEGOTIATION_INTERVAL,
  });
  const seer = policy.oracle?.(pool);
  const planner = seer?.planner ?? policy.planner;
  const interval = config.global.tickInterval;
  const fixed = (value: number | "auto"): number[] => (value === "auto" ? [] : [value]);
  const staticTimers = [
    ...fixed(rules.persistence),
    ...(rules.persistence === "auto" ? [CLASSIC_PERSISTENCE] : []),
    ...rules.clouds.flatMap((c) => [...fixed(c.idleTimeout), c.bootTimeout]),
    ...(policy.timers ?? []),
  ];
  // The adaptive defaults' timers move with what the planner learned: asked again at every wake.
  const timersNow = (learned: Memory) => [
    ...new Set([...staticTimers, ...adaptiveTimers(rules, learned)]),
  ];
  const log = quietLog();
  const lastSubmission = jobs.reduce((latest, job) => Math.max(latest, job.submitAt), 0);

  let memory: Memory = emptyMemory();
  const errors: Partial<Record<ErrorKind, number>> = {};
  let launches = 0;
  let launchTokens = 0;
  let terminations = 0;
  let tick = 0;
  const condor =
    observation.collectorRestart === undefined
      ? pool
      : new RestartingCollector(pool, clock, epoch, observation.collectorRestart);
  for (;;) {
    tick += 1;
    const now = clock.now();
    const before = memory;
    // The truth before this tick acts: which workers run a job (jobs start only between ticks).
    const busyBefore = checking
      ? new Set([...pool.activity()].flatMap(([id, state]) => (state === "busy" ? [id] : [])))
      : new Set<string>();
    const result = await runTick({
      condor,
      providers,
      policy: rules,
      memory,
      now,
      dryRun: false,
      concurrency: DEFAULT_ACTION_CONCURRENCY,
      random,
      log,
      timezone,
      newToken: () => {
        launchTokens += 1;
        return `sim${launchTokens}`;
      },
      ...(planner === undefined ? {} : { planner }),
    });
    memory = result.memory;
    if (checking)
      checkInvariants(
        policy.name,
        tick,
        now - epoch,
        result,
        before,
        rules,
        clouds,
        busyBefore,
        timezone,
      );

    for (const outcome of result.outcomes) {
      if (outcome.operation === "launch") launches += outcome.succeeded;
      else terminations += outcome.instanceIds?.length ?? outcome.succeeded;
      for (const error of [
        ...(outcome.error === undefined ? [] : [outcome.error]),
        ...(outcome.scopeErrors ?? []),
      ])
        errors[error.kind] = (errors[error.kind] ?? 0) + 1;
    }
    for (const gap of result.snapshot.gaps) {
      const kind = ERROR_KINDS.find((k) => gap.message.includes(`(${k})`));
      if (kind !== undefined) errors[kind] = (errors[kind] ?? 0) + 1;
    }
    // Plays this tick's launches and terminations into the pool (and so into the accounting).
    const counts = pool.counts();
    const noWorkers = clouds.every((c) => c.fleet().length === 0);
    if (counts.future + counts.running === 0 && noWorkers) {
      // Done, or only jobs left that no cloud's worker can hold: they would wait forever.
      if (counts.idle === 0 || result.snapshot.jobs.every((j) => !fitsSomewhere(j, rules))) break;
    }
    if (now - epoch > lastSubmission + SIM_HORIZON_AFTER_TRACE) break;
    if (tick % 256 === 0) options.onProgress?.(counts.done, jobs.length);

    let next = now + interval;
    const quiet = result.plan.actions.length === 0 && result.outcomes.length === 0;
    // A gap may close at any tick, except a disabled cloud's: that one stays until a reload.
    const openGaps = result.snapshot.gaps.filter(
      (gap) =>
        gap.source !== "cloud" ||
        gap.cloud === undefined ||
        memory.clouds[gap.cloud]?.disabled === undefined,
    );
    if (quiet && openGaps.length === 0) {
      const wake = Math.min(
        nextChange(
          now,
          result.snapshot,
          memory,
          pool,
          clouds,
          timersNow(memory),
          observation,
          epoch,
        ),
        // The oracle's own next decision (a launch ahead of an arrival), if it is later than now.
        seer?.wakeAt === undefined ? Number.POSITIVE_INFINITY : Math.max(now + 1, seer.wakeAt(now)),
        // A schedule window opening or closing changes the bounds in force.
        nextScheduleEdge(rules, now, timezone),
      );
      if (wake > next) next = now + Math.ceil((wake - now) / interval) * interval;
    }
    if (!Number.isFinite(next)) break;
    clock.set(next);
  }
  options.onProgress?.(jobs.length, jobs.length);
  const endedAt = clock.now() - epoch;
  return {
    name: policy.name,
    endedAt,
    ticks: tick,
    usage: usage.close(endedAt),
    timeline: usage.timeline,
    jobs: pool.outcomes((job) => !fitsSomewhere(job, rules)),
    launches,
    terminations,
    errors,
  };
}

/**
 * The earliest time after `now` at which a tick could decide differently: a pool event, an
 * instance reaching running, a backoff ending, or a worker or job crossing one of the timers.
 */
function nextChange(
  now: number,
  snapshot: Snapshot,
  memory: Memory,
  pool: SimulatedPool,
  clouds: readonly SimulatedCloud[],
  timers: readonly number[],
  observation: PartialObservation,
  epoch: number,
): number {
  let wake = pool.nextEventAt();
  const consider = (at: number) => {
    if (at > now && at < wake) wake = at;
  };
  for (const cloud of clouds) for (const instance of cloud.fleet()) consider(instance.runningAt);
  // What the tick sees changes too: a collector restart begins or ends, a launch shows up.
  const restart = observation.collectorRestart;
  if (restart !== undefined) {
    const phase = (now - epoch) % restart.every;
    consider(now - phase + (phase < restart.duration ? restart.duration : restart.every));
  }
  if (observation.listingLag !== undefined)
    for (const cloud of clouds)
      for (const instance of cloud.fleet()) consider(instance.launchedAt + observation.listingLag);
  if (memory.collectorSuspect !== undefined) consider(now + 1);
  for (const state of Object.values(memory.clouds)) {
    if (state.backoff !== undefined) consider(state.backoff.until);
    for (const scoped of Object.values(state.scoped)) consider(scoped.until);
  }
  // A timer may be checked with ≥ (persistence: a job idle 60 s counts) or with > (idleTimeout):
  // the moment it runs out and the second after are both candidates, so neither is a tick late.
  const crossing = (at: number) => {
    consider(at);
    consider(at + 1);
  };
  for (const worker of snapshot.workers) {
    for (const timer of timers) {
      if (worker.state === "idle") crossing(now + timer - (worker.idleSeconds ?? 0));
      if (worker.state === "booting") crossing(worker.launchedAt + timer);
    }
  }
  for (const job of snapshot.jobs) for (const timer of timers) crossing(job.idleSince + timer);
  // The adaptive defaults' warm buffer ends when no job has arrived for one of their timers.
  const arrived = memory.demand?.lastArrival;
  if (arrived !== undefined) for (const timer of timers) crossing(arrived + timer);
  return wake;
}

function checkInvariants(
  name: string,
  tick: number,
  at: number,
  result: TickResult,
  memory: Memory,
  rules: PoolPolicy,
  clouds: readonly SimulatedCloud[],
  busyBefore: ReadonlySet<string>,
  timezone: string,
): void {
  const fail = (message: string) => {
    throw new InvariantViolation(name, tick, at, message);
  };
  const now = result.snapshot.takenAt;
  for (const cloud of rules.clouds) {
    const fleet = clouds.find((c) => c.cloud === cloud.name)?.fleet().length ?? 0;
    if (fleet > cloud.maxWorkers)
      fail(`${cloud.name} has ${fleet} workers, above maxWorkers ${cloud.maxWorkers}`);
  }
  const inForce = policyInForce(rules, now, timezone);
  for (const action of result.plan.actions) {
    if (action.kind === "launch") {
      const blocked = launchBlock(cloudMemory(memory, action.cloud), now);
      if (blocked !== undefined)
        fail(`launch of ${action.count} into ${action.cloud}, which backs off: ${blocked}`);
      const held = inForce.clouds.find((c) => c.name === action.cloud)?.hold;
      if (held !== undefined) fail(`launch of ${action.count} into ${action.cloud}, ${held}`);
      continue;
    }
    for (const id of action.instanceIds) {
      const worker = result.snapshot.workers.find(
        (w) => w.instanceId === id && w.cloud === action.cloud,
      );
      if (worker === undefined) fail(`terminated ${id}, which is not a worker of ${action.cloud}`);
      else if (worker.state === "busy") fail(`terminated ${id} on ${action.cloud} while busy`);
    }
  }
  // Against the truth, not the tick's view: no worker running a job is ever terminated.
  for (const outcome of result.outcomes) {
    if (outcome.operation !== "terminate") continue;
    for (const id of outcome.instanceIds ?? [])
      if (busyBefore.has(id))
        fail(
          `terminated ${id} on ${outcome.cloud} while it ran a job (the tick saw ${result.snapshot.workers.find((w) => w.instanceId === id)?.state ?? "nothing"})`,
        );
  }
}
