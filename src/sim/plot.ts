/**
 * The simulator's picture of its runs (`plotSvg`), for choosing a policy at any trace length:
 * the wasted worker-hours and cost adding up over time, one line per policy on one axis; the
 * wait CDF; then a panel per policy with its workers by state and idle jobs, headed with its
 * figures from the report. Everything is drawn from each run's bounded timeline and its jobs.
 */
import { formatWait, type PolicyReport, summarise } from "./report.js";
import type { SimRun } from "./run.js";
import type { Bucket, Point, TimeWindow } from "./usage.js";

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
  /** Only this span of the runs in the time panels (seconds from the start); default all. */
  window?: TimeWindow;
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
  { label: "booting/stuck", colour: "#ffa94d", key: "booting" },
  { label: "idle workers", colour: "#74c0fc", key: "idle" },
  { label: "busy workers", colour: "#40c057", key: "busy" },
] as const;
const IDLE_JOBS_COLOUR = "#c92a2a";
/** One colour per policy, the same in every panel. */
const PALETTE = [
  "#1c7ed6",
  "#e8590c",
  "#2f9e44",
  "#ae3ec9",
  "#f08c00",
  "#0c8599",
  "#c2255c",
  "#5c940d",
];
/** The wait CDF's bins: ten per decade from 1 s to 10^9 s (30 years), whatever the jobs. */
const BINS_PER_DECADE = 10;
const DECADES = 9;
const WAIT_TICKS = [1, 10, 60, 600, 3600, 21600, 86400, 604800, 2592000, 31536000];

function fixed(value: number): string {
  return String(Math.round(value * 10) / 10);
}

function colourOf(index: number): string {
  return PALETTE[index % PALETTE.length] ?? "#495057";
}

/** A step path through `points`, the last value held to `endX`. */
function stepPath(points: readonly Point[], x: (at: number) => number, y: (v: number) => number) {
  return points.map((point, index) => {
    const px = fixed(x(point.at));
    const py = fixed(y(point.value));
    return index === 0 ? `M${px} ${py}` : `H${px}V${py}`;
  });
}

/** The buckets within [from, to], a bucket cut by an edge keeping its share of the sums. */
export function clipBuckets(buckets: readonly Bucket[], from: number, to: number): Bucket[] {
  const kept: Bucket[] = [];
  for (const bucket of buckets) {
    const start = Math.max(from, bucket.from);
    const end = Math.min(to, bucket.to);
    if (end <= start) continue;
    const share = (end - start) / (bucket.to - bucket.from);
    const s = bucket.sums;
    kept.push({
      from: start,
      to: end,
      sums: {
        booting: s.booting * share,
        idle: s.idle * share,
        busy: s.busy * share,
        cost: s.cost * share,
        idleJobs: s.idleJobs * share,
      },
    });
  }
  return kept;
}

/**
 * Fraction of all jobs started within each bin's upper edge (10^(i/10) s), from a fixed histogram,
 * so the memory is the bins', whatever the number of jobs. Jobs never started are in the total
 * but in no bin: they are censored, and the curve ends below 1 by their share.
 */
export function waitCdf(run: SimRun): number[] {
  const bins = new Uint32Array(DECADES * BINS_PER_DECADE + 1);
  for (const job of run.jobs) {
    if (job.startedAt === undefined) continue;
    const wait = job.startedAt - job.submitAt;
    const index = wait <= 1 ? 0 : Math.ceil(BINS_PER_DECADE * Math.log10(wait) - 1e-9); // 10 s is in bin 10
    const bin = Math.min(bins.length - 1, index);
    bins[bin] = (bins[bin] ?? 0) + 1;
  }
  const cdf: number[] = [];
  let started = 0;
  for (const count of bins) {
    started += count;
    cdf.push(run.jobs.length === 0 ? 0 : started / run.jobs.length);
  }
  return cdf;
}

