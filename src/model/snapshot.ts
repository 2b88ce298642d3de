/** What one observation of the pool and the clouds found. All times are epoch seconds. */
import type { ErrorKind } from "./errors.js";
import type { Seconds } from "./policy.js";

/** An idle job of the queue, with the resources it asks for. */
export interface IdleJob {
  /** `ClusterId.ProcId`, with the schedd's name in front when there are several. */
  id: string;
  /** When the job last became idle (EnteredCurrentStatus). */
  idleSince: number;
  cpus: number;
  memoryMb: number;
  gpus: number;
  owner?: string;
  /** The clouds whose job constraint selects this job, as HTCondor evaluated it. */
  clouds: readonly string[];
}

/** What a cloud says of one of our instances. */
export type InstanceStatus = "booting" | "running" | "failed" | "gone";

export interface Instance {
  id: string;
  cloud: string;
  /** Instance / server / container name, usually `<pool>-<cloud>-<short id>`. */
  name: string;
  status: InstanceStatus;
  /** When the cloud created it. */
  launchedAt: number;
  /** Private IP address, to join with the startd's address. */
  address?: string;
  hostname?: string;
  image?: string;
  /** Why the cloud put it in an error state, where it says. */
  fault?: InstanceFault;
  /** The idempotency token it was launched with, where the cloud keeps it (EC2's ClientToken). */
  launchToken?: string;
}

/** Why a cloud failed or removed an instance; `kind` when it is a signal for the policy. */
export interface InstanceFault {
  message: string;
  kind?: ErrorKind;
  /** The instance type/zone it concerns, as in ProviderError.scope. */
  scope?: string;
}

/** One machine as HTCondor's collector sees it: all its slots summed up. */
export interface StartdMachine {
  /** The startd's name (a slot's Name without `slotN@`), unique in the pool. */
  name: string;
  /** The Machine attribute (host name). */
  machine: string;
  /** IP address from StartdIpAddr. */
  address?: string;
  /** What the worker advertises about itself (STARTD_ATTRS), when it does. */
  instanceId?: string;
  cloud?: string;
  pool?: string;
  /** Idle only when every slot is Unclaimed/Idle and no dynamic slot is left. */
  activity: "idle" | "busy";
  /** How long it has been fully idle, measured on the worker's own clock. */
  idleSeconds?: Seconds;
}

/**
 * One of our workers: an instance joined with its startd.
 * `stuck` is not observed; the planner derives it from the boot timeout.
 */
export type WorkerState = "booting" | "idle" | "busy" | "failed" | "gone";

export interface Worker {
  cloud: string;
  instanceId: string;
  name: string;
  state: WorkerState;
  launchedAt: number;
  /** Set when `state` is `idle`. */
  idleSeconds?: Seconds;
  address?: string;
  image?: string;
  fault?: InstanceFault;
  /** The startd it was joined with, to find its ads again (re-check before kill, withdrawal). */
  startd?: string;
  /** The launch token it was created with, where the cloud says (matches a launch intent). */
  launchToken?: string;
}

/** How many more resources a cloud's quota allows now; an absent field means "no limit known". */
export interface Headroom {
  instances?: number;
  cpus?: number;
  memoryMb?: number;
}

/** Something the observation could not see. Missing data is never read as "idle". */
export interface ObservationGap {
  source: "queue" | "machines" | "cloud";
  /** For `cloud` gaps. */
  cloud?: string;
  /** For `cloud` gaps: the kind of the listing's error. */
  kind?: ErrorKind;
  message: string;
}

export interface CloudView {
  headroom?: Headroom;
}

/**
 * Ads in the collector of one of our instances that its cloud, listed without error this tick, no
 * longer has: a worker that died on its own (killed, reclaimed, crashed) left them behind.
 */
export interface OrphanAds {
  cloud: string;
  instanceId: string;
  /** The startd's name in those ads. */
  startd: string;
}

export interface Snapshot {
  takenAt: number;
  jobs: readonly IdleJob[];
  workers: readonly Worker[];
  /** Absent when the collector could not be asked. */
  orphanAds?: readonly OrphanAds[];
  clouds: Readonly<Record<string, CloudView>>;
  /** Empty when the observation is complete. */
  gaps: readonly ObservationGap[];
}
