/**
 * Builders for the planner's inputs, with the real defaults of src/config/defaults.ts where a
 * policy file would get one, and small readers of a plan's actions.
 */
import {
  CLASSIC_IDLE_TIMEOUT,
  CLASSIC_PERSISTENCE,
  DEFAULT_BACKOFF_INITIAL,
  DEFAULT_BACKOFF_MAX,
  DEFAULT_BACKOFF_TRANSIENT,
  DEFAULT_BOOT_TIMEOUT,
  DEFAULT_COST_PER_HOUR,
  DEFAULT_GPUS,
  DEFAULT_JOB_CONSTRAINT,
  DEFAULT_MAX_LAUNCH_PER_TICK,
  DEFAULT_MIN_WORKERS,
  DEFAULT_PRIORITY,
  DEFAULT_SHARE,
} from "../../src/config/defaults.js";
import type { ErrorKind } from "../../src/model/errors.js";
import type { Backoff, CloudMemory, Memory } from "../../src/model/memory.js";
import type { LaunchAction, Plan, TerminateAction } from "../../src/model/plan.js";
import type {
  BackoffPolicy,
  CloudPolicy,
  PoolPolicy,
  WorkerShape,
} from "../../src/model/policy.js";
import type { IdleJob, Snapshot, Worker } from "../../src/model/snapshot.js";

/** The time every test plans at, in epoch seconds. */
export const NOW = 1_700_000_000;

/** The default cloud's name. */
export const CLOUD = "alpha";

export type CloudOverrides = Omit<Partial<CloudPolicy>, "worker" | "backoff"> & {
  worker?: Partial<WorkerShape>;
  backoff?: Partial<BackoffPolicy>;
};

/** A cloud as a policy file with only `maxWorkers` and a 4-cpu/8 GB worker would give it. */
export function cloud(overrides: CloudOverrides = {}): CloudPolicy {
  const { worker, backoff, ...rest } = overrides;
  return {
    name: CLOUD,
    priority: DEFAULT_PRIORITY,
    share: DEFAULT_SHARE,
    costPerHour: DEFAULT_COST_PER_HOUR,
    minWorkers: DEFAULT_MIN_WORKERS,
    maxWorkers: 20,
    jobs: DEFAULT_JOB_CONSTRAINT,
    idleTimeout: CLASSIC_IDLE_TIMEOUT,
    bootTimeout: DEFAULT_BOOT_TIMEOUT,
    maxLaunchPerTick: DEFAULT_MAX_LAUNCH_PER_TICK,
    ...rest,
    worker: { cpus: 4, memoryMb: 8192, gpus: DEFAULT_GPUS, ...worker },
    backoff: {
      initial: DEFAULT_BACKOFF_INITIAL,
      max: DEFAULT_BACKOFF_MAX,
      transient: DEFAULT_BACKOFF_TRANSIENT,
      ...backoff,
    },
  };
}

export function pool(
  clouds: readonly CloudPolicy[] = [cloud()],
  persistence: PoolPolicy["persistence"] = CLASSIC_PERSISTENCE,
): PoolPolicy {
  return { pool: "test", persistence, clouds };
}

/** A worker of the default cloud, busy for an hour unless told otherwise. */
export function worker(instanceId: string, overrides: Partial<Worker> = {}): Worker {
  const cloudName = overrides.cloud ?? CLOUD;
  return {
    cloud: cloudName,
    instanceId,
    name: `test-${cloudName}-${instanceId}`,
    state: "busy",
    launchedAt: NOW - 3600,
    ...overrides,
  };
}

export function idle(
  instanceId: string,
  idleSeconds: number,
  overrides: Partial<Worker> = {},
): Worker {
  return worker(instanceId, { state: "idle", idleSeconds, ...overrides });
}

/** A worker whose instance the cloud created `secondsAgo` and that has not joined the pool yet. */
export function booting(
  instanceId: string,
  secondsAgo: number,
  overrides: Partial<Worker> = {},
): Worker {
  return worker(instanceId, { state: "booting", launchedAt: NOW - secondsAgo, ...overrides });
}

/** A one-cpu, 2 GB job of the default cloud, idle for twice the default persistence. */
export function job(id: string, overrides: Partial<IdleJob> = {}): IdleJob {
  return {
    id,
    idleSince: NOW - 2 * CLASSIC_PERSISTENCE,
    cpus: 1,
    memoryMb: 2048,
    gpus: 0,
    clouds: [CLOUD],
    ...overrides,
  };
}

/** `count` identical jobs with ids `<prefix>.0`, `<prefix>.1`, … */
export function jobs(count: number, overrides: Partial<IdleJob> = {}, prefix = "1"): IdleJob[] {
  return Array.from({ length: count }, (_, index) => job(`${prefix}.${index}`, overrides));
}

export function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return { takenAt: NOW, jobs: [], workers: [], clouds: {}, gaps: [], ...overrides };
}

export function memory(clouds: Record<string, Partial<CloudMemory>> = {}): Memory {
  const result: Memory = { clouds: {} };
  for (const [name, state] of Object.entries(clouds))
    result.clouds[name] = { scoped: {}, ...state };
  return result;
}

/** A backoff of `kind` that ends `secondsLeft` after NOW. */
export function backoff(kind: ErrorKind, secondsLeft: number, failures = 1): Backoff {
  return { kind, until: NOW + secondsLeft, failures, message: `${kind} from the test` };
}

// ---- Reading a plan ----

export function launchActions(result: Plan): LaunchAction[] {
  return result.actions.filter((action): action is LaunchAction => action.kind === "launch");
}

export function terminateActions(result: Plan): TerminateAction[] {
  return result.actions.filter((action): action is TerminateAction => action.kind === "terminate");
}

/** Workers launched per cloud; clouds with no launch are left out. */
export function launched(result: Plan): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const action of launchActions(result)) {
    counts[action.cloud] = (counts[action.cloud] ?? 0) + action.count;
  }
  return counts;
}

/** Why each termination happens, in the order the plan gives them. */
export function causes(result: Plan): string[] {
  return terminateActions(result).map((action) => action.cause);
}

/** Instance ids terminated, in the order the plan gives them. */
export function terminated(result: Plan): string[] {
  return terminateActions(result).flatMap((action) => action.instanceIds);
}
