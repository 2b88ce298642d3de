/**
 * A simulated HTCondor pool: jobs are submitted, wait in the queue, are matched to idle room on
 * workers at each negotiation cycle, run for their run time and leave. Workers of the simulated
 * clouds join the collector once booted and contextualised, and leave when terminated (their
 * running jobs go back to the queue, as HTCondor would evict them).
 *
 * Time moves lazily: every query first plays all events up to the clock's now, in time order.
 * Job constraints are not evaluated (that is HTCondor's job): every job is offered to every cloud.
 */
import type { CondorPool, JobSelector } from "../condor/pool.js";
import type { Clock } from "../model/clock.js";
import type { WorkerShape } from "../model/policy.js";
import type { IdleJob, StartdMachine } from "../model/snapshot.js";
import type { SimulatedInstance } from "../providers/simulated.js";
import type { JobSpec } from "./scenarios.js";

/** A source of workers: a simulated cloud's live instances. */
export interface Fleet {
  fleet(): SimulatedInstance[];
}

interface SimJob extends JobSpec {
  id: string;
  state: "future" | "idle" | "running" | "done";
  idleSince: number;
  endsAt: number;
  machine?: SimMachine;
}

interface SimMachine {
  instance: SimulatedInstance;
  free: WorkerShape;
  running: Set<SimJob>;
  idleSince: number;
}

/** Things that happened in the pool, for logs and reports. */
export type PoolEvent =
  | { kind: "submitted"; at: number; jobs: number }
  | { kind: "joined"; at: number; machine: string; cloud: string }
  | { kind: "left"; at: number; machine: string; evicted: number }
  | { kind: "negotiated"; at: number; started: number; idle: number }
  | { kind: "finished"; at: number; jobs: number };

export interface SimulatedPoolOptions {
  pool: string;
  clock: Clock;
  jobs: readonly JobSpec[];
  fleets: readonly Fleet[];
  negotiationInterval: number;
  onEvent?: (event: PoolEvent) => void;
}

export interface PoolCounts {
  future: number;
  idle: number;
  running: number;
  done: number;
  machines: number;
}

export class SimulatedPool implements CondorPool {
  private readonly jobs: SimJob[];
  private readonly machinesById = new Map<string, SimMachine>();
  private readonly startedAt: number;
  private playedTo: number;
  private nextSubmission = 0;
  private nextNegotiation: number;

  constructor(private readonly options: SimulatedPoolOptions) {
    this.startedAt = options.clock.now();
    this.playedTo = this.startedAt;
    this.nextNegotiation = this.startedAt;
    this.jobs = [...options.jobs]
      .sort((a, b) => a.submitAt - b.submitAt)
      .map((spec, index) => ({
        ...spec,
        id: `1.${index}`,
        state: "future",
        idleSince: this.startedAt + spec.submitAt,
        endsAt: Number.POSITIVE_INFINITY,
      }));
    this.submitDue(this.startedAt);
  }

