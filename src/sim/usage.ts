/**
 * What a run used, accounted at the moment each thing happens rather than sampled at ticks: the
 * simulated pool reports every worker's change of state (launched, joined, took its first job,
 * freed its last, left) and every change of the queue at its event time, and the recorder folds
 * them into running totals. Memory stays bounded whatever the length of the run: the totals are
 * a few numbers, and the picture over time is a fixed number of buckets (Timeline).
 */

/** A live worker's state in the simulated truth: booting (stuck ones included), idle, busy. */
export type WorkerState = "booting" | "idle" | "busy";

export interface Usage {
  /** Worker-seconds by state; their sum is every worker's lifetime within the run. */
  seconds: Record<WorkerState, number>;
  /** Σ each worker's cloud's costPerHour × its hours alive. */
  cost: number;
  /** The most workers alive at once for any stretch of time (instants do not count). */
  peakWorkers: number;
}

/**
 * Step functions kept with their extremes: the stacked worker states and the idle jobs (the plot
 * draws the idle jobs; the workers by state come from the integrals).
 */
export const SERIES = ["busy", "busyIdle", "workers", "idleJobs"] as const;
export type Series = (typeof SERIES)[number];

/**
 * The integrals each bucket keeps: worker-seconds by state, cost, and idle-job-seconds. Exact
 * sums, so a bucket's average never lets one state paint over another, and running sums of them
 * end at the report's totals.
 */
export const RATES = ["booting", "idle", "busy", "cost", "idleJobs"] as const;
export type Rate = (typeof RATES)[number];

/** Where a timeline records: [from, to) seconds from the run's start. */
export interface TimeWindow {
  from: number;
  to: number;
}

/** One bucket's integrals: the span it covers within the run and the sums over it. */
export interface Bucket {
  from: number;
  to: number;
  sums: Record<Rate, number>;
}

export interface Point {
  at: number;
  value: number;
}

// One bucket's slot per series: low at, low value, high at, high value.
const SLOT = 4;

/**
 * Step functions over time in at most `buckets` buckets of equal width: each bucket keeps, per
 * series, its lowest and highest value with when they began (the earliest on a tie), so a spike
 * survives however long the run. The width starts at one second and doubles, merging buckets
 * pairwise, whenever a change comes past the last bucket; the length of the run need not be known.
 * Each bucket also keeps the integrals of RATES over it (`hold`). Given a window, only that span
 * of the run is kept, so a week of a months-long run gets all the buckets.
 */
export class Timeline {
  private width = 1;
  private data: Float64Array;
  private readonly used: Uint8Array;
  private readonly sums: Float64Array;
  private last: number[] | undefined;
  /** The largest value each series ever took (for the plot's scales). */
  readonly max = new Float64Array(SERIES.length);
  /** When the first change was recorded; undefined while there is none. */
  first: number | undefined;
  /** The span the integrals cover, once anything was held. */
  held: TimeWindow | undefined;
  readonly origin: number;
  readonly until: number;

  constructor(
    readonly buckets = 1000,
    window?: TimeWindow,
  ) {
    this.data = new Float64Array(buckets * SERIES.length * SLOT);
    this.used = new Uint8Array(buckets);
    this.sums = new Float64Array(buckets * RATES.length);
    this.origin = window?.from ?? 0;
    this.until = window?.to ?? Number.POSITIVE_INFINITY;
  }

  /**
   * The series take `values` and RATES run at `rates` (per second) over [from, to); the part
   * outside the window is dropped. Calls come in time order.
   */
  hold(from: number, to: number, values: readonly number[], rates: readonly number[]): void {
    const start = Math.max(from, this.origin);
    const end = Math.min(to, this.until);
    if (end <= start) return;
    this.record(start, values);
    while (end - this.origin > this.buckets * this.width) this.coarsen();
    this.held = { from: this.held?.from ?? start, to: end };
    const first = Math.floor((start - this.origin) / this.width);
    for (let b = first; b < this.buckets; b += 1) {
      const bucketFrom = this.origin + b * this.width;
      if (bucketFrom >= end) break;
      const span = Math.min(end, bucketFrom + this.width) - Math.max(start, bucketFrom);
      if (span <= 0) continue;
      for (let r = 0; r < RATES.length; r += 1) {
        const o = b * RATES.length + r;
        this.sums[o] = (this.sums[o] ?? 0) + (rates[r] ?? 0) * span;
      }
    }
  }

