/**
 * observe: asks HTCondor and every cloud at once and joins the answers into one snapshot. A source
 * that fails leaves a gap; the planner then scales nothing down and launches nothing blind.
 */
import type Logger from "bunyan";
import type { CondorPool } from "../condor/pool.js";
import { COLLECTOR_WARMUP } from "../config/defaults.js";
import { asProviderError } from "../model/errors.js";
import type { PoolPolicy } from "../model/policy.js";
import type { CloudView, Instance, ObservationGap, Snapshot } from "../model/snapshot.js";
import type { Provider } from "../providers/provider.js";
import { joinWorkers, orphanAds } from "./join.js";

export interface Sources {
  condor: CondorPool;
  providers: ReadonlyMap<string, Provider>;
}

/** Calls `ask`, turning a synchronous throw into a rejection so it is recorded like any failure. */
function attempt<T>(ask: () => Promise<T>): Promise<T> {
  return Promise.resolve().then(ask);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function observe(
  sources: Sources,
  policy: PoolPolicy,
  now: number,
  log: Logger,
): Promise<Snapshot> {
  const selectors = policy.clouds.map((cloud) => ({ cloud: cloud.name, constraint: cloud.jobs }));
  const gaps: ObservationGap[] = [];
  const clouds: Record<string, CloudView> = {};

  const perCloud = policy.clouds.map(async (cloud) => {
    const provider = sources.providers.get(cloud.name);
    if (provider === undefined) {
      gaps.push({ source: "cloud", cloud: cloud.name, message: "no provider configured" });
      return [];
    }
    const [listed, headroom] = await Promise.allSettled([
      attempt(() => provider.list()),
      attempt(async () => (provider.headroom ? provider.headroom() : undefined)),
    ]);
    const view: CloudView = {};
    if (headroom.status === "fulfilled" && headroom.value !== undefined)
      view.headroom = headroom.value;
    if (headroom.status === "rejected") {
      const error = asProviderError(headroom.reason);
      log.warn(
        { cloud: cloud.name, kind: error.kind },
        `${cloud.name}: quota headroom unknown: ${error.message}`,
      );
    }
    clouds[cloud.name] = view;
    if (listed.status === "rejected") {
      const error = asProviderError(listed.reason);
      gaps.push({
        source: "cloud",
        cloud: cloud.name,
        kind: error.kind,
        message: `list failed (${error.kind}): ${error.message}`,
      });
      return [];
    }
    return listed.value;
  });

  const [jobs, machines, uptime, ...lists] = await Promise.allSettled([
    attempt(() => sources.condor.idleJobs(selectors)),
    attempt(() => sources.condor.machines()),
    attempt(async () => sources.condor.collectorUptime?.()),
    ...perCloud,
  ]);
  if (jobs.status === "rejected") gaps.push({ source: "queue", message: describe(jobs.reason) });
  if (machines.status === "rejected")
    gaps.push({ source: "machines", message: describe(machines.reason) });
  else if (uptime.status === "fulfilled" && uptime.value !== undefined) {
    const warmup = policy.collectorWarmup ?? COLLECTOR_WARMUP;
    if (uptime.value < warmup)
      gaps.push({
        source: "machines",
        message: `the collector started ${Math.round(uptime.value)}s ago: not every startd has sent its ads yet (${warmup}s)`,
      });
  }
  const instances: Instance[] = lists.flatMap((list) =>
    list.status === "fulfilled" ? list.value : [],
  );
  const seen = machines.status === "fulfilled" ? machines.value : [];
  const listed = new Set(
    policy.clouds
      .map((cloud) => cloud.name)
      .filter((name) => !gaps.some((gap) => gap.source === "cloud" && gap.cloud === name)),
  );

  return {
    takenAt: now,
    jobs: jobs.status === "fulfilled" ? jobs.value : [],
    workers: joinWorkers(instances, seen),
    ...(machines.status === "fulfilled"
      ? { orphanAds: orphanAds(instances, seen, policy.pool, listed) }
      : {}),
    clouds,
    gaps,
  };
}