  async idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]> {
    this.advance();
    const clouds = selectors.map((selector) => selector.cloud);
    return this.jobs
      .filter((job) => job.state === "idle")
      .map((job) => ({
        id: job.id,
        idleSince: job.idleSince,
        cpus: job.cpus,
        memoryMb: job.memoryMb,
        gpus: job.gpus,
        owner: "demo",
        clouds,
      }));
  }

  async machines(): Promise<StartdMachine[]> {
    this.advance();
    const now = this.playedTo;
    return [...this.machinesById.values()].map((machine) => ({
      name: machine.instance.name,
      machine: machine.instance.name,
      address: machine.instance.address,
      instanceId: machine.instance.id,
      cloud: machine.instance.cloud,
      pool: this.options.pool,
      activity: machine.running.size > 0 ? "busy" : "idle",
      ...(machine.running.size > 0 ? {} : { idleSeconds: now - machine.idleSince }),
    }));
  }

  counts(): PoolCounts {
    this.advance();
    const counts: PoolCounts = {
      future: 0,
      idle: 0,
      running: 0,
      done: 0,
      machines: this.machinesById.size,
    };
    for (const job of this.jobs) counts[job.state] += 1;
    return counts;
  }

  /** Every job of the workload has run to the end. */
  finished(): boolean {
    const counts = this.counts();
    return counts.future + counts.idle + counts.running === 0;
  }

  /** Plays every event up to the clock's now, in time order. */
  advance(): void {
    const now = this.options.clock.now();
    for (;;) {
      const at = Math.min(
        this.nextCompletion(),
        this.nextJoin(),
        this.nextNegotiation,
        this.nextSubmitAt(),
      );
      if (at > now) break;
      this.finishDue(at);
      this.joinDue(at);
      this.submitDue(at);
      if (this.nextNegotiation <= at) {
        this.negotiate(at);
        this.nextNegotiation = at + this.options.negotiationInterval;
      }
    }
    // Terminations are seen only now; jobs that ended before were done, not evicted.
    this.dropTerminated(now);
    this.playedTo = now;
  }

  private emit(event: PoolEvent): void {
    this.options.onEvent?.(event);
  }

  private nextSubmitAt(): number {
    const job = this.jobs[this.nextSubmission];
    return job === undefined ? Number.POSITIVE_INFINITY : this.startedAt + job.submitAt;
  }

  private nextCompletion(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const machine of this.machinesById.values()) {
      for (const job of machine.running) earliest = Math.min(earliest, job.endsAt);
    }
    return earliest;
  }

  private pendingJoins(): SimulatedInstance[] {
    return this.options.fleets
      .flatMap((fleet) => fleet.fleet())
      .filter((i) => !this.machinesById.has(i.id));
  }

  private nextJoin(): number {
    return Math.min(
      Number.POSITIVE_INFINITY,
      ...this.pendingJoins().map((instance) => instance.joinAt),
    );
  }

  private submitDue(at: number): void {
    let submitted = 0;
    for (
      let job = this.jobs[this.nextSubmission];
      job !== undefined;
      job = this.jobs[this.nextSubmission]
    ) {
      if (this.startedAt + job.submitAt > at) break;
      job.state = "idle";
      this.nextSubmission += 1;
      submitted += 1;
    }
    if (submitted > 0) this.emit({ kind: "submitted", at, jobs: submitted });
  }

  private finishDue(at: number): void {
    let finished = 0;
    for (const machine of this.machinesById.values()) {
      for (const job of machine.running) {
        if (job.endsAt > at) continue;
        this.release(machine, job, at);
        job.state = "done";
        finished += 1;
      }
    }
    if (finished > 0) this.emit({ kind: "finished", at, jobs: finished });
  }

  private joinDue(at: number): void {
    for (const instance of this.pendingJoins()) {
      if (instance.joinAt > at) continue;
      this.machinesById.set(instance.id, {
        instance,
        free: { ...instance.shape },
        running: new Set(),
        idleSince: instance.joinAt,
      });
      this.emit({
        kind: "joined",
        at: instance.joinAt,
        machine: instance.name,
        cloud: instance.cloud,
      });
    }
  }

  /** Machines whose instance was terminated leave; their jobs go back to the queue. */
  private dropTerminated(now: number): void {
    const alive = new Set(this.options.fleets.flatMap((fleet) => fleet.fleet()).map((i) => i.id));
    for (const [id, machine] of this.machinesById) {
      if (alive.has(id)) continue;
      const evicted = [...machine.running];
      for (const job of evicted) {
        this.release(machine, job, now);
        job.state = "idle";
        job.idleSince = now;
      }
      this.machinesById.delete(id);
      this.emit({ kind: "left", at: now, machine: machine.instance.name, evicted: evicted.length });
    }
  }

  private release(machine: SimMachine, job: SimJob, at: number): void {
    machine.running.delete(job);
    machine.free.cpus += job.cpus;
    machine.free.memoryMb += job.memoryMb;
    machine.free.gpus += job.gpus;
    if (machine.running.size === 0) machine.idleSince = at;
    delete job.machine;
    job.endsAt = Number.POSITIVE_INFINITY;
  }

  /** One negotiation cycle: idle jobs, oldest first, onto the first machine with room. */
  private negotiate(at: number): void {
    const machines = [...this.machinesById.values()];
    let started = 0;
    let idle = 0;
    for (const job of this.jobs) {
      if (job.state !== "idle") continue;
      const machine = machines.find(
        (m) =>
          m.free.cpus >= job.cpus && m.free.memoryMb >= job.memoryMb && m.free.gpus >= job.gpus,
      );
      if (machine === undefined) {
        idle += 1;
        continue;
      }
      machine.free.cpus -= job.cpus;
      machine.free.memoryMb -= job.memoryMb;
      machine.free.gpus -= job.gpus;
      machine.running.add(job);
      job.state = "running";
      job.machine = machine;
      job.endsAt = at + job.runtime;
      started += 1;
    }
    if (started > 0) this.emit({ kind: "negotiated", at, started, idle });
  }
}