  /** The buckets that hold anything, in time order, each clipped to the span held. */
  integrals(): Bucket[] {
    const held = this.held;
    if (held === undefined) return [];
    const kept: Bucket[] = [];
    for (let b = 0; b < this.buckets; b += 1) {
      const from = Math.max(held.from, this.origin + b * this.width);
      const to = Math.min(held.to, this.origin + (b + 1) * this.width);
      if (to <= from) continue;
      const sum = (rate: Rate) => this.sums[b * RATES.length + RATES.indexOf(rate)] ?? 0;
      kept.push({
        from,
        to,
        sums: {
          booting: sum("booting"),
          idle: sum("idle"),
          busy: sum("busy"),
          cost: sum("cost"),
          idleJobs: sum("idleJobs"),
        },
      });
    }
    return kept;
  }

  /** The series take `values` (in SERIES order) from `at` on; `at` never goes back. */
  record(at: number, values: readonly number[]): void {
    const last = this.last;
    if (last !== undefined && values.every((value, i) => value === last[i])) return;
    this.last = [...values];
    this.first ??= at;
    let index = Math.floor(Math.max(0, at - this.origin) / this.width);
    while (index >= this.buckets) {
      this.coarsen();
      index = Math.floor(Math.max(0, at - this.origin) / this.width);
    }
    const fresh = this.used[index] === 0;
    this.used[index] = 1;
    for (let s = 0; s < SERIES.length; s += 1) {
      const value = values[s] ?? 0;
      if (value > (this.max[s] ?? 0)) this.max[s] = value;
      const o = (index * SERIES.length + s) * SLOT;
      const d = this.data;
      if (fresh || value < (d[o + 1] ?? 0)) {
        d[o] = at;
        d[o + 1] = value;
      }
      if (fresh || value > (d[o + 3] ?? 0)) {
        d[o + 2] = at;
        d[o + 3] = value;
      }
    }
  }

  /** The kept points of one series, in time order: per bucket its low and high (once if one). */
  points(series: Series): Point[] {
    const s = SERIES.indexOf(series);
    const points: Point[] = [];
    for (let b = 0; b < this.buckets; b += 1) {
      if (this.used[b] === 0) continue;
      const o = (b * SERIES.length + s) * SLOT;
      const low = { at: this.data[o] ?? 0, value: this.data[o + 1] ?? 0 };
      const high = { at: this.data[o + 2] ?? 0, value: this.data[o + 3] ?? 0 };
      if (low.at === high.at && low.value === high.value) points.push(low);
      else if (low.at <= high.at) points.push(low, high);
      else points.push(high, low);
    }
    return points;
  }

