/**
 * An in-memory cloud: instances boot after a delay, a quota is enforced, and errors of every kind
 * can be injected in time windows. Used by the demo, the tests, dry runs and the simulator.
 */
import { DEFAULT_SIM_RETRY_AFTER } from "../config/defaults.js";
import type { InjectedFailure, SimulatedProviderSettings } from "../config/schema.js";
import type { Clock } from "../model/clock.js";
import { ProviderError } from "../model/errors.js";
import type { WorkerShape } from "../model/policy.js";
import type { Headroom, Instance } from "../model/snapshot.js";
import type { Random } from "../random.js";
import type { LaunchRequest, LaunchResult, Provider, TerminateResult } from "./provider.js";

/** One simulated instance, with the times the simulated pool needs. */
export interface SimulatedInstance {
  id: string;
  name: string;
  cloud: string;
  address: string;
  shape: WorkerShape;
  launchedAt: number;
  /** When the instance reaches `running`. */
  runningAt: number;
  /** When its startd appears in the collector. */
  joinAt: number;
}

export interface SimulatedCloudOptions {
  pool: string;
  cloud: string;
  shape: WorkerShape;
  settings: SimulatedProviderSettings;
  clock: Clock;
  random: Random;
}

export class SimulatedCloud implements Provider {
  readonly cloud: string;
  private readonly instances = new Map<string, SimulatedInstance>();
  private readonly startedAt: number;
  private serial = 0;
  /** Launches, terminations and reclaims so far (the simulated pool's cue to look again). */
  changes = 0;
  /** Instances the cloud took back, reported once by the next list(). */
  private reclaimed: Instance[] = [];
  private reclaimCheckedAt: number;

  constructor(private readonly options: SimulatedCloudOptions) {
    this.cloud = options.cloud;
    this.startedAt = options.clock.now();
    this.reclaimCheckedAt = this.startedAt;
    for (const existing of options.settings.existing) {
      const launchedAt = this.startedAt - existing.age;
      this.instances.set(existing.id, {
        id: existing.id,
        name: existing.name ?? existing.id,
        cloud: options.cloud,
        address: existing.address ?? "",
        shape: { ...options.shape },
        launchedAt,
        runningAt: launchedAt,
        joinAt: launchedAt,
      });
    }
  }

  /** Instances alive now, for the simulated pool. */
  fleet(): SimulatedInstance[] {
    return [...this.instances.values()];
  }

  /** Spot-style reclaims since the last check, at `preemptionRate` per running instance-hour. */
  private reclaim(now: number): void {
    const rate = this.options.settings.preemptionRate;
    const elapsed = now - this.reclaimCheckedAt;
    this.reclaimCheckedAt = now;
    if (rate <= 0 || elapsed <= 0) return;
    const chance = 1 - Math.exp((-rate * elapsed) / 3600);
    for (const instance of [...this.instances.values()]) {
      if (now < instance.runningAt || this.options.random() >= chance) continue;
      this.instances.delete(instance.id);
      this.changes += 1;
      this.reclaimed.push({
        id: instance.id,
        cloud: instance.cloud,
        name: instance.name,
        status: "gone",
        launchedAt: instance.launchedAt,
        hostname: instance.name,
        fault: { message: "simulated spot instance reclaimed by the cloud", kind: "capacity" },
      });
    }
  }

