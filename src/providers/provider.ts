/** The one interface every cloud backend implements. Adapters translate; they do not decide. */
import type { ProviderError } from "../model/errors.js";
import type { PreflightCheck } from "../model/preflight.js";
import type { Headroom, Instance } from "../model/snapshot.js";

export interface LaunchRequest {
  count: number;
  /** Scopes backing off (instance types, zones) that must not be used this time. */
  avoid: readonly string[];
  /**
   * The launch intent's token: a cloud with idempotency tokens (EC2's ClientToken) sends it, so
   * a request repeated after a crash launches nothing twice, and tags what it creates with it.
   */
  token?: string;
}

export interface LaunchResult {
  /** The instances created; fewer than asked is a partial success. */
  instances: Instance[];
  /** Why fewer than asked were created, classified. */
  error?: ProviderError;
  /**
   * Scopes (instance type, zone) that said no while others were tried, each to back off on its
   * own even when the launch as a whole succeeded.
   */
  scopeErrors?: ProviderError[];
  /**
   * Set when no call was made because every scope the launch could use is backing off already:
   * nothing answered, so nothing is to be learnt (and the cloud must not back off for it again).
   */
  skipped?: string;
}

export interface TerminateResult {
  /** Ids now gone, including those that were already gone. */
  terminated: string[];
  /** Why the rest were not, classified. */
  error?: ProviderError;
}

/** A live instance tagged with the pool, of whichever cloud its tag names. */
export interface PoolInstance {
  cloud: string;
  id: string;
  name: string;
}

export interface Provider {
  readonly cloud: string;
  /** The instances this daemon owns in the cloud, found by ownership tags/metadata/labels. */
  list(): Promise<Instance[]>;
  launch(request: LaunchRequest): Promise<LaunchResult>;
  terminate(instanceIds: readonly string[]): Promise<TerminateResult>;
  /** How much more the quota allows right now, when the cloud can tell. */
  headroom?(): Promise<Headroom>;
  /** The API calls a launch would make, for dry runs and `plan`; makes none. */
  describeLaunch?(request: LaunchRequest): string[];
  /** The API calls a terminate would make; makes none. */
  describeTerminate?(instanceIds: readonly string[]): string[];
  /**
   * Read-only checks of what a launch needs beyond credentials and a listing (image, instance
   * types, networks, hosts, directories), for `check` and the start of `run`. Never throws.
   */
  preflight?(): Promise<PreflightCheck[]>;
  /**
   * Live instances this account, project or host holds for the pool, of any cloud: those of a
   * cloud no longer configured (a renamed cloud file) run on unseen unless someone says so.
   */
  poolInstances?(): Promise<PoolInstance[]>;
}