  /** Doubles the width: bucket i of the new grid holds old buckets 2i and 2i + 1. */
  private coarsen(): void {
    const stride = SERIES.length * SLOT;
    const d = this.data;
    const r = RATES.length;
    for (let b = 0; b < this.buckets; b += 1) {
      for (let k = 0; k < r; k += 1) {
        const a = 2 * b < this.buckets ? (this.sums[2 * b * r + k] ?? 0) : 0;
        const c = 2 * b + 1 < this.buckets ? (this.sums[(2 * b + 1) * r + k] ?? 0) : 0;
        this.sums[b * r + k] = a + c;
      }
    }
    for (let b = 0; b < this.buckets; b += 1) {
      const a = 2 * b;
      const c = a + 1;
      const usedA = a < this.buckets && this.used[a] === 1;
      const usedC = c < this.buckets && this.used[c] === 1;
      if (!usedA && !usedC) {
        this.used[b] = 0;
        continue;
      }
      for (let s = 0; s < SERIES.length; s += 1) {
        const to = b * stride + s * SLOT;
        const fromA = a * stride + s * SLOT;
        const fromC = c * stride + s * SLOT;
        const base = usedA ? fromA : fromC;
        let lowAt = d[base] ?? 0;
        let lowValue = d[base + 1] ?? 0;
        let highAt = d[base + 2] ?? 0;
        let highValue = d[base + 3] ?? 0;
        if (usedA && usedC) {
          if ((d[fromC + 1] ?? 0) < lowValue) {
            lowAt = d[fromC] ?? 0;
            lowValue = d[fromC + 1] ?? 0;
          }
          if ((d[fromC + 3] ?? 0) > highValue) {
            highAt = d[fromC + 2] ?? 0;
            highValue = d[fromC + 3] ?? 0;
          }
        }
        d[to] = lowAt;
        d[to + 1] = lowValue;
        d[to + 2] = highAt;
        d[to + 3] = highValue;
      }
      this.used[b] = 1;
    }
    this.width *= 2;
  }
}

/**
 * Running totals of a run, fed at event times in time order. Every change takes effect at its
 * `at`: the state before it is counted up to then. Several changes at one instant count as one
 * (a worker terminated and another launched in the same tick never make a peak).
 */
export class UsageRecorder {
  private now: number;
  private readonly counts: Record<WorkerState, number> = { booting: 0, idle: 0, busy: 0 };
  private costPerHour = 0;
  private idleJobs = 0;
  private readonly seconds: Record<WorkerState, number> = { booting: 0, idle: 0, busy: 0 };
  private cost = 0;
  private peak = 0;

  constructor(
    start = 0,
    readonly timeline: Timeline = new Timeline(),
  ) {
    this.now = start;
  }

  /** A worker of a cloud costing `costPerHour` changes state (undefined: not alive). */
  worker(
    at: number,
    from: WorkerState | undefined,
    to: WorkerState | undefined,
    costPerHour: number,
  ): void {
    this.advance(at);
    if (from !== undefined) this.counts[from] -= 1;
    else this.costPerHour += costPerHour;
    if (to !== undefined) this.counts[to] += 1;
    else this.costPerHour -= costPerHour;
  }

  /** The queue holds `count` idle jobs from `at`. */
  queue(at: number, count: number): void {
    this.advance(at);
    this.idleJobs = count;
  }

  /** Everything at once from `at` (replaying a state sampled elsewhere, as the tests do). */
  state(
    at: number,
    counts: Record<WorkerState, number>,
    costPerHour: number,
    idleJobs = this.idleJobs,
  ): void {
    this.advance(at);
    Object.assign(this.counts, counts);
    this.costPerHour = costPerHour;
    this.idleJobs = idleJobs;
  }

  /** Counts the state up to `at` and closes the books. */
  close(at: number): Usage {
    this.advance(at);
    return {
      seconds: { ...this.seconds },
      cost: this.cost,
      peakWorkers: this.peak,
    };
  }

  /** The state held from the last change up to `at` (a change never goes back in time). */
  private advance(at: number): void {
    const span = at - this.now;
    if (span <= 0) return;
    const { booting, idle, busy } = this.counts;
    this.timeline.hold(
      this.now,
      at,
      [busy, busy + idle, busy + idle + booting, this.idleJobs],
      [booting, idle, busy, this.costPerHour / 3600, this.idleJobs],
    );
    this.seconds.booting += booting * span;
    this.seconds.idle += idle * span;
    this.seconds.busy += busy * span;
    this.cost += (this.costPerHour * span) / 3600;
    this.peak = Math.max(this.peak, booting + idle + busy);
    this.now = at;
  }
}
