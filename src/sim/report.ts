/**
 * What the simulator tells a person after it ran policies over a trace: a summary per policy
 * (`summarise`), shown side by side (`formatTable`) or as JSON (`toJson`), a picture of every run
 * over time (`plotSvg`), and a progress bar for the long runs that produce them.
 *
 * Everything here is computed from a `SimRun` alone.
 */
import type { Writable } from "node:stream";
import { shortDuration } from "../config/duration.js";
import { ERROR_KINDS, type ErrorKind } from "../model/errors.js";
import type { SimRun, TickSample } from "./run.js";

/** The summary of one run, in the shape issue #8 fixes (plus `unstarted`). */
export interface PolicyReport {
  name: string;
  /** Jobs in the trace. */
  jobs: number;
  /** Jobs that never started before the run ended; they are left out of `wait`. */
  unstarted: number;
  /**
   * Seconds from submission to (last) start over the jobs that started, by nearest rank: the
   * p-th percentile of n sorted waits is the ⌈p/100 · n⌉-th. Null when no job started.
   */
  wait: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
  /**
   * Worker-hours by state, three decimals. Each sample's counts hold from its `at` to the next
   * sample's (the last one's to the end of the run). `booting` includes `stuck`; `failed` workers
   * count in `total` only.
   */
  workerHours: { total: number; busy: number; idle: number; booting: number };
  /** Σ costPerHour × hours the sample held, three decimals. */
  cost: number;
  launches: number;
  terminations: number;
  /** Provider errors by kind; kinds that did not occur are absent. */
  errors: Partial<Record<ErrorKind, number>>;
  /** The most workers alive at one sample, in any state. */
  peakWorkers: number;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function workerCount(sample: TickSample): number {
  const { booting, stuck, idle, busy, failed } = sample.workers;
  return booting + stuck + idle + busy + failed;
}

/** The p-th percentile of ascending `sorted` by nearest rank; null when it is empty. */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? null;
}

/** Seconds each sample holds: until the next sample, the last until the end of the run. */
function holdSeconds(run: SimRun, index: number): number {
  const sample = run.samples[index];
  if (sample === undefined) return 0;
  const until = run.samples[index + 1]?.at ?? run.endedAt;
  return Math.max(0, until - sample.at);
}

