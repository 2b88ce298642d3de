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
import type { WorkerState } from "./usage.js";

/** A source of workers: a simulated cloud's live instances. */
export interface Fleet {
  fleet(): SimulatedInstance[];
  /** Counts launches, terminations and reclaims: unchanged means the same fleet. */
  readonly changes: number;
}

/**
 * One job of the workload. A class with every field set from the start (absent ones undefined,
 * never deleted) keeps one compact shape: a spread object literal per job cost about 500 bytes,
 * half a gigabyte for a million-job trace.
 */
class SimJob implements JobSpec {
  readonly submitAt: number;
  readonly runtime: number;
  readonly cpus: number;
  readonly memoryMb: number;
  readonly gpus: number;
  state: "future" | "idle" | "running" | "done" = "future";
  idleSince: number;
  endsAt = Number.POSITIVE_INFINITY;
  startedAt: number | undefined = undefined;
  finishedAt: number | undefined = undefined;
  machine: SimMachine | undefined = undefined;

  constructor(
    spec: JobSpec,
    /** Position in submission order: negotiation takes idle jobs oldest first. */
    readonly index: number,
    start: number,
  ) {
    this.submitAt = spec.submitAt;
    this.runtime = spec.runtime;
    this.cpus = spec.cpus;
    this.memoryMb = spec.memoryMb;
    this.gpus = spec.gpus;
    this.idleSince = start + spec.submitAt;
  }

  /** Made when asked: a million id strings kept for nothing would cost tens of megabytes. */
  get id(): string {
    return `1.${this.index}`;
  }
}

/** Running jobs by end time; entries of jobs evicted since are skipped when they surface. */
class Completions {
  private readonly heap: Array<{ at: number; job: SimJob }> = [];

  push(job: SimJob): void {
    const heap = this.heap;
    heap.push({ at: job.endsAt, job });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent];
      const here = heap[i];
      if (above === undefined || here === undefined || above.at <= here.at) break;
      heap[parent] = here;
      heap[i] = above;
      i = parent;
    }
  }

  /** The earliest end of a job still running, dropping stale entries. */
  peek(): { at: number; job: SimJob } | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      if (top.job.state === "running" && top.job.endsAt === top.at) return top;
      this.pop();
    }
  }

  pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if ((heap[left]?.at ?? Number.POSITIVE_INFINITY) < (heap[smallest]?.at ?? 0)) smallest = left;
      if ((heap[right]?.at ?? Number.POSITIVE_INFINITY) < (heap[smallest]?.at ?? 0))
        smallest = right;
      if (smallest === i) return;
      const a = heap[i];
      const b = heap[smallest];
      if (a === undefined || b === undefined) return;
      heap[i] = b;
      heap[smallest] = a;
      i = smallest;
    }
  }
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

/** Told of every change at the moment it happens, in time order (the simulator's accounting). */
export interface PoolObserver {
  /** A worker changes state; undefined `from`: launched, undefined `to`: gone. */
  worker(
    at: number,
    instance: SimulatedInstance,
    from: WorkerState | undefined,
    to: WorkerState | undefined,
  ): void;
  /** The queue holds `idle` idle jobs from `at`. */
  queue(at: number, idle: number): void;
}

export interface SimulatedPoolOptions {
  pool: string;
  clock: Clock;
  jobs: readonly JobSpec[];
  fleets: readonly Fleet[];
  negotiationInterval: number;
  onEvent?: (event: PoolEvent) => void;
  observer?: PoolObserver;
}

/** A job's resources and run time, as an oracle sees it. */
export interface JobShape {
  cpus: number;
  memoryMb: number;
  gpus: number;
  runtime: number;
}

/**
 * The simulated world's truth, for an oracle baseline (clairvoyant): what runs where and until
 * when, which instances join when, and every job still to come. Times are the clock's.
 */
