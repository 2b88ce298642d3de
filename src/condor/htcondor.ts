/** The real pool: condor_q, condor_status and condor_advertise, run without a shell. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Logger from "bunyan";
import type { HTCondorSettings } from "../config/schema.js";
import type { Clock } from "../model/clock.js";
import type { IdleJob, StartdMachine } from "../model/snapshot.js";
import { classAdString, parseClassAds } from "./classads.js";
import { queryTool, runTool, type ToolOptions } from "./exec.js";
import type { CondorPool, JobSelector, RecheckedState, WorkerRef } from "./pool.js";
import { queryIdleJobs } from "./queue.js";
import { groupMachines, STARTD_ATTRIBUTES } from "./startds.js";

/** The default selection of this pool's workers: what our user-data makes them advertise. */
export function defaultWorkerConstraint(pool: string): string {
  return `AutoscalerPool == ${classAdString(pool)}`;
}

/** Matches every ad of these workers: by advertised instance id, else by startd name. */
export function workerConstraint(workers: readonly WorkerRef[]): string {
  const terms = workers.map((worker) => {
    const byId = `AutoscalerInstanceId =?= ${classAdString(worker.instanceId)}`;
    if (worker.startd === undefined) return byId;
    const suffix = `@${worker.startd}`;
    // Slot ads are named slotN@<startd> or slotN_M@<startd>; daemon ads <startd>.
    return `${byId} || Name =?= ${classAdString(worker.startd)} || substr(Name, -${suffix.length}) =?= ${classAdString(suffix)}`;
  });
  return terms.map((term) => `(${term})`).join(" || ");
}

/** Seconds since the collector started, as HTCondor 25 lets a client compute it. */
export const COLLECTOR_UPTIME = "time() - MyCurrentTime + StatsLifetime";

/** The invalidations that remove every ad a worker publishes: command and TargetType. */
export const WITHDRAWN_ADS = [
  ["INVALIDATE_STARTD_ADS", "Machine"],
  ["INVALIDATE_STARTD_ADS", "StartD"],
  ["INVALIDATE_MASTER_ADS", "DaemonMaster"],
] as const;

export class HTCondorPool implements CondorPool {
  private firstSeenIdle = new Map<string, number>();
  private readonly tools: ToolOptions;
  private readonly poolArgs: string[];

  constructor(
    private readonly settings: HTCondorSettings,
    private readonly pool: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    retryDelaySeconds?: number,
  ) {
    this.tools = {
      timeoutSeconds: settings.timeout,
      retries: settings.retries,
      maxOutputBytes: settings.maxOutputMb * 1024 * 1024,
      ...(settings.binDir === undefined ? {} : { binDir: settings.binDir }),
      ...(retryDelaySeconds === undefined ? {} : { retryDelaySeconds }),
    };
    this.poolArgs = settings.collector === undefined ? [] : ["-pool", settings.collector];
  }

  async idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]> {
    const answer = await queryIdleJobs(
      selectors,
      {
        ...(this.settings.collector === undefined ? {} : { collector: this.settings.collector }),
        ...(this.settings.schedds === undefined ? {} : { schedds: this.settings.schedds }),
      },
      this.tools,
    );
    if (answer.skipped.count > 0) {
      this.log.warn(
        { skipped: answer.skipped },
        `condor_q: ${answer.skipped.count} idle jobs skipped, a request HTCondor evaluates to undefined or not a number (e.g. job ${answer.skipped.example ?? "?"})`,
      );
    }
    return answer.jobs;
  }

  /**
   * Slot ads only: `-slots`. (`-startd` answers with the StartD daemon ads in HTCondor >= 23, one
   * per startd, which say nothing about the slots' state.)
   */
  private async slotAds(constraint: string) {
    const args = [
      ...this.poolArgs,
      "-slots",
      "-json",
      "-attributes",
      STARTD_ATTRIBUTES.join(","),
      "-constraint",
      constraint,
    ];
    return queryTool("condor_status", args, this.tools, parseClassAds);
  }

  async machines(): Promise<StartdMachine[]> {
    const ads = await this.slotAds(this.settings.workers ?? defaultWorkerConstraint(this.pool));
    const grouped = groupMachines(ads, this.clock.now(), this.firstSeenIdle);
    this.firstSeenIdle = grouped.firstSeenIdle;
    if (grouped.unattributed > 0) {
      this.log.warn(
        `condor_status: ${grouped.unattributed} slot ads with no Name, Machine or instance id ignored`,
      );
    }
    return grouped.machines;
  }

  async collectorUptime(): Promise<number | undefined> {
    // The collector's ad has no DaemonStartTime; its stats began at its start. time() is
    // evaluated by condor_status here: this head node's clock.
    const out = await runTool(
      "condor_status",
      [...this.poolArgs, "-collector", "-af", COLLECTOR_UPTIME],
      this.tools,
    );
    const uptimes = out
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => Number(line.trim()))
      .filter((value) => Number.isFinite(value) && value >= 0);
    // With several collectors (high availability), the youngest one's view is the partial one.
    return uptimes.length === 0 ? undefined : Math.min(...uptimes);
  }

  async recheck(workers: readonly WorkerRef[]): Promise<Map<string, RecheckedState>> {
    const states = new Map<string, RecheckedState>();
    if (workers.length === 0) return states;
    const ads = await this.slotAds(workerConstraint(workers));
    // Only the state matters here; idle times were judged on the snapshot.
    const { machines } = groupMachines(ads, this.clock.now(), new Map());
    for (const worker of workers) {
      const mine = machines.filter(
        (machine) =>
          machine.instanceId === worker.instanceId ||
          (machine.instanceId === undefined && machine.name === worker.startd),
      );
      states.set(
        worker.instanceId,
        mine.length === 0
          ? "absent"
          : mine.every((machine) => machine.activity === "idle")
            ? "idle"
            : "busy",
      );
    }
    return states;
  }

  async withdraw(workers: readonly WorkerRef[]): Promise<void> {
    if (workers.length === 0) return;
    await this.invalidate(workerConstraint(workers));
  }

  /**
   * Whether this user may withdraw ads, asked without withdrawing any: the same condor_advertise
   * calls with a constraint that matches nothing. The collector refuses them all the same when the
   * user lacks ADVERTISE_STARTD or ADVERTISE_MASTER.
   */
  async probeWithdraw(): Promise<void> {
    await this.invalidate("False");
  }

  private async invalidate(requirements: string): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-invalidate-"));
    try {
      // Slot ads, the StartD daemon ad (HTCondor >= 23: one per startd), then the master's.
      for (const [command, targetType] of WITHDRAWN_ADS) {
        const file = join(dir, `${command}-${targetType}.ad`);
        await writeFile(
          file,
          `MyType = "Query"\nTargetType = "${targetType}"\nRequirements = ${requirements}\n`,
        );
        await runTool("condor_advertise", [...this.poolArgs, command, file], this.tools);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