export function summarise(run: SimRun): PolicyReport {
  const waits: number[] = [];
  for (const job of run.jobs) {
    if (job.startedAt !== undefined) waits.push(job.startedAt - job.submitAt);
  }
  waits.sort((a, b) => a - b);

  let total = 0;
  let busy = 0;
  let idle = 0;
  let booting = 0;
  let cost = 0;
  let peakWorkers = 0;
  run.samples.forEach((sample, index) => {
    const hours = holdSeconds(run, index) / 3600;
    const count = workerCount(sample);
    total += count * hours;
    busy += sample.workers.busy * hours;
    idle += sample.workers.idle * hours;
    booting += (sample.workers.booting + sample.workers.stuck) * hours;
    cost += sample.costPerHour * hours;
    peakWorkers = Math.max(peakWorkers, count);
  });

  const errors: Partial<Record<ErrorKind, number>> = {};
  for (const kind of ERROR_KINDS) {
    const count = run.errors[kind] ?? 0;
    if (count > 0) errors[kind] = count;
  }

  return {
    name: run.name,
    jobs: run.jobs.length,
    unstarted: run.jobs.length - waits.length,
    wait: {
      p50: nearestRank(waits, 50),
      p95: nearestRank(waits, 95),
      p99: nearestRank(waits, 99),
      max: waits.at(-1) ?? null,
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
  const rows: Array<[string, (report: PolicyReport) => string]> = [
    ["jobs", (r) => String(r.jobs)],
    ["unstarted", (r) => String(r.unstarted)],
    ["wait p50", (r) => formatWait(r.wait.p50)],
    ["wait p95", (r) => formatWait(r.wait.p95)],
    ["wait p99", (r) => formatWait(r.wait.p99)],
    ["wait max", (r) => formatWait(r.wait.max)],
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

/** `{"policies": [...]}`, indented two spaces, with a final newline. */
export function toJson(reports: readonly PolicyReport[]): string {
  return `${JSON.stringify({ policies: reports }, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// The plot.

export interface PlotOptions {
  /** Width of the picture in pixels (default 1000). */
  width?: number;
  /** Height of one policy's panel in pixels (default 260). */
  panelHeight?: number;
  /** Points per series at most; longer series keep the min and max of each time bucket (2000). */
  maxPoints?: number;
  /** A heading above the panels. */
  title?: string;
  /** The same y scales in every panel, so panels compare at a glance (default true). */
  sharedScale?: boolean;
}

/** Text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

interface Point {
  at: number;
  value: number;
}

/** The points where the step function changes value (the first always). */
function changes(samples: readonly TickSample[], value: (sample: TickSample) => number): Point[] {
  const points: Point[] = [];
  let previous: number | undefined;
  for (const sample of samples) {
    const current = value(sample);
    if (current !== previous) points.push({ at: sample.at, value: current });
    previous = current;
  }
  return points;
}

/**
 * At most `maxPoints` of `points`: when there are more, time [from, to] is cut into maxPoints/2
 * buckets and each keeps its lowest and highest point, in time order, so spikes survive.
 */
export function downsample(
  points: readonly Point[],
  maxPoints: number,
  from: number,
  to: number,
): Point[] {
  if (points.length <= maxPoints) return [...points];
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const span = Math.max(to - from, Number.MIN_VALUE);
  const kept: Point[] = [];
  let bucket = -1;
  let low: Point | undefined;
  let high: Point | undefined;
  const flush = () => {
    if (low === undefined || high === undefined) return;
    if (low === high) kept.push(low);
    else if (low.at <= high.at) kept.push(low, high);
    else kept.push(high, low);
  };
  for (const point of points) {
    const index = Math.min(
      buckets - 1,
      Math.max(0, Math.floor(((point.at - from) / span) * buckets)),
    );
    if (index !== bucket) {
      flush();
      bucket = index;
      low = point;
      high = point;
      continue;
    }
    if (low === undefined || point.value < low.value) low = point;
    if (high === undefined || point.value > high.value) high = point;
  }
  flush();
  return kept;
}

/** A round step giving about `count` ticks up to `max`. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) {
    if (factor * power >= raw) return Math.max(1, factor * power);
  }
  return Math.max(1, 10 * power);
}

/** The top of a y axis: a multiple of its step, at least 1. */
function niceScale(max: number): { top: number; step: number } {
  const step = niceStep(Math.max(1, max), 5);
  return { top: Math.max(step, Math.ceil(max / step) * step), step };
}

const TIME_STEPS = [
  60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600,
  2592000,
];

function timeStep(span: number): number {
  const step = TIME_STEPS.find((candidate) => span / candidate <= 10);
  return step ?? Math.ceil(span / 10 / 2592000) * 2592000;
}

function timeLabel(seconds: number): string {
  return seconds === 0 ? "0" : formatWait(seconds);
}

const LAYERS = [
  // Drawn first to last: each is the area from 0 to the sum of its states and those below it.
  { label: "failed", colour: "#868e96", states: ["busy", "idle", "booting", "stuck", "failed"] },
  { label: "booting/stuck", colour: "#ffa94d", states: ["busy", "idle", "booting", "stuck"] },
  { label: "idle workers", colour: "#74c0fc", states: ["busy", "idle"] },
  { label: "busy workers", colour: "#40c057", states: ["busy"] },
] as const;
const IDLE_JOBS_COLOUR = "#c92a2a";

function fixed(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/** A step path through `points`, the last value held to `endX`. */
function stepPath(points: readonly Point[], x: (at: number) => number, y: (v: number) => number) {
  return points.map((point, index) => {
    const px = fixed(x(point.at));
    const py = fixed(y(point.value));
    return index === 0 ? `M${px} ${py}` : `H${px}V${py}`;
  });
}

/**
 * Every run as a panel, stacked vertically and sharing the time axis: the workers as stacked areas
 * by state (busy, idle, booting+stuck, failed) against the left axis, the idle jobs as a line
 * against the right axis.
 */
export function plotSvg(runs: readonly SimRun[], options: PlotOptions = {}): string {
  const width = options.width ?? 1000;
  const panelHeight = options.panelHeight ?? 260;
  const maxPoints = Math.max(2, options.maxPoints ?? 2000);
  const shared = options.sharedScale ?? true;
  const left = 60;
  const right = 60;
  const top = options.title === undefined ? 0 : 32;
  const plotTop = 34;
  const plotBottom = 36;
  const plotWidth = width - left - right;
  const plotHeight = panelHeight - plotTop - plotBottom;

  const firsts = runs.flatMap((run) => (run.samples[0] === undefined ? [] : [run.samples[0].at]));
  const from = Math.min(0, ...firsts);
  const to = Math.max(from + 1, ...runs.map((run) => run.endedAt));
  const x = (at: number) => left + ((at - from) / (to - from)) * plotWidth;
  const maxOf = (run: SimRun, value: (sample: TickSample) => number) =>
    run.samples.reduce((max, sample) => Math.max(max, value(sample)), 0);
  const workerMax = runs.map((run) => maxOf(run, workerCount));
  const jobMax = runs.map((run) => maxOf(run, (sample) => sample.idleJobs));

  const out: string[] = [];
  const height = top + runs.length * panelHeight;
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  if (options.title !== undefined) {
    out.push(
      `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">` +
        `${escapeXml(options.title)}</text>`,
    );
  }

  const step = timeStep(to - from);
  runs.forEach((run, index) => {
    const y0 = top + index * panelHeight;
    const base = y0 + plotTop + plotHeight;
    const workers = niceScale(shared ? Math.max(0, ...workerMax) : (workerMax[index] ?? 0));
    const jobs = niceScale(shared ? Math.max(0, ...jobMax) : (jobMax[index] ?? 0));
    const yWorkers = (value: number) => base - (value / workers.top) * plotHeight;
    const yJobs = (value: number) => base - (value / jobs.top) * plotHeight;

    out.push(`<g class="panel">`);
    out.push(
      `<text x="${left}" y="${y0 + 20}" font-size="13" font-weight="bold">${escapeXml(run.name)}</text>`,
    );
    // Legend, right-aligned on the title line.
    const legend = [
      ...[...LAYERS].reverse().map((layer) => ({ label: layer.label, colour: layer.colour })),
      { label: "idle jobs (right axis)", colour: IDLE_JOBS_COLOUR },
    ];
    let legendX = width - right;
    for (const entry of [...legend].reverse()) {
      legendX -= entry.label.length * 6 + 22;
      out.push(
        `<rect x="${legendX}" y="${y0 + 11}" width="10" height="10" fill="${entry.colour}"/>` +
          `<text x="${legendX + 14}" y="${y0 + 20}">${escapeXml(entry.label)}</text>`,
      );
    }

    // Grid and axes.
    for (let tick = 0; tick <= workers.top; tick += workers.step) {
      const ty = fixed(yWorkers(tick));
      out.push(
        `<line x1="${left}" y1="${ty}" x2="${left + plotWidth}" y2="${ty}" stroke="#e9ecef"/>` +
          `<text x="${left - 6}" y="${ty}" dy="4" text-anchor="end">${tick}</text>`,
      );
    }
    for (let tick = 0; tick <= jobs.top; tick += jobs.step) {
      out.push(
        `<text x="${left + plotWidth + 6}" y="${fixed(yJobs(tick))}" dy="4" ` +
          `fill="${IDLE_JOBS_COLOUR}">${tick}</text>`,
      );
    }
    for (let tick = Math.ceil(from / step) * step; tick <= to; tick += step) {
      const tx = fixed(x(tick));
      out.push(
        `<line x1="${tx}" y1="${base}" x2="${tx}" y2="${base + 4}" stroke="#495057"/>` +
          `<text x="${tx}" y="${base + 16}" text-anchor="middle">${timeLabel(tick)}</text>`,
      );
    }
    out.push(
      `<text x="${left + plotWidth / 2}" y="${base + 30}" text-anchor="middle">time</text>` +
        `<text transform="translate(14 ${y0 + plotTop + plotHeight / 2}) rotate(-90)" ` +
        `text-anchor="middle">workers</text>` +
        `<text transform="translate(${width - 10} ${y0 + plotTop + plotHeight / 2}) rotate(90)" ` +
        `text-anchor="middle" fill="${IDLE_JOBS_COLOUR}">idle jobs</text>`,
    );

    const endX = fixed(x(run.endedAt));
    if (run.samples.length === 0) {
      out.push(
        `<text x="${left + plotWidth / 2}" y="${y0 + plotTop + plotHeight / 2}" ` +
          `text-anchor="middle" fill="#868e96">no samples</text>`,
      );
    } else {
      for (const layer of LAYERS) {
        const points = downsample(
          changes(run.samples, (sample) =>
            layer.states.reduce((sum, state) => sum + sample.workers[state], 0),
          ),
          maxPoints,
          from,
          to,
        );
        const first = points[0];
        if (first === undefined) continue;
        const path = stepPath(points, x, yWorkers);
        out.push(
          `<path d="M${fixed(x(first.at))} ${base}V${fixed(yWorkers(first.value))}` +
            `${path.slice(1).join("")}H${endX}V${base}Z" fill="${layer.colour}"/>`,
        );
      }
      const idleJobs = downsample(
        changes(run.samples, (sample) => sample.idleJobs),
        maxPoints,
        from,
        to,
      );
      out.push(
        `<path d="${stepPath(idleJobs, x, yJobs).join("")}H${endX}" fill="none" ` +
          `stroke="${IDLE_JOBS_COLOUR}" stroke-width="1.5"/>`,
      );
    }
    out.push(
      `<rect x="${left}" y="${y0 + plotTop}" width="${plotWidth}" height="${plotHeight}" ` +
        `fill="none" stroke="#495057"/>`,
    );
    out.push("</g>");
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
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
 * One line rewritten in place with `\r`, at most every 100 ms, and only on a terminal: when `out`
 * is not a TTY, `update` and `done` write nothing and cost a property read.
 */
export class ProgressBar {
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly label: string;
  private last = Number.NEGATIVE_INFINITY;
  private current = 0;
  private drawnLength = 0;
  private finished = false;

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
    if (!this.tty || this.finished) return;
    this.current = done;
    const now = this.now();
    if (now - this.last < REDRAW_MS) return;
    this.last = now;
    this.draw();
  }

  /** Draws the final state and ends the line. */
  done(): void {
    if (!this.tty || this.finished) return;
    this.finished = true;
    this.draw();
    this.out.write("\n");
  }

  private draw(): void {
    const fraction = this.total > 0 ? Math.min(1, Math.max(0, this.current / this.total)) : 1;
    const filled = Math.floor(fraction * BAR_WIDTH);
    const text =
      `${this.label}[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ` +
      `${String(Math.floor(fraction * 100)).padStart(3)}% (${this.current}/${this.total})`;
    this.out.write(`\r${text.padEnd(this.drawnLength)}`);
    this.drawnLength = text.length;
  }
}
