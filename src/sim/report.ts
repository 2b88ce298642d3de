/**
 * What the simulator tells a person after it ran policies over a trace: a summary per policy
 * (`summarise`), shown side by side (`formatTable`, `formatNotes`) or as JSON (`toJson`), and a
 * progress bar for the long runs that produce them. The picture over time is in plot.ts.
 *
 * Everything here is computed from a `SimRun` alone.
 */
import type { Writable } from "node:stream";
import { shortDuration } from "../config/duration.js";
import { ERROR_KINDS, type ErrorKind } from "../model/errors.js";
import { type SimRun, UNSTARTED_REASONS } from "./run.js";

/** The summary of one run, in the shape issue #8 fixes (plus `unstarted`). */
export interface PolicyReport {
  name: string;
  /** Jobs in the trace. */
  jobs: number;
  /** Jobs that never started before the run ended. */
  unstarted: number;
  /** Why they never started: counts by reason (UNSTARTED_REASONS' texts); absent reasons left out. */
  unstartedBy: Partial<Record<string, number>>;
  /**
   * Seconds from submission to (last) start over every job, by nearest rank: the p-th percentile
   * of n sorted waits is the ⌈p/100 · n⌉-th. A job that never started is censored at the end of the
   * run: it waited at least until then, so a policy that leaves its hardest jobs unstarted cannot
   * look better for it. Null only for a run without jobs.
   */
  wait: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
  /** Which of `wait` fall on a job that never started: those figures are lower bounds. */
  waitCensored: { p50: boolean; p95: boolean; p99: boolean; max: boolean };
  /**
   * Worker-hours by state, three decimals, accounted at the moment each worker changes state
   * (launched, joined, took its first job, freed its last, left). `booting` is from launch to
   * joining the pool, stuck workers included.
   */
  workerHours: { total: number; busy: number; idle: number; booting: number };
  /** Σ each worker's costPerHour × its hours alive, three decimals. */
  cost: number;
  launches: number;
  terminations: number;
  /** Provider errors by kind; kinds that did not occur are absent. */
  errors: Partial<Record<ErrorKind, number>>;
  /** The most workers alive at once, in any state. */
  peakWorkers: number;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The p-th percentile of ascending `sorted` by nearest rank; null when it is empty. */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? null;
}

/**
 * The p-th percentile by nearest rank of the union of two ascending lists, and whether it comes
 * from `censored` (on a tie the uncensored value is taken).
 */
export function censoredRank(
  waits: ArrayLike<number>,
  censored: ArrayLike<number>,
  p: number,
): { value: number; censored: boolean } | null {
  const n = waits.length + censored.length;
  if (n === 0) return null;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  // Binary search for how many of the rank smallest come from `waits`.
  let low = Math.max(0, rank - censored.length);
  let high = Math.min(rank, waits.length);
  while (low < high) {
    const i = (low + high) >> 1;
    // Take i from waits and rank - i from censored: too few from waits if the next wait is
    // no larger than the last censored one taken.
    if (
      (waits[i] ?? Number.POSITIVE_INFINITY) <= (censored[rank - i - 1] ?? Number.NEGATIVE_INFINITY)
    )
      low = i + 1;
    else high = i;
  }
  const fromWaits = low;
  const lastWait =
    fromWaits > 0 ? (waits[fromWaits - 1] ?? Number.NEGATIVE_INFINITY) : Number.NEGATIVE_INFINITY;
  const lastCensored =
    rank - fromWaits > 0
      ? (censored[rank - fromWaits - 1] ?? Number.NEGATIVE_INFINITY)
      : Number.NEGATIVE_INFINITY;
  return lastCensored > lastWait
    ? { value: lastCensored, censored: true }
    : { value: lastWait, censored: false };
}

