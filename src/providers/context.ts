/** What every provider gets from the daemon besides its own settings. */
import type Logger from "bunyan";
import type { Clock } from "../model/clock.js";
import type { WorkerShape } from "../model/policy.js";

export interface ProviderContext {
  pool: string;
  cloud: string;
  shape: WorkerShape;
  clock: Clock;
  log: Logger;
  /**
   * Dry runs and `plan`: read, never change. Housekeeping that a provider would otherwise do while
   * listing (removing exited containers) is only logged.
   */
  readOnly?: boolean;
  /** The cloud's user-data for a worker of this name, or undefined when it has no template. */
  userData(workerName: string): Promise<string | undefined>;
}

/** Ownership marks on everything we create: the clouds are the source of truth for what we own. */
export const OWNER_TAGS = {
  pool: "condor-autoscaler:pool",
  cloud: "condor-autoscaler:cloud",
  managedBy: "managed-by",
} as const;
export const MANAGED_BY = "condor-autoscaler";