/** Labels at the right edge at their lines' heights, pushed apart so none overlaps another. */
function endLabels(
  labels: Array<{ y: number; text: string; colour: string }>,
  x: number,
  top: number,
  bottom: number,
): string[] {
  const gap = 12;
  const sorted = [...labels].sort((a, b) => a.y - b.y || a.text.localeCompare(b.text));
  const ys = sorted.map((label) => label.y);
  for (let i = 1; i < ys.length; i += 1) ys[i] = Math.max(ys[i] ?? 0, (ys[i - 1] ?? 0) + gap);
  // Those pushed below the panel come back up, keeping their gaps.
  const last = ys.length - 1;
  if (last >= 0 && (ys[last] ?? 0) > bottom) {
    ys[last] = bottom;
    for (let i = last - 1; i >= 0; i -= 1) ys[i] = Math.min(ys[i] ?? 0, (ys[i + 1] ?? 0) - gap);
  }
  return sorted.map(
    (label, i) =>
      `<text class="end-label" x="${x}" y="${fixed(Math.max(top, ys[i] ?? 0))}" dy="4" ` +
      `fill="${label.colour}">${escapeXml(label.text)}</text>`,
  );
}

/** How the table writes a percentile: `>=` when it falls on a job that never started. */
function waitText(report: PolicyReport, p: keyof PolicyReport["wait"]): string {
  return `${report.waitCensored[p] ? ">=" : ""}${formatWait(report.wait[p])}`;
}

/** A policy's figures as the report's table prints them. */
export function headline(report: PolicyReport): string {
  const h = report.workerHours;
  return (
    `${h.total.toFixed(2)} worker-h (idle ${h.idle.toFixed(2)}, booting ${h.booting.toFixed(2)})` +
    ` · cost ${report.cost.toFixed(2)} · wait p95 ${waitText(report, "p95")}` +
    ` · ${report.unstarted} unstarted`
  );
}

/**
 * The picture, top to bottom: the cumulative waste and cost of every policy on one axis, the
 * wait CDF of every policy, then one panel per policy with its workers by state (each bucket's
 * average, stacked: an idle hour is drawn as large as it is, never painted over by a busy peak)
 * and its idle jobs. With a window, the time panels show that span only.
 */
