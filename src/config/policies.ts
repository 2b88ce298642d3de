/** The planner's view of a loaded configuration. */
import type { CloudPolicy, PoolPolicy } from "../model/policy.js";
import type { AutoscalerConfig, CloudConfig } from "./schema.js";

export function cloudPolicy(cloud: CloudConfig): CloudPolicy {
  return {
    name: cloud.name,
    priority: cloud.priority,
    share: cloud.share,
    costPerHour: cloud.costPerHour,
    minWorkers: cloud.minWorkers,
    maxWorkers: cloud.maxWorkers,
    worker: { ...cloud.worker },
    ...(cloud.provider.kind === "docker" && cloud.provider.perJob ? { jobsPerWorker: 1 } : {}),
    jobs: cloud.jobs,
    idleTimeout: cloud.idleTimeout,
    bootTimeout: cloud.bootTimeout,
    maxLaunchPerTick: cloud.maxLaunchPerTick,
    backoff: { ...cloud.backoff },
    ...(cloud.schedules.length > 0
      ? {
          schedules: cloud.schedules.map((window) => ({
            cron: window.cron,
            for: window.for,
            ...(window.timezone === undefined ? {} : { timezone: window.timezone }),
            ...(window.minWorkers === undefined ? {} : { minWorkers: window.minWorkers }),
            ...(window.maxWorkers === undefined ? {} : { maxWorkers: window.maxWorkers }),
            ...(window.hold === true ? { hold: true } : {}),
          })),
        }
      : {}),
  };
}

export function poolPolicy(config: AutoscalerConfig): PoolPolicy {
  return {
    pool: config.global.pool,
    persistence: config.global.persistence,
    authFailuresToDisable: config.global.authFailuresToDisable,
    ...(config.global.condor.kind === "htcondor"
      ? { collectorWarmup: config.global.condor.collectorWarmup }
      : {}),
    clouds: config.clouds.map(cloudPolicy),
  };
}
