/**
 * The simulator's picture of its runs over time (`plotSvg`): one SVG panel per policy, the
 * workers by state and the idle jobs, drawn from each run's bounded timeline.
 */
import { formatWait } from "./report.js";
import type { SimRun } from "./run.js";
import { type Point, SERIES, type Series } from "./usage.js";

export interface PlotOptions {
  /** Width of the picture in pixels (default 1000). */
  width?: number;
  /** Height of one policy's panel in pixels (default 260). */
  panelHeight?: number;
  /**
   * Points per series at most (2000): the run keeps 1000 time buckets, each with its lowest and
   * highest value; fewer points keep the min and max of coarser buckets.
   */
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
  // Drawn first to last: each is the area from 0 to the sum of its state and those below it.
  { label: "booting/stuck", colour: "#ffa94d", series: "workers" },
  { label: "idle workers", colour: "#74c0fc", series: "busyIdle" },
  { label: "busy workers", colour: "#40c057", series: "busy" },
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
 * by state (busy, idle, booting+stuck) against the left axis, the idle jobs as a line
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

  const firsts = runs.flatMap((run) =>
    run.timeline.first === undefined ? [] : [run.timeline.first],
  );
  const from = Math.min(0, ...firsts);
  const to = Math.max(from + 1, ...runs.map((run) => run.endedAt));
  const x = (at: number) => left + ((at - from) / (to - from)) * plotWidth;
  const maxOf = (run: SimRun, series: Series) => run.timeline.max[SERIES.indexOf(series)] ?? 0;
  const workerMax = runs.map((run) => maxOf(run, "workers"));
  const jobMax = runs.map((run) => maxOf(run, "idleJobs"));

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
    if (run.timeline.first === undefined) {
      out.push(
        `<text x="${left + plotWidth / 2}" y="${y0 + plotTop + plotHeight / 2}" ` +
          `text-anchor="middle" fill="#868e96">no samples</text>`,
      );
    } else {
      for (const layer of LAYERS) {
        const points = downsample(run.timeline.points(layer.series), maxPoints, from, to);
        const first = points[0];
        if (first === undefined) continue;
        const path = stepPath(points, x, yWorkers);
        out.push(
          `<path d="M${fixed(x(first.at))} ${base}V${fixed(yWorkers(first.value))}` +
            `${path.slice(1).join("")}H${endX}V${base}Z" fill="${layer.colour}"/>`,
        );
      }
      const idleJobs = downsample(run.timeline.points("idleJobs"), maxPoints, from, to);
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