export function summarise(run: SimRun): PolicyReport {
  let started = 0;
  for (const job of run.jobs) if (job.startedAt !== undefined) started += 1;
  const waits = new Float64Array(started);
  const censored = new Float64Array(run.jobs.length - started);
  const unstartedBy: Partial<Record<string, number>> = {};
  let w = 0;
  let c = 0;
  for (const job of run.jobs) {
    if (job.startedAt !== undefined) waits[w++] = job.startedAt - job.submitAt;
    else {
      censored[c++] = Math.max(0, run.endedAt - job.submitAt);
      const why = UNSTARTED_REASONS[job.unstarted ?? "queued"];
      unstartedBy[why] = (unstartedBy[why] ?? 0) + 1;
    }
  }
  waits.sort();
  censored.sort();
  const at = (p: number) => censoredRank(waits, censored, p);
  const percentiles = { p50: at(50), p95: at(95), p99: at(99), max: at(100) };

  const { seconds, cost, peakWorkers } = run.usage;
  const busy = seconds.busy / 3600;
  const idle = seconds.idle / 3600;
  const booting = seconds.booting / 3600;
  const total = busy + idle + booting;

  const errors: Partial<Record<ErrorKind, number>> = {};
  for (const kind of ERROR_KINDS) {
    const count = run.errors[kind] ?? 0;
    if (count > 0) errors[kind] = count;
  }

  return {
    name: run.name,
    jobs: run.jobs.length,
    unstarted: censored.length,
    unstartedBy,
    wait: {
      p50: percentiles.p50?.value ?? null,
      p95: percentiles.p95?.value ?? null,
      p99: percentiles.p99?.value ?? null,
      max: percentiles.max?.value ?? null,
    },
    waitCensored: {
      p50: percentiles.p50?.censored ?? false,
      p95: percentiles.p95?.censored ?? false,
      p99: percentiles.p99?.censored ?? false,
      max: percentiles.max?.censored ?? false,
    },
    workerHours: {
      total: round3(total),
      busy: round3(busy),
      idle: round3(idle),
      booting: round3(booting),
    },
    cost: round3(cost),
    launches: run.launches,
    terminations: run.terminations,
    errors,
    peakWorkers,
  };
}

/** Seconds to two units at most, the larger first: `45s`, `1m30s`, `2h5m`, `1d3h`; `-` for null. */
export function formatWait(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "-";
  return `${seconds < 0 ? "-" : ""}${shortDuration(Math.abs(seconds))}`;
}

/**
 * The reports side by side: a label column, then one right-aligned column per policy. Error rows
 * are the kinds that occur in any report (one `errors` row of zeros when none do).
 */
export function formatTable(reports: readonly PolicyReport[]): string {
  const hours = (value: number) => value.toFixed(2);
  const bound = (r: PolicyReport, p: keyof PolicyReport["wait"]) =>
    `${r.waitCensored[p] ? ">=" : ""}${formatWait(r.wait[p])}`;
  const rows: Array<[string, (report: PolicyReport) => string]> = [
    ["jobs", (r) => String(r.jobs)],
    ["unstarted", (r) => String(r.unstarted)],
    ["wait p50", (r) => bound(r, "p50")],
    ["wait p95", (r) => bound(r, "p95")],
    ["wait p99", (r) => bound(r, "p99")],
    ["wait max", (r) => bound(r, "max")],
    ["worker-hours total", (r) => hours(r.workerHours.total)],
    ["worker-hours busy", (r) => hours(r.workerHours.busy)],
    ["worker-hours idle", (r) => hours(r.workerHours.idle)],
    ["worker-hours booting", (r) => hours(r.workerHours.booting)],
    ["cost", (r) => r.cost.toFixed(2)],
    ["launches", (r) => String(r.launches)],
    ["terminations", (r) => String(r.terminations)],
  ];
  const kinds = ERROR_KINDS.filter((kind) => reports.some((r) => (r.errors[kind] ?? 0) > 0));
  if (kinds.length === 0) rows.push(["errors", () => "0"]);
  for (const kind of kinds) rows.push([`errors ${kind}`, (r) => String(r.errors[kind] ?? 0)]);
  rows.push(["peak workers", (r) => String(r.peakWorkers)]);

  const cells = [
    ["", ...reports.map((r) => r.name)],
    ...rows.map(([label, value]) => [label, ...reports.map(value)]),
  ];
  const widths = cells[0]?.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? "").length)),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => {
        const width = widths?.[column] ?? 0;
        return column === 0 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join("  ")
      .trimEnd();
  const [header, ...body] = cells;
  const rule = (widths ?? []).map((width) => "-".repeat(width)).join("  ");
  return [line(header ?? []), rule, ...body.map(line)].join("\n");
}