  async list(): Promise<Instance[]> {
    this.failIfInjected("list", []);
    const now = this.options.clock.now();
    this.reclaim(now);
    const reclaimed = this.reclaimed;
    this.reclaimed = [];
    return [
      ...reclaimed,
      ...this.fleet().map(
        (instance): Instance => ({
          id: instance.id,
          cloud: instance.cloud,
          name: instance.name,
          status: now < instance.runningAt ? "booting" : "running",
          launchedAt: instance.launchedAt,
          ...(instance.address === "" ? {} : { address: instance.address }),
          hostname: instance.name,
          image: "simulated-cernvm",
        }),
      ),
    ];
  }

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    try {
      this.failIfInjected("launch", request.avoid);
    } catch (error) {
      if (error instanceof ProviderError) return { instances: [], error };
      throw error;
    }
    const room = this.room();
    const count = Math.min(request.count, room.workers);
    const now = this.options.clock.now();
    const created: Instance[] = [];
    for (let i = 0; i < count; i += 1) {
      const instance = this.boot(now);
      created.push({
        id: instance.id,
        cloud: instance.cloud,
        name: instance.name,
        status: "booting",
        launchedAt: now,
        address: instance.address,
        hostname: instance.name,
      });
    }
    if (count < request.count) {
      return {
        instances: created,
        error: new ProviderError(
          "quota",
          `Quota exceeded for ${room.limit}: requested ${request.count}, room for ${count}`,
        ),
      };
    }
    return { instances: created };
  }

  async terminate(instanceIds: readonly string[]): Promise<TerminateResult> {
    try {
      this.failIfInjected("terminate", []);
    } catch (error) {
      if (error instanceof ProviderError) return { terminated: [], error };
      throw error;
    }
    for (const id of instanceIds) if (this.instances.delete(id)) this.changes += 1;
    return { terminated: [...instanceIds] };
  }

  async headroom(): Promise<Headroom> {
    if (!this.options.settings.reportsHeadroom) return {};
    const quota = this.options.settings.quota;
    const used = this.used();
    const headroom: Headroom = {};
    if (quota?.instances !== undefined)
      headroom.instances = Math.max(0, quota.instances - used.instances);
    if (quota?.cpus !== undefined) headroom.cpus = Math.max(0, quota.cpus - used.cpus);
    if (quota?.memoryMb !== undefined)
      headroom.memoryMb = Math.max(0, quota.memoryMb - used.memoryMb);
    return headroom;
  }

  private used(): { instances: number; cpus: number; memoryMb: number } {
    const count = this.instances.size;
    const { cpus, memoryMb } = this.options.shape;
    return { instances: count, cpus: count * cpus, memoryMb: count * memoryMb };
  }

  /** How many more workers the quota allows, and which limit binds. */
  private room(): { workers: number; limit: string } {
    const quota = this.options.settings.quota;
    const used = this.used();
    const { cpus, memoryMb } = this.options.shape;
    let room = { workers: Number.POSITIVE_INFINITY, limit: "nothing" };
    const consider = (limit: string, left: number) => {
      if (left < room.workers) room = { workers: Math.max(0, left), limit };
    };
    if (quota?.instances !== undefined) consider("instances", quota.instances - used.instances);
    if (quota?.cpus !== undefined) consider("cores", Math.floor((quota.cpus - used.cpus) / cpus));
    if (quota?.memoryMb !== undefined)
      consider("ram", Math.floor((quota.memoryMb - used.memoryMb) / memoryMb));
    return room;
  }

  private boot(now: number): SimulatedInstance {
    const { settings, random, pool, cloud, shape } = this.options;
    this.serial += 1;
    const short = this.serial.toString(16).padStart(6, "0");
    const bootTime = Math.max(0, settings.bootDelay + (2 * random() - 1) * settings.bootSpread);
    const instance: SimulatedInstance = {
      id: `sim-${cloud}-${short}`,
      name: `${pool}-${cloud}-${short}`,
      cloud,
      address: `10.${(this.serial >> 16) & 255}.${(this.serial >> 8) & 255}.${this.serial & 255}`,
      shape: { ...shape },
      launchedAt: now,
      runningAt: now + bootTime,
      joinAt: now + bootTime + settings.joinDelay,
    };
    this.instances.set(instance.id, instance);
    this.changes += 1;
    return instance;
  }

  /** Throws the first injected failure whose window is open for this operation, if it strikes. */
  private failIfInjected(operation: InjectedFailure["operation"], avoid: readonly string[]): void {
    const elapsed = this.options.clock.now() - this.startedAt;
    for (const failure of this.options.settings.failures) {
      if (failure.operation !== operation) continue;
      if (elapsed < failure.from || (failure.until !== undefined && elapsed >= failure.until))
        continue;
      if (failure.scope !== undefined && avoid.includes(failure.scope)) continue;
      if (this.options.random() >= failure.probability) continue;
      throw new ProviderError(failure.kind, `simulated ${failure.kind} failure of ${operation}`, {
        ...(failure.kind === "throttled"
          ? { retryAfterSeconds: failure.retryAfter ?? DEFAULT_SIM_RETRY_AFTER }
          : {}),
        ...(failure.scope === undefined ? {} : { scope: failure.scope }),
      });
    }
  }
}