export interface PoolTruth {
  /** Joined workers, in the order negotiation offers them, with their free room and jobs. */
  machinesNow(): Array<{
    id: string;
    cloud: string;
    free: WorkerShape;
    running: Array<{ cpus: number; memoryMb: number; gpus: number; endsAt: number }>;
  }>;
  /** Launched instances not in the pool yet, with when they will join. */
  joining(): Array<{ id: string; cloud: string; shape: WorkerShape; joinAt: number }>;
  /** Up to `limit` idle jobs, oldest first: the order negotiation takes them in. */
  idleNow(limit: number): JobShape[];
  /** Jobs submitted after now and no later than `until`, in submission order. */
  arrivals(until: number): Array<JobShape & { at: number }>;
  /** When the first job submitted after `after` is; infinity when none is. */
  nextArrivalAfter(after: number): number;
}

export interface PoolCounts {
  future: number;
  idle: number;
  running: number;
  done: number;
  machines: number;
}

export class SimulatedPool implements CondorPool, PoolTruth {
  private readonly jobs: SimJob[];
  private readonly idle = new Set<SimJob>();
  private readonly completions = new Completions();
  private readonly stateCounts = { future: 0, idle: 0, running: 0, done: 0 };
  private readonly machinesById = new Map<string, SimMachine>();
  /** Every live instance of the fleets seen so far, joined or not, with its state. */
  private readonly known = new Map<string, { instance: SimulatedInstance; state: WorkerState }>();
  private reportedIdle = -1;
  private readonly startedAt: number;
  private playedTo: number;
  private nextSubmission = 0;
  private nextNegotiation: number;
  private fleetChanges = -1;

  constructor(private readonly options: SimulatedPoolOptions) {
    this.startedAt = options.clock.now();
    this.playedTo = this.startedAt;
    this.nextNegotiation = this.startedAt;
    this.jobs = [...options.jobs]
      .sort((a, b) => a.submitAt - b.submitAt)
      .map((spec, index) => new SimJob(spec, index, this.startedAt));
    this.stateCounts.future = this.jobs.length;
    this.submitDue(this.startedAt);
  }