/**
 * Lines for under the table, loudly: why each policy's unstarted jobs never started, and what a
 * `>=` wait means. None when every job started.
 */
export function formatNotes(reports: readonly PolicyReport[]): string[] {
  const notes: string[] = [];
  for (const report of reports) {
    if (report.unstarted === 0) continue;
    const why = Object.entries(report.unstartedBy)
      .map(([reason, count]) => `${count} ${reason}`)
      .join(", ");
    notes.push(
      `${report.name}: ${report.unstarted} job${report.unstarted === 1 ? "" : "s"} never started: ${why}`,
    );
  }
  if (reports.some((r) => Object.values(r.waitCensored).some(Boolean)))
    notes.push(
      ">=: a lower bound: the percentile falls on a job that never started, counted as waiting until the run ended",
    );
  return notes;
}

/** `{"policies": [...]}`, indented two spaces, with a final newline. */
export function toJson(reports: readonly PolicyReport[]): string {
  return `${JSON.stringify({ policies: reports }, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Progress.

export interface ProgressOptions {
  /** Text before the bar, such as the policy's name. */
  label?: string;
  /** Milliseconds now (tests pass their own). */
  now?: () => number;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 30;

/**
 * On a terminal, one line rewritten in place with `\r`, at most every 100 ms. Elsewhere (a log
 * file, CI) a plain line each time another tenth of the work is done, and one at the end, so a
 * long run still shows it is alive without flooding the log.
 */
export class ProgressBar {
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly label: string;
  private last = Number.NEGATIVE_INFINITY;
  private current = 0;
  private drawnLength = 0;
  private finished = false;
  /** Tenths already written when not on a terminal. */
  private tenths = 0;

  constructor(
    private readonly out: Writable & { isTTY?: boolean },
    private readonly total: number,
    options: ProgressOptions = {},
  ) {
    this.tty = out.isTTY === true;
    this.now = options.now ?? Date.now;
    this.label = options.label === undefined ? "" : `${options.label} `;
  }

  /** `done` units of `total` are complete. */
  update(done: number): void {
    if (this.finished) return;
    this.current = done;
    if (!this.tty) {
      const tenths = Math.floor(this.fraction() * 10);
      if (tenths > this.tenths && tenths < 10) {
        this.tenths = tenths;
        this.out.write(`${this.text()}\n`);
      }
      return;
    }
    const now = this.now();
    if (now - this.last < REDRAW_MS) return;
    this.last = now;
    this.draw();
  }

  /** Draws the final state and ends the line. */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.tty) {
      this.out.write(`${this.text()}\n`);
      return;
    }
    this.draw();
    this.out.write("\n");
  }

  private fraction(): number {
    return this.total > 0 ? Math.min(1, Math.max(0, this.current / this.total)) : 1;
  }

  private text(): string {
    const fraction = this.fraction();
    const filled = Math.floor(fraction * BAR_WIDTH);
    return (
      `${this.label}[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ` +
      `${String(Math.floor(fraction * 100)).padStart(3)}% (${this.current}/${this.total})`
    );
  }

  private draw(): void {
    const text = this.text();
    this.out.write(`\r${text.padEnd(this.drawnLength)}`);
    this.drawnLength = text.length;
  }
}
