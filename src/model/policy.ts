/** The planner's view of the configuration: what it needs to decide, nothing about how to act. */

/** Durations are in seconds throughout the model. */
export type Seconds = number;

/** The resources one worker offers to HTCondor. */
export interface WorkerShape {
  cpus: number;
  memoryMb: number;
  gpus: number;
}

export interface BackoffPolicy {
  /** First delay after a quota or capacity answer; doubles with each further one. */
  initial: Seconds;
  /** Ceiling of the delay. */
  max: Seconds;
  /** First delay after a transient fault (5xx, network). */
  transient: Seconds;
}

/**
 * A recurring window of a cloud's policy (a cloud file's `schedules`): it opens at each time its
 * cron expression names and stays open `for` seconds. While open it may raise minWorkers (a warm
 * pool for office hours), lower maxWorkers (a cap) or hold launches (maintenance).
 */
export interface ScheduleWindow {
  /** Five cron fields (minute hour day-of-month month day-of-week), node-cron's syntax. */
  cron: string;
  /** How long each window stays open, in seconds. */
  for: Seconds;
  /** IANA time zone the cron is read in; absent: the host's (daemon) or the trace's (simulator). */
  timezone?: string;
  minWorkers?: number;
  maxWorkers?: number;
  hold?: boolean;
}

export interface CloudPolicy {
  /** The cloud's name: its policy file's name without `.yaml`. */
  name: string;
  /** Lower numbers are filled first; clouds of equal priority share by `share`. */
  priority: number;
  /** Relative share of demand among clouds of equal priority (Vac's target shares). */
  share: number;
  /** Price of one worker-hour; breaks ties between equally starved clouds (cheaper first). */
  costPerHour: number;
  minWorkers: number;
  maxWorkers: number;
  worker: WorkerShape;
  /** At most this many jobs share a worker; 1 for one-job pilots. Absent: as many as fit. */
  jobsPerWorker?: number;
  /** HTCondor constraint selecting the jobs this cloud serves (evaluated by HTCondor). */
  jobs: string;
  /** `auto`: adaptive (src/policy/adaptive.ts). */
  idleTimeout: Seconds | "auto";
  bootTimeout: Seconds;
  maxLaunchPerTick: number;
  backoff: BackoffPolicy;
  /** Windows that change the bounds or hold launches at times (evaluated outside the planner). */
  schedules?: readonly ScheduleWindow[];
  /**
   * Set, with the window that holds it, while a schedule holds this cloud's launches: the planner
   * launches nothing there. minWorkers and maxWorkers are then already those in force.
   */
  hold?: string;
  /** The schedule windows open now, as a person reads them (the planner notes them). */
  windows?: readonly string[];
}

export interface PoolPolicy {
  /** Pool name; marks every resource we own. */
  pool: string;
  /** An idle job counts as demand only after waiting this long (elastiq's persistence). */
  /** `auto`: adaptive (src/policy/adaptive.ts). */
  persistence: Seconds | "auto";
  clouds: readonly CloudPolicy[];
  /** A cloud whose listing answers `auth` this many ticks in a row is disabled; default 3. */
  authFailuresToDisable?: number;
  /** A collector up for less than this (seconds) is a gap; default COLLECTOR_WARMUP. */
  collectorWarmup?: number;
}