  async idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]> {
    this.advance();
    const clouds = selectors.map((selector) => selector.cloud);
    return [...this.idle]
      .sort((a, b) => a.index - b.index)
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
    return { ...this.stateCounts, machines: this.machinesById.size };
  }

  /** Every job of the workload has run to the end. */
  finished(): boolean {
    const counts = this.counts();
    return counts.future + counts.idle + counts.running === 0;
  }

  /**
   * When the pool next changes by itself (a submission, a completion, a worker joining, or a
   * negotiation cycle while jobs wait), as the clock reads; infinity when never.
   */
  nextEventAt(): number {
    this.advance();
    return Math.min(
      this.nextCompletion(),
      this.nextJoin(),
      this.nextSubmitAt(),
      this.couldMatch() ? this.nextNegotiation : Number.POSITIVE_INFINITY,
    );
  }

  /** Whether each joined worker (by instance id) runs a job now. */
  activity(): Map<string, "busy" | "idle"> {
    this.advance();
    const activity = new Map<string, "busy" | "idle">();
    for (const [id, machine] of this.machinesById)
      activity.set(id, machine.running.size > 0 ? "busy" : "idle");
    return activity;
  }

  machinesNow(): ReturnType<PoolTruth["machinesNow"]> {
    this.advance();
    return [...this.machinesById.values()].map((machine) => ({
      id: machine.instance.id,
      cloud: machine.instance.cloud,
      free: { ...machine.free },
      running: [...machine.running].map((job) => ({
        cpus: job.cpus,
        memoryMb: job.memoryMb,
        gpus: job.gpus,
        endsAt: job.endsAt,
      })),
    }));
  }

  joining(): ReturnType<PoolTruth["joining"]> {
    this.advance();
    return this.pendingJoins()
      .map((instance) => ({
        id: instance.id,
        cloud: instance.cloud,
        shape: { ...instance.shape },
        joinAt: instance.joinAt,
      }))
      .sort((a, b) => a.joinAt - b.joinAt || a.id.localeCompare(b.id));
  }

  idleNow(limit: number): JobShape[] {
    this.advance();
    return [...this.idle]
      .sort((a, b) => a.index - b.index)
      .slice(0, limit)
      .map(({ cpus, memoryMb, gpus, runtime }) => ({ cpus, memoryMb, gpus, runtime }));
  }

  arrivals(until: number): Array<JobShape & { at: number }> {
    this.advance();
    const found: Array<JobShape & { at: number }> = [];
    for (let i = this.nextSubmission; i < this.jobs.length; i += 1) {
      const job = this.jobs[i];
      if (job === undefined || this.startedAt + job.submitAt > until) break;
      const { cpus, memoryMb, gpus, runtime } = job;
      found.push({ at: this.startedAt + job.submitAt, cpus, memoryMb, gpus, runtime });
    }
    return found;
  }

  nextArrivalAfter(after: number): number {
    this.advance();
    // Binary search among the jobs still to come (sorted by submission).
    let low = this.nextSubmission;
    let high = this.jobs.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      const job = this.jobs[mid];
      if (job !== undefined && this.startedAt + job.submitAt <= after) low = mid + 1;
      else high = mid;
    }
    const job = this.jobs[low];
    return job === undefined ? Number.POSITIVE_INFINITY : this.startedAt + job.submitAt;
  }

  /** Some idle job fits the free room of some machine: the next negotiation would start it. */
  private couldMatch(): boolean {
    if (this.idle.size === 0) return false;
    for (const machine of this.machinesById.values()) {
      const free = machine.free;
      for (const job of this.idle)
        if (free.cpus >= job.cpus && free.memoryMb >= job.memoryMb && free.gpus >= job.gpus)
          return true;
    }
    return false;
  }

  /**
   * Every job's fate so far, in seconds from the start of the run, in submission order; one that
   * never started says why (`unfit` tells a job no worker can hold).
   */
  outcomes(unfit: (job: JobSpec) => boolean = () => false): Array<{
    submitAt: number;
    startedAt?: number;
    finishedAt?: number;
    cpus: number;
    unstarted?: "unfit" | "queued";
  }> {
    this.advance();
    const from = this.startedAt;
    return this.jobs.map((job) => ({
      submitAt: job.submitAt,
      ...(job.startedAt === undefined ? {} : { startedAt: job.startedAt - from }),
      ...(job.finishedAt === undefined ? {} : { finishedAt: job.finishedAt - from }),
      cpus: job.cpus,
      ...(job.startedAt !== undefined ? {} : { unstarted: unfit(job) ? "unfit" : "queued" }),
    }));
  }

  private setState(job: SimJob, state: SimJob["state"]): void {
    this.stateCounts[job.state] -= 1;
    this.stateCounts[state] += 1;
    if (job.state === "idle") this.idle.delete(job);
    if (state === "idle") this.idle.add(job);
    job.state = state;
  }

  /** Plays every event up to the clock's now, in time order. */
  advance(): void {
    const now = this.options.clock.now();
    // Asked again at the same moment with the same fleets (every query of a tick): nothing to do.
    const changes = this.options.fleets.reduce((sum, f) => sum + f.changes, 0);
    if (now === this.playedTo && changes === this.fleetChanges) return;
    this.fleetChanges = changes;
    // The clouds change only between calls (launch, terminate): one look at them serves the loop.
    const fleet = this.options.fleets.flatMap((f) => f.fleet());
    for (const instance of fleet) {
      if (this.known.has(instance.id)) continue;
      this.known.set(instance.id, { instance, state: "booting" });
      // Launched at the tick that has just queried the pool, so never before what was played.
      this.options.observer?.worker(
        Math.max(instance.launchedAt, this.playedTo),
        instance,
        undefined,
        "booting",
      );
    }
    const pending = fleet
      .filter((instance) => !this.machinesById.has(instance.id))
      .sort((a, b) => a.joinAt - b.joinAt);
    let joined = 0;
    for (;;) {
      const at = Math.min(
        this.nextCompletion(),
        pending[joined]?.joinAt ?? Number.POSITIVE_INFINITY,
        this.nextNegotiation,
        this.nextSubmitAt(),
      );
      if (at > now) break;
      this.finishDue(at);
      for (let next = pending[joined]; next !== undefined && next.joinAt <= at; ) {
        this.join(next);
        joined += 1;
        next = pending[joined];
      }
      this.submitDue(at);
      if (this.nextNegotiation <= at) {
        this.negotiate(at);
        this.nextNegotiation = at + this.options.negotiationInterval;
      }
      this.reportQueue(at);
    }
    // Terminations are seen only now; jobs that ended before were done, not evicted.
    this.dropTerminated(now, new Set(fleet.map((instance) => instance.id)));
    this.reportQueue(now);
    this.playedTo = now;
  }

  private reportQueue(at: number): void {
    if (this.stateCounts.idle === this.reportedIdle) return;
    this.reportedIdle = this.stateCounts.idle;
    this.options.observer?.queue(at, this.reportedIdle);
  }

  /** Tells the observer of a worker's new state. */
  private become(at: number, instance: SimulatedInstance, to: WorkerState | undefined): void {
    const known = this.known.get(instance.id);
    if (known === undefined || known.state === to) return;
    this.options.observer?.worker(at, instance, known.state, to);
    if (to === undefined) this.known.delete(instance.id);
    else known.state = to;
  }

  private emit(event: PoolEvent): void {
    this.options.onEvent?.(event);
  }

  private nextSubmitAt(): number {
    const job = this.jobs[this.nextSubmission];
    return job === undefined ? Number.POSITIVE_INFINITY : this.startedAt + job.submitAt;
  }

  private nextCompletion(): number {
    return this.completions.peek()?.at ?? Number.POSITIVE_INFINITY;
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
      this.setState(job, "idle");
      this.nextSubmission += 1;
      submitted += 1;
    }
    if (submitted > 0) this.emit({ kind: "submitted", at, jobs: submitted });
  }

  private finishDue(at: number): void {
    let finished = 0;
    for (let next = this.completions.peek(); next !== undefined && next.at <= at; ) {
      const { job } = next;
      this.completions.pop();
      if (job.machine !== undefined) this.release(job.machine, job, next.at);
      job.finishedAt = next.at;
      this.setState(job, "done");
      finished += 1;
      next = this.completions.peek();
    }
    if (finished > 0) this.emit({ kind: "finished", at, jobs: finished });
  }

  private join(instance: SimulatedInstance): void {
    this.become(instance.joinAt, instance, "idle");
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

  /** Machines whose instance was terminated leave; their jobs go back to the queue. */
  private dropTerminated(now: number, alive: ReadonlySet<string>): void {
    for (const [id, { instance }] of this.known)
      if (!alive.has(id) && !this.machinesById.has(id)) this.become(now, instance, undefined);
    for (const [id, machine] of this.machinesById) {
      if (alive.has(id)) continue;
      const evicted = [...machine.running];
      for (const job of evicted) {
        this.release(machine, job, now);
        this.setState(job, "idle");
        job.idleSince = now;
        job.startedAt = undefined;
      }
      this.machinesById.delete(id);
      this.become(now, machine.instance, undefined);
      this.emit({ kind: "left", at: now, machine: machine.instance.name, evicted: evicted.length });
    }
  }

  private release(machine: SimMachine, job: SimJob, at: number): void {
    machine.running.delete(job);
    machine.free.cpus += job.cpus;
    machine.free.memoryMb += job.memoryMb;
    machine.free.gpus += job.gpus;
    if (machine.running.size === 0) {
      machine.idleSince = at;
      this.become(at, machine.instance, "idle");
    }
    job.machine = undefined;
    job.endsAt = Number.POSITIVE_INFINITY;
  }

  /** One negotiation cycle: idle jobs, oldest first, onto the first machine with room. */
  private negotiate(at: number): void {
    const machines = [...this.machinesById.values()];
    let started = 0;
    let idle = 0;
    if (machines.length === 0) return;
    const waiting = [...this.idle].sort((a, b) => a.index - b.index);
    for (const job of waiting) {
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
      if (machine.running.size === 1) this.become(at, machine.instance, "busy");
      this.setState(job, "running");
      job.machine = machine;
      job.endsAt = at + job.runtime;
      job.startedAt = at;
      this.completions.push(job);
      started += 1;
    }
    if (started > 0) this.emit({ kind: "negotiated", at, started, idle });
  }
}