export function plotSvg(runs: readonly SimRun[], options: PlotOptions = {}): string {
  const width = options.width ?? 1000;
  const panelHeight = options.panelHeight ?? 260;
  const maxPoints = Math.max(2, options.maxPoints ?? 2000);
  const shared = options.sharedScale ?? true;
  const window = options.window;
  const left = 60;
  const right = 230;
  const plotTop = 44;
  const plotBottom = 36;
  const plotWidth = width - left - right;
  const plotHeight = panelHeight - plotTop - plotBottom;
  const plotRight = left + plotWidth;
  const labelX = plotRight + 46;
  const reports = runs.map(summarise);

  const from = window?.from ?? 0;
  const to = window?.to ?? Math.max(from + 1, ...runs.map((run) => run.endedAt));
  const x = (at: number) => left + ((at - from) / (to - from)) * plotWidth;
  const within = window === undefined ? "" : ` within ${timeLabel(from)}–${timeLabel(to)}`;
  const buckets = runs.map((run) =>
    clipBuckets(run.timeline.integrals(), from, Math.min(to, run.endedAt)),
  );

  const out: string[] = [];
  const titleHeight = options.title === undefined ? 0 : 32;
  const height = titleHeight + (runs.length + 2) * panelHeight;
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  if (options.title !== undefined) {
    const title = `${options.title}${window === undefined ? "" : ` (time panels${within})`}`;
    out.push(
      `<text class="title" x="${width / 2}" y="22" text-anchor="middle" font-size="16" ` +
        `font-weight="bold">${escapeXml(title)}</text>`,
    );
  }

  const heading = (y0: number, text: string) =>
    out.push(
      `<text class="heading" x="${left}" y="${y0 + 18}" font-size="13" font-weight="bold">` +
        `${escapeXml(text)}</text>`,
    );
  const frame = (y0: number) =>
    out.push(
      `<rect x="${left}" y="${y0 + plotTop}" width="${plotWidth}" height="${plotHeight}" ` +
        `fill="none" stroke="#495057"/>`,
    );
  const yGrid = (
    scale: { top: number; step: number },
    y: (value: number) => number,
    format: (value: number) => string = String,
  ) => {
    for (let tick = 0; tick <= scale.top + 1e-9; tick += scale.step) {
      const ty = fixed(y(tick));
      out.push(
        `<line x1="${left}" y1="${ty}" x2="${plotRight}" y2="${ty}" stroke="#e9ecef"/>` +
          `<text x="${left - 6}" y="${ty}" dy="4" text-anchor="end">${format(tick)}</text>`,
      );
    }
  };
  const timeAxis = (y0: number) => {
    const base = y0 + plotTop + plotHeight;
    const step = timeStep(to - from);
    for (let tick = Math.ceil(from / step) * step; tick <= to; tick += step) {
      const tx = fixed(x(tick));
      out.push(
        `<line x1="${tx}" y1="${base}" x2="${tx}" y2="${base + 4}" stroke="#495057"/>` +
          `<text class="time-tick" x="${tx}" y="${base + 16}" text-anchor="middle">` +
          `${timeLabel(tick)}</text>`,
      );
    }
    out.push(
      `<text x="${left + plotWidth / 2}" y="${base + 30}" text-anchor="middle">` +
        `time since the start of the run</text>`,
    );
  };
  const sideLabel = (y0: number, text: string, side: "left" | "right", colour = "#000000") => {
    const middle = y0 + plotTop + plotHeight / 2;
    out.push(
      side === "left"
        ? `<text transform="translate(14 ${middle}) rotate(-90)" text-anchor="middle" ` +
            `fill="${colour}">${escapeXml(text)}</text>`
        : `<text transform="translate(${plotRight + 40} ${middle}) rotate(90)" ` +
            `text-anchor="middle" fill="${colour}">${escapeXml(text)}</text>`,
    );
  };

  // Panel 1: what each policy wasted and cost, adding up: the gap between lines is the choice.
  {
    const y0 = titleHeight;
    const base = y0 + plotTop + plotHeight;
    const series = buckets.map((list) => {
      const waste: Point[] = [];
      const cost: Point[] = [];
      let wasted = 0;
      let spent = 0;
      const first = list[0];
      if (first !== undefined) {
        waste.push({ at: first.from, value: 0 });
        cost.push({ at: first.from, value: 0 });
      }
      for (const bucket of list) {
        wasted += (bucket.sums.idle + bucket.sums.booting) / 3600;
        spent += bucket.sums.cost;
        waste.push({ at: bucket.to, value: wasted });
        cost.push({ at: bucket.to, value: spent });
      }
      return { waste, cost, wasted, spent };
    });
    const hours = niceScale(Math.max(0, ...series.map((s) => s.wasted)));
    const anyCost = series.some((s) => s.spent > 0);
    const money = niceScale(Math.max(0, ...series.map((s) => s.spent)));
    const yHours = (value: number) => base - (value / hours.top) * plotHeight;
    const yMoney = (value: number) => base - (value / money.top) * plotHeight;
    out.push(`<g class="cumulative">`);
    heading(
      y0,
      `wasted worker-hours (idle + booting, solid)${anyCost ? " and cost (dashed, right axis)" : ""}, adding up${within}`,
    );
    yGrid(hours, yHours);
    if (anyCost)
      for (let tick = 0; tick <= money.top + 1e-9; tick += money.step)
        out.push(
          `<text x="${plotRight + 6}" y="${fixed(yMoney(tick))}" dy="4">` +
            `${Number(tick.toFixed(6))}</text>`,
        );
    timeAxis(y0);
    sideLabel(y0, "wasted worker-hours", "left");
    if (anyCost) sideLabel(y0, "cost", "right");
    const labels: Array<{ y: number; text: string; colour: string }> = [];
    series.forEach((s, index) => {
      const name = runs[index]?.name ?? "";
      const colour = colourOf(index);
      const line = (points: readonly Point[], y: (v: number) => number) =>
        points.map((point) => `${fixed(x(point.at))},${fixed(y(point.value))}`).join(" ");
      if (s.waste.length === 0) return;
      out.push(
        `<polyline class="cumulative-waste" data-policy="${escapeXml(name)}" ` +
          `points="${line(s.waste, yHours)}" fill="none" stroke="${colour}" stroke-width="2"/>`,
      );
      labels.push({ y: yHours(s.wasted), text: `${name}: ${s.wasted.toFixed(2)} h`, colour });
      if (!anyCost) return;
      out.push(
        `<polyline class="cumulative-cost" data-policy="${escapeXml(name)}" ` +
          `points="${line(s.cost, yMoney)}" fill="none" stroke="${colour}" stroke-width="1.5" ` +
          `stroke-dasharray="6 3"/>`,
      );
      labels.push({ y: yMoney(s.spent), text: `${name}: cost ${s.spent.toFixed(2)}`, colour });
    });
    out.push(...endLabels(labels, labelX, y0 + plotTop, base));
    frame(y0);
    out.push("</g>");
  }

  // Panel 2: how long jobs waited, every job of the whole run (a window would cut jobs in two).
  {
    const y0 = titleHeight + panelHeight;
    const base = y0 + plotTop + plotHeight;
    const cdfs = runs.map(waitCdf);
    let longest = 0;
    for (const run of runs)
      for (const job of run.jobs)
        if (job.startedAt !== undefined) longest = Math.max(longest, job.startedAt - job.submitAt);
    const decades = Math.min(DECADES, Math.max(1, Math.ceil(Math.log10(Math.max(10, longest)))));
    const shown = decades * BINS_PER_DECADE;
    const xWait = (bin: number) => left + (bin / shown) * plotWidth;
    const yFraction = (fraction: number) => base - fraction * plotHeight;
    out.push(`<g class="waits">`);
    heading(
      y0,
      "jobs started within a wait (whole run; a job never started keeps its line below 100%)",
    );
    yGrid({ top: 1, step: 0.25 }, yFraction, (value) => `${Math.round(value * 100)}%`);
    for (const [fraction, label] of [
      [0.5, "p50"],
      [0.95, "p95"],
    ] as const)
      out.push(
        `<line x1="${left}" y1="${fixed(yFraction(fraction))}" x2="${plotRight}" ` +
          `y2="${fixed(yFraction(fraction))}" stroke="#adb5bd" stroke-dasharray="2 3"/>` +
          `<text x="${plotRight - 4}" y="${fixed(yFraction(fraction))}" dy="-3" ` +
          `text-anchor="end" fill="#868e96">${label}</text>`,
      );
    for (const tick of WAIT_TICKS) {
      const bin = BINS_PER_DECADE * Math.log10(tick);
      if (bin > shown) break;
      const tx = fixed(xWait(bin));
      out.push(
        `<line x1="${tx}" y1="${base}" x2="${tx}" y2="${base + 4}" stroke="#495057"/>` +
          `<text class="wait-tick" x="${tx}" y="${base + 16}" text-anchor="middle">` +
          `${formatWait(tick)}</text>`,
      );
    }
    out.push(
      `<text x="${left + plotWidth / 2}" y="${base + 30}" text-anchor="middle">` +
        `wait from submission to start (log scale; 1s includes shorter)</text>`,
    );
    sideLabel(y0, "jobs started", "left");
    const labels: Array<{ y: number; text: string; colour: string }> = [];
    cdfs.forEach((cdf, index) => {
      const report = reports[index];
      if (report === undefined || report.jobs === 0) return;
      const colour = colourOf(index);
      const points = cdf
        .slice(0, shown + 1)
        .map((fraction, bin) => `${fixed(xWait(bin))},${fixed(yFraction(fraction))}`);
      out.push(
        `<polyline class="wait-cdf" data-policy="${escapeXml(report.name)}" ` +
          `points="${points.join(" ")}" fill="none" stroke="${colour}" stroke-width="2"/>`,
      );
      const unstarted = report.unstarted > 0 ? `, ${report.unstarted} unstarted` : "";
      labels.push({
        y: yFraction(cdf[shown] ?? 0),
        text: `${report.name}: p50 ${waitText(report, "p50")} p95 ${waitText(report, "p95")}${unstarted}`,
        colour,
      });
    });
    out.push(...endLabels(labels, plotRight + 8, y0 + plotTop, base));
    frame(y0);
    out.push("</g>");
  }

  // Then a panel per policy: each bucket's average workers by state, stacked, and the idle jobs.
  const averages = buckets.map((list) =>
    list.map((bucket) => {
      const span = bucket.to - bucket.from;
      return {
        from: bucket.from,
        to: bucket.to,
        busy: bucket.sums.busy / span,
        idle: bucket.sums.idle / span,
        booting: bucket.sums.booting / span,
      };
    }),
  );
  const workerMax = averages.map((list) =>
    Math.max(0, ...list.map((a) => a.busy + a.idle + a.booting)),
  );
  const idleJobs = runs.map((run) => {
    const all = run.timeline.points("idleJobs");
    // The value held at the window's start began before it: it is drawn from the left edge.
    const before = all.filter((point) => point.at <= from).at(-1);
    const inside = all.filter((point) => point.at > from && point.at < to);
    const points = before === undefined ? inside : [{ at: from, value: before.value }, ...inside];
    return downsample(points, maxPoints, from, to);
  });
  const jobMax = idleJobs.map((points) => Math.max(0, ...points.map((point) => point.value)));
  const bucketWidth = Math.max(
    0,
    ...buckets.flatMap((list) => list.slice(1, -1).map((b) => b.to - b.from)),
  );
  runs.forEach((run, index) => {
    const y0 = titleHeight + (index + 2) * panelHeight;
    const base = y0 + plotTop + plotHeight;
    const report = reports[index];
    const workers = niceScale(shared ? Math.max(0, ...workerMax) : (workerMax[index] ?? 0));
    const jobs = niceScale(shared ? Math.max(0, ...jobMax) : (jobMax[index] ?? 0));
    const yWorkers = (value: number) => base - (value / workers.top) * plotHeight;
    const yJobs = (value: number) => base - (value / jobs.top) * plotHeight;

    out.push(`<g class="panel">`);
    out.push(
      `<text class="heading" x="${left}" y="${y0 + 18}" font-size="13" font-weight="bold" ` +
        `fill="${colourOf(index)}">${escapeXml(run.name)}</text>` +
        `<text class="headline" x="${left + run.name.length * 8 + 12}" y="${y0 + 18}">` +
        `${escapeXml(report === undefined ? "" : headline(report))}${window === undefined ? "" : " (whole run)"}</text>`,
    );
    // Legend, right-aligned on its own line.
    const legend = [
      ...[...LAYERS].reverse().map((layer) => ({ label: layer.label, colour: layer.colour })),
      { label: "idle jobs (right axis)", colour: IDLE_JOBS_COLOUR },
    ];
    let legendX = plotRight;
    for (const entry of [...legend].reverse()) {
      legendX -= entry.label.length * 6 + 22;
      out.push(
        `<rect x="${legendX}" y="${y0 + 25}" width="10" height="10" fill="${entry.colour}"/>` +
          `<text x="${legendX + 14}" y="${y0 + 34}">${escapeXml(entry.label)}</text>`,
      );
    }
    if (bucketWidth > 0)
      out.push(
        `<text x="${left}" y="${y0 + 34}" fill="#868e96">workers: average of each ` +
          `${formatWait(bucketWidth)}</text>`,
      );

    yGrid(workers, yWorkers);
    for (let tick = 0; tick <= jobs.top; tick += jobs.step) {
      out.push(
        `<text x="${plotRight + 6}" y="${fixed(yJobs(tick))}" dy="4" ` +
          `fill="${IDLE_JOBS_COLOUR}">${tick}</text>`,
      );
    }
    timeAxis(y0);
    sideLabel(y0, "workers", "left");
    sideLabel(y0, "idle jobs", "right", IDLE_JOBS_COLOUR);

    const list = averages[index] ?? [];
    const firstBucket = list[0];
    if (firstBucket === undefined) {
      out.push(
        `<text x="${left + plotWidth / 2}" y="${y0 + plotTop + plotHeight / 2}" ` +
          `text-anchor="middle" fill="#868e96">${window === undefined ? "no samples" : "nothing in the window"}</text>`,
      );
    } else {
      const endX = fixed(x(list[list.length - 1]?.to ?? firstBucket.to));
      let below = (_: (typeof list)[number]) => 0;
      const tops: Array<{
        key: string;
        colour: string;
        top: (a: (typeof list)[number]) => number;
      }> = [];
      for (const layer of [...LAYERS].reverse()) {
        const under = below;
        const top = (a: (typeof list)[number]) => under(a) + a[layer.key];
        tops.unshift({ key: layer.key, colour: layer.colour, top });
        below = top;
      }
      for (const layer of tops) {
        const d = list.map((a) => `V${fixed(yWorkers(layer.top(a)))}H${fixed(x(a.to))}`).join("");
        out.push(
          `<path class="layer-${layer.key}" d="M${fixed(x(firstBucket.from))} ${base}${d}V${base}Z" ` +
            `fill="${layer.colour}"/>`,
        );
      }
      const shownJobs = idleJobs[index] ?? [];
      if (shownJobs.length > 0)
        out.push(
          `<path class="idle-jobs" d="${stepPath(shownJobs, x, yJobs).join("")}H${endX}" fill="none" ` +
            `stroke="${IDLE_JOBS_COLOUR}" stroke-width="1.5"/>`,
        );
    }
    frame(y0);
    out.push("</g>");
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
