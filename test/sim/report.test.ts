/** The simulator's report: summaries, the table, the JSON, the plot and the progress bar. */
import { Writable } from "node:stream";
import test from "ava";
import { seededRandom } from "../../src/random.js";
import { downsample, headline, plotSvg, waitCdf } from "../../src/sim/plot.js";
import {
  censoredRank,
  formatNotes,
  formatTable,
  formatWait,
  nearestRank,
  type PolicyReport,
  ProgressBar,
  summarise,
  toJson,
} from "../../src/sim/report.js";
import type { SimRun } from "../../src/sim/run.js";
import { Timeline, type TimeWindow, UsageRecorder, type WorkerState } from "../../src/sim/usage.js";

type Workers = Record<WorkerState, number>;

/** The pool's state from `at` on: workers by state, idle jobs, what the workers cost an hour. */
interface Sample {
  at: number;
  workers: Workers;
  idleJobs: number;
  costPerHour: number;
}

function sample(
  at: number,
  counts: Partial<Workers>,
  more: Partial<Omit<Sample, "at" | "workers">> = {},
): Sample {
  return {
    at,
    workers: { booting: 0, idle: 0, busy: 0, ...counts },
    idleJobs: 0,
    costPerHour: 0,
    ...more,
  };
}

/** A run whose pool went through `samples`, each holding until the next, the last until the end. */
function run(
  overrides: Partial<SimRun> & { samples?: Sample[]; window?: TimeWindow } = {},
): SimRun {
  const { samples = [], window, ...rest } = overrides;
  const endedAt = rest.endedAt ?? 0;
  const recorder = new UsageRecorder(samples[0]?.at ?? 0, new Timeline(1000, window));
  for (const s of samples) recorder.state(s.at, s.workers, s.costPerHour, s.idleJobs);
  return {
    name: "policy",
    endedAt,
    ticks: samples.length,
    usage: recorder.close(endedAt),
    timeline: recorder.timeline,
    jobs: [],
    launches: 0,
    terminations: 0,
    errors: {},
    ...rest,
  };
}

/**
 * One worker boots for 240 s, idles 60 s, runs the job 600 s, idles; at 1200 a second worker is
 * launched and never joins, at 1500 a third; the run ends at 1800. Each worker costs 0.36 an hour.
 */
const HAND_RUN = run({
  name: "hand",
  endedAt: 1800,
  samples: [
    sample(0, { booting: 1 }, { idleJobs: 1, costPerHour: 0.36 }),
    sample(240, { idle: 1 }, { idleJobs: 1, costPerHour: 0.36 }),
    sample(300, { busy: 1 }, { costPerHour: 0.36 }),
    sample(900, { idle: 1 }, { costPerHour: 0.36 }),
    sample(1200, { idle: 1, booting: 1 }, { idleJobs: 1, costPerHour: 0.72 }),
    sample(1500, { idle: 1, booting: 2 }, { idleJobs: 1, costPerHour: 1.08 }),
  ],
  jobs: [
    { submitAt: 0, startedAt: 300, finishedAt: 900, cpus: 1 },
    { submitAt: 1200, cpus: 1, unstarted: "unfit" },
  ],
  launches: 3,
  terminations: 1,
  errors: { quota: 2, throttled: 0, transient: 5 },
});

test("summarise counts each state from the moment it begins to the next change, the last to the end", (t) => {
  const report = summarise(HAND_RUN);
  // booting: 240 + 300 + 2·300 = 1140 s; idle: 60 + 300 + 300 + 300 = 960 s; busy: 600 s;
  // total: 2700 s.
  t.deepEqual(report.workerHours, { total: 0.75, busy: 0.167, idle: 0.267, booting: 0.317 });
  // 0.36 · 1200/3600 + 0.72 · 300/3600 + 1.08 · 300/3600
  t.is(report.cost, 0.27);
  t.is(report.peakWorkers, 3);
});

test("summarise counts a job that never started as waiting until the run ended, a lower bound, and says why", (t) => {
  const report = summarise(HAND_RUN);
  t.is(report.jobs, 2);
  t.is(report.unstarted, 1);
  t.deepEqual(report.unstartedBy, { "fits no worker shape of any cloud": 1 });
  // Waits 300 (started) and 1800 - 1200 = 600 (censored at the end).
  t.deepEqual(report.wait, { p50: 300, p95: 600, p99: 600, max: 600 });
  t.deepEqual(report.waitCensored, { p50: false, p95: true, p99: true, max: true });
});

test("percentiles of waits with censored ones are the nearest ranks of all of them together", (t) => {
  const random = seededRandom(9);
  for (let round = 0; round < 200; round += 1) {
    const draw = (n: number) =>
      Float64Array.from({ length: n }, () => Math.floor(random() * 20)).sort();
    const waits = draw(Math.floor(random() * 12));
    const censored = draw(Math.floor(random() * 12));
    const all = [...waits, ...censored].sort((a, b) => a - b);
    for (const p of [1, 50, 95, 99, 100]) {
      const got = censoredRank(waits, censored, p);
      t.is(got?.value ?? null, nearestRank(all, p), `${p}: ${waits} | ${censored}`);
      // Censored only when no started job has that wait.
      if (got?.censored === true) t.false(waits.includes(got.value));
    }
  }
});
test("summarise copies launches and terminations and keeps only the error kinds that occurred", (t) => {
  const report = summarise(HAND_RUN);
  t.is(report.launches, 3);
  t.is(report.terminations, 1);
  t.deepEqual(report.errors, { quota: 2, transient: 5 });
});

test("when no job started, every wait is censored at the end of the run; a run without jobs has none", (t) => {
  const report = summarise(run({ endedAt: 3600, jobs: [{ submitAt: 600, cpus: 1 }] }));
  t.deepEqual(report.wait, { p50: 3000, p95: 3000, p99: 3000, max: 3000 });
  t.deepEqual(report.waitCensored, { p50: true, p95: true, p99: true, max: true });
  t.is(report.unstarted, 1);
  t.deepEqual(report.unstartedBy, { "still queued at the end": 1 });
  t.deepEqual(summarise(run()).wait, { p50: null, p95: null, p99: null, max: null });
});

test("the notes under the table say why jobs never started and what >= means", (t) => {
  const table = formatTable([summarise(HAND_RUN)]);
  t.regex(table, /^wait p95\s+>=10m$/m);
  t.deepEqual(formatNotes([summarise(HAND_RUN), report({ name: "clean" })]), [
    "hand: 1 job never started: 1 fits no worker shape of any cloud",
    ">=: a lower bound: the percentile falls on a job that never started, counted as waiting until the run ended",
  ]);
  t.deepEqual(formatNotes([report({ name: "clean" })]), []);
});

test("a run without samples has no worker-hours, cost or workers", (t) => {
  const report = summarise(run({ endedAt: 3600 }));
  t.deepEqual(report.workerHours, { total: 0, busy: 0, idle: 0, booting: 0 });
  t.is(report.cost, 0);
  t.is(report.peakWorkers, 0);
});

test("percentiles of 100 waits are nearest-rank on the sorted waits", (t) => {
  // Waits 1..100 s, submitted out of order.
  const jobs = Array.from({ length: 100 }, (_, index) => {
    const wait = ((index * 37) % 100) + 1;
    return { submitAt: index * 10, startedAt: index * 10 + wait, cpus: 1 };
  });
  const report = summarise(run({ jobs }));
  t.deepEqual(report.wait, { p50: 50, p95: 95, p99: 99, max: 100 });
});

test("nearest rank rounds the rank up", (t) => {
  t.is(nearestRank([10, 20, 30], 50), 20);
  t.is(nearestRank([10, 20, 30], 95), 30);
  t.is(nearestRank([10, 20, 30], 1), 10);
  t.is(nearestRank([], 50), null);
});

test("hours and cost are rounded to three decimals", (t) => {
  const report = summarise(
    run({ endedAt: 1, samples: [sample(0, { busy: 1 }, { costPerHour: 1 })] }),
  );
  t.is(report.workerHours.busy, 0);
  t.is(summarise(run({ endedAt: 2, samples: [sample(0, { busy: 1 })] })).workerHours.busy, 0.001);
  t.is(report.cost, 0);
});

test("waits are written to two units at most", (t) => {
  t.is(formatWait(45), "45s");
  t.is(formatWait(90), "1m30s");
  t.is(formatWait(7500), "2h5m");
  t.is(formatWait(7507), "2h5m");
  t.is(formatWait(3600), "1h");
  t.is(formatWait(90061), "1d1h");
  t.is(formatWait(0), "0s");
  t.is(formatWait(null), "-");
});

function report(overrides: Partial<PolicyReport>): PolicyReport {
  return { ...summarise(run()), ...overrides };
}

test("the table has a column per policy and a row per measure, aligned", (t) => {
  const table = formatTable([
    summarise(HAND_RUN),
    report({ name: "static:10", errors: { capacity: 1 }, peakWorkers: 10 }),
  ]);
  const lines = table.split("\n");
  t.regex(lines[0] ?? "", /^\s+hand\s+static:10$/);
  t.regex(lines[1] ?? "", /^-+( +-+){2}$/);
  for (const label of [
    "jobs",
    "unstarted",
    "wait p50",
    "wait p95",
    "wait p99",
    "wait max",
    "worker-hours total",
    "worker-hours busy",
    "worker-hours idle",
    "worker-hours booting",
    "cost",
    "launches",
    "terminations",
    "peak workers",
  ]) {
    t.true(
      lines.some((line) => line.startsWith(`${label} `)),
      label,
    );
  }
  t.regex(table, /^wait p50\s+5m\s+-$/m);
  t.regex(table, /^worker-hours total\s+0\.75\s+0\.00$/m);
  t.regex(table, /^cost\s+0\.27\s+0\.00$/m);
  t.regex(table, /^peak workers\s+3\s+10$/m);
  // Every line is as wide as the others: the columns line up.
  t.is(new Set(lines.map((line) => line.length)).size, 1);
  t.true(/^[\x20-\x7e\n]*$/.test(table), "plain ASCII");
});

test("the table has one error row per kind that occurs in any report", (t) => {
  const table = formatTable([
    summarise(HAND_RUN),
    report({ name: "other", errors: { capacity: 1 } }),
  ]);
  t.regex(table, /^errors quota\s+2\s+0$/m);
  t.regex(table, /^errors capacity\s+0\s+1$/m);
  t.regex(table, /^errors transient\s+5\s+0$/m);
  t.notRegex(table, /errors throttled/);
  t.notRegex(table, /errors auth/);
});

test("the table has a single errors row of zeros when no report has errors", (t) => {
  const table = formatTable([report({ name: "a" }), report({ name: "b" })]);
  t.regex(table, /^errors\s+0\s+0$/m);
});

test("the JSON holds the policies in the fixed shape", (t) => {
  const reports = [summarise(HAND_RUN), summarise(run({ name: "static:2" }))];
  const parsed: unknown = JSON.parse(toJson(reports));
  t.deepEqual(Object.keys(parsed as object), ["policies"]);
  const { policies } = parsed as { policies: Array<Record<string, unknown>> };
  t.is(policies.length, 2);
  const [first] = policies;
  t.deepEqual(Object.keys(first ?? {}), [
    "name",
    "jobs",
    "unstarted",
    "unstartedBy",
    "wait",
    "waitCensored",
    "workerHours",
    "cost",
    "launches",
    "terminations",
    "errors",
    "peakWorkers",
  ]);
  t.deepEqual(Object.keys(first?.wait as object), ["p50", "p95", "p99", "max"]);
  t.deepEqual(Object.keys(first?.workerHours as object), ["total", "busy", "idle", "booting"]);
  t.deepEqual(first, JSON.parse(JSON.stringify(reports[0])));
  t.deepEqual(first?.errors, { quota: 2, transient: 5 });
  t.is(policies[1]?.name, "static:2");
});

/**
 * A small XML well-formedness check: one root element, tags nest and close in order, attribute
 * values are quoted, and `&` only starts an entity. Returns what is wrong, or undefined.
 */
function xmlProblem(xml: string): string | undefined {
  const body = xml.replace(/^<\?xml [^?]*\?>/, "");
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*="[^"<]*")*)\s*(\/?)>/y;
  const badAmpersand = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const stack: string[] = [];
  let roots = 0;
  let at = 0;
  while (at < body.length) {
    const open = body.indexOf("<", at);
    const text = body.slice(at, open === -1 ? undefined : open);
    if (badAmpersand.test(text)) return `bare & near ${at}`;
    if (stack.length === 0 && text.trim() !== "") return `text outside the root near ${at}`;
    if (open === -1) break;
    tag.lastIndex = open;
    const match = tag.exec(body);
    if (match === null) return `malformed tag near ${open}`;
    const [whole, closing, name = "", attributes = "", selfClosing] = match;
    if (badAmpersand.test(attributes)) return `bare & in an attribute near ${open}`;
    if (closing === "/") {
      if (stack.pop() !== name) return `</${name}> closes the wrong element near ${open}`;
    } else {
      if (stack.length === 0) roots += 1;
      if (selfClosing !== "/") stack.push(name);
    }
    at = open + whole.length;
  }
  if (stack.length > 0) return `unclosed <${stack.at(-1)}>`;
  if (roots !== 1) return `${roots} root elements`;
  return undefined;
}

test("the XML check rejects what is not well-formed", (t) => {
  t.is(xmlProblem("<a><b/></a>"), undefined);
  t.truthy(xmlProblem("<a><b></a></b>"));
  t.truthy(xmlProblem("<a>x & y</a>"));
  t.truthy(xmlProblem("<a><b></a>"));
  t.truthy(xmlProblem("<a/><b/>"));
  t.truthy(xmlProblem('<a x="1"><a y=2></a></a>'));
});

test("the plot is well-formed SVG with one titled panel per run", (t) => {
  const svg = plotSvg([HAND_RUN, run({ name: "static:2" })], { title: "trace" });
  t.is(xmlProblem(svg), undefined);
  t.regex(svg, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.is(svg.match(/<g class="panel">/g)?.length, 2);
  t.true(svg.includes(">hand</text>"));
  t.true(svg.includes(">static:2</text>"));
  t.true(svg.includes(">no samples</text>"), "the run that lasted no time says so");
  for (const legend of ["busy workers", "idle workers", "booting/stuck", "idle jobs"]) {
    t.true(svg.includes(legend), legend);
  }
});

test("the plot escapes policy names", (t) => {
  const svg = plotSvg([run({ name: `a<b>&"c'`, endedAt: 60, samples: [sample(0, {})] })], {
    title: "x < y",
  });
  t.is(xmlProblem(svg), undefined);
  t.true(svg.includes("a&lt;b&gt;&amp;&quot;c&apos;"));
  t.false(svg.includes("a<b>"));
  t.true(svg.includes("x &lt; y"));
});

test("the time axis is labelled in days for a long run and in hours for a short one", (t) => {
  const long = plotSvg([run({ endedAt: 90 * 86400, samples: [sample(0, { busy: 1 })] })]);
  t.regex(long, />14d<\/text>/);
  const short = plotSvg([run({ endedAt: 6 * 3600, samples: [sample(0, { busy: 1 })] })]);
  t.regex(short, />1h<\/text>/);
  t.notRegex(short, />\d+d<\/text>/);
});

/** A deterministic generator of numbers in [0, 1). */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) % 4294967296;
    return state / 4294967296;
  };
}

test("the plot of 100k noisy samples stays small and keeps at most 2000 points per series", (t) => {
  const random = lcg(42);
  const samples = Array.from({ length: 100_000 }, (_, index) =>
    sample(
      index * 78,
      {
        booting: Math.floor(random() * 5),
        idle: Math.floor(random() * 20),
        busy: Math.floor(random() * 100),
      },
      { idleJobs: Math.floor(random() * 5000) },
    ),
  );
  const svg = plotSvg([run({ name: "noisy", endedAt: 100_000 * 78, samples })]);
  t.is(xmlProblem(svg), undefined);
  t.true(svg.length < 250_000, `${svg.length} characters`);
  const paths = [...svg.matchAll(/ d="([^"]*)"/g)].map((match) => match[1] ?? "");
  t.is(paths.length, 4);
  for (const path of paths) {
    t.true((path.match(/H/g)?.length ?? 0) <= 2001, "points per series");
  }
});

test("the timeline keeps at most 1000 buckets of a long run, each with its low and high, so a one-second spike survives", (t) => {
  const timeline = new Timeline();
  for (let at = 0; at < 1_000_000; at += 1) {
    const busy = at === 654_321 ? 500 : at % 3;
    timeline.record(at, [busy, busy, busy, at % 2]);
  }
  const points = timeline.points("busy");
  t.true(points.length <= 2000, `${points.length} points`);
  t.true(points.some((point) => point.at === 654_321 && point.value === 500));
  t.deepEqual(
    points.map((point) => point.at),
    [...points.map((point) => point.at)].sort((a, b) => a - b),
    "in time order",
  );
  t.is(timeline.max[0], 500);
  // A short run keeps every change.
  const short = new Timeline();
  for (const [at, value] of [
    [0, 1],
    [150, 2],
    [780, 0],
  ] as const)
    short.record(at, [value, value, value, 0]);
  t.deepEqual(short.points("busy"), [
    { at: 0, value: 1 },
    { at: 150, value: 2 },
    { at: 780, value: 0 },
  ]);
});

test("downsampling keeps a one-sample spike and at most the asked number of points", (t) => {
  const points = Array.from({ length: 100_000 }, (_, at) => ({
    at,
    value: at === 54_321 ? 1000 : at % 2,
  }));
  const kept = downsample(points, 2000, 0, 100_000);
  t.true(kept.length <= 2000);
  t.true(kept.some((point) => point.value === 1000));
  t.deepEqual(
    kept.map((point) => point.at),
    [...kept.map((point) => point.at)].sort((a, b) => a - b),
    "in time order",
  );
  t.deepEqual(downsample(points.slice(0, 10), 2000, 0, 10), points.slice(0, 10));
});

/** The texts of the elements of `svg` with this class. */
function texts(svg: string, cls: string): string[] {
  return [...svg.matchAll(new RegExp(`<text class="${cls}"[^>]*>([^<]*)</text>`, "g"))].map(
    (match) => (match[1] ?? "").replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&amp;/g, "&"),
  );
}

/** The polylines of a class: each its policy and its points. */
function polylines(svg: string, cls: string): Array<{ policy: string; points: number[][] }> {
  return [
    ...svg.matchAll(
      new RegExp(`<polyline class="${cls}" data-policy="([^"]*)" points="([^"]*)"`, "g"),
    ),
  ].map((match) => ({
    policy: match[1] ?? "",
    points: (match[2] ?? "").split(" ").map((pair) => pair.split(",").map(Number)),
  }));
}

/** The area of the first path of a class: its outline is M, then H and V steps, closed. */
function pathArea(svg: string, cls: string): number {
  const d = new RegExp(`<path class="${cls}" d="([^"]*)"`).exec(svg)?.[1] ?? "";
  const corners: Array<[number, number]> = [];
  let cx = 0;
  let cy = 0;
  for (const [, command, args] of d.matchAll(/([MHVZ])([^MHVZ]*)/g)) {
    const numbers = (args ?? "").trim().split(/\s+/).map(Number);
    if (command === "M") [cx = 0, cy = 0] = numbers;
    else if (command === "H") cx = numbers[0] ?? 0;
    else if (command === "V") cy = numbers[0] ?? 0;
    else continue;
    corners.push([cx, cy]);
  }
  let twice = 0;
  corners.forEach(([x1, y1], i) => {
    const [x2, y2] = corners[(i + 1) % corners.length] ?? [0, 0];
    twice += x1 * y2 - x2 * y1;
  });
  return Math.abs(twice) / 2;
}

/** Two policies over a day: one idles four workers most of it, the other is busy. */
function twoPolicies(): SimRun[] {
  return [
    run({
      name: "idler",
      endedAt: 86400,
      samples: [
        sample(0, { booting: 4 }, { costPerHour: 0.4, idleJobs: 3 }),
        sample(600, { busy: 1, idle: 3 }, { costPerHour: 0.4 }),
        sample(3600, { idle: 4 }, { costPerHour: 0.4 }),
      ],
      jobs: [
        { submitAt: 0, startedAt: 660, finishedAt: 3600, cpus: 1 },
        { submitAt: 10, startedAt: 20, finishedAt: 3600, cpus: 1 },
        { submitAt: 100, cpus: 1, unstarted: "queued" },
      ],
    }),
    run({
      name: "lean",
      endedAt: 86400,
      samples: [
        sample(0, { booting: 1 }, { costPerHour: 0.1, idleJobs: 3 }),
        sample(300, { busy: 1 }, { costPerHour: 0.1 }),
        sample(7200, {}, {}),
      ],
      jobs: [
        { submitAt: 0, startedAt: 300, finishedAt: 3600, cpus: 1 },
        { submitAt: 10, startedAt: 3600, finishedAt: 7200, cpus: 1 },
        { submitAt: 100, startedAt: 3600, finishedAt: 7200, cpus: 1 },
      ],
    }),
  ];
}

test("the plot draws one cumulative waste line, one cost line and one wait CDF per policy, ending at the report's figures", (t) => {
  const runs = twoPolicies();
  const svg = plotSvg(runs, { title: "day" });
  t.is(xmlProblem(svg), undefined);
  const reports = runs.map(summarise);
  for (const cls of ["cumulative-waste", "cumulative-cost", "wait-cdf"]) {
    t.deepEqual(
      polylines(svg, cls).map((line) => line.policy),
      ["idler", "lean"],
      cls,
    );
  }
  const labels = texts(svg, "end-label");
  for (const report of reports) {
    const wasted = report.workerHours.idle + report.workerHours.booting;
    t.true(labels.includes(`${report.name}: ${wasted.toFixed(2)} h`), report.name);
    t.true(labels.includes(`${report.name}: cost ${report.cost.toFixed(2)}`), report.name);
  }
  t.true(labels.includes("idler: p50 11m p95 >=23h58m, 1 unstarted"), labels.join(" | "));
  t.true(labels.includes("lean: p50 58m20s p95 59m50s"), labels.join(" | "));
  // Each policy's panel is headed with the figures of the table.
  t.deepEqual(texts(svg, "headline"), reports.map(headline));
  t.is(
    headline(reports[0] as PolicyReport),
    "96.00 worker-h (idle 94.50, booting 0.67) · cost 9.60 · wait p95 >=23h58m · 1 unstarted",
  );
  const table = formatTable(reports);
  t.regex(table, /worker-hours idle\s+94\.50\s+0\.00/);
});

test("the wait CDF counts a job never started in the total but never as started: its line ends below 100%", (t) => {
  const [idler, lean] = twoPolicies();
  const cdf = waitCdf(idler as SimRun);
  t.is(cdf.at(-1), 2 / 3);
  t.is(cdf[0], 0, "no wait of a second or less");
  t.is(cdf[10], 1 / 3, "a wait of 10 s is within 10 s");
  t.is(cdf[28], 1 / 3, "660 s is beyond 10^2.8 s");
  t.is(cdf[29], 2 / 3);
  t.is(waitCdf(lean as SimRun).at(-1), 1);
  const svg = plotSvg([idler as SimRun, lean as SimRun]);
  const [first, second] = polylines(svg, "wait-cdf");
  const top = Math.min(...(second?.points ?? []).map((point) => point[1] ?? 0));
  const firstTop = Math.min(...(first?.points ?? []).map((point) => point[1] ?? 0));
  t.true(firstTop > top, "the censored line stays lower on the page than the complete one");
});

test("idle workers are drawn as large as their hours even when a busy spike comes in every bucket", (t) => {
  // 100k cycles of 78 s: ten workers busy for 1 s, then idle for 77 s.
  const samples = Array.from({ length: 200_000 }, (_, index) =>
    index % 2 === 0
      ? sample(Math.floor(index / 2) * 78, { busy: 10 })
      : sample(Math.floor(index / 2) * 78 + 1, { idle: 10 }),
  );
  const noisy = run({ name: "noisy", endedAt: 100_000 * 78, samples });
  const svg = plotSvg([noisy]);
  t.is(xmlProblem(svg), undefined);
  const total = pathArea(svg, "layer-booting");
  const idleArea = pathArea(svg, "layer-idle") - pathArea(svg, "layer-busy");
  const report = summarise(noisy);
  t.true(total > 0);
  t.true(
    Math.abs(idleArea / total - report.workerHours.idle / report.workerHours.total) < 0.01,
    `idle is ${idleArea / total} of the area, ${report.workerHours.idle / report.workerHours.total} of the hours`,
  );
});

test("a window restricts the time panels to its span and the title says so; the buckets go to the window", (t) => {
  const window = { from: 10 * 86400, to: 12 * 86400 };
  const samples = Array.from({ length: 30 * 24 }, (_, hour) =>
    sample(hour * 3600, hour % 2 === 0 ? { busy: 2 } : { idle: 1, booting: 1 }, {
      idleJobs: hour % 5,
    }),
  );
  const windowed = run({ name: "month", endedAt: 30 * 86400, samples, window });
  const svg = plotSvg([windowed], { title: "month", window });
  t.is(xmlProblem(svg), undefined);
  t.is(texts(svg, "title")[0], "month (time panels within 10d–12d)");
  const ticks = texts(svg, "time-tick");
  t.true(ticks.length > 0);
  t.deepEqual(
    [...new Set(ticks)],
    ["10d", "10d6h", "10d12h", "10d18h", "11d", "11d6h", "11d12h", "11d18h", "12d"],
  );
  // Every point of the time panels lies within the plot's frame.
  const xs = [
    ...polylines(svg, "cumulative-waste").flatMap((line) => line.points.map((p) => p[0] ?? 0)),
    ...[...svg.matchAll(/<path class="layer-[a-z]+" d="M([\d.]+)/g)].map((m) => Number(m[1])),
  ];
  t.true(
    xs.every((x) => x >= 60 && x <= 1000 - 230),
    xs.join(" "),
  );
  // Two days of hourly changes: two workers wasted one hour in every two, 48 h in the window.
  t.true(texts(svg, "end-label").includes("month: 48.00 h"), texts(svg, "end-label").join(" | "));
  // The timeline gave all its buckets to the window: no bucket wider than 256 s.
  const buckets = windowed.timeline.integrals();
  t.is(buckets[0]?.from, window.from);
  t.is(buckets.at(-1)?.to, window.to);
  t.true(buckets.every((bucket) => bucket.to - bucket.from <= 256));
});

test("the timeline's integrals add up to the run's worker-seconds and cost, through every coarsening", (t) => {
  const random = lcg(7);
  const samples = Array.from({ length: 50_000 }, (_, index) =>
    sample(
      index * 97,
      {
        booting: Math.floor(random() * 3),
        idle: Math.floor(random() * 7),
        busy: Math.floor(random() * 20),
      },
      { costPerHour: Math.floor(random() * 10) / 10 },
    ),
  );
  const long = run({ endedAt: 50_000 * 97 + 13, samples });
  const buckets = long.timeline.integrals();
  t.true(buckets.length <= 1000);
  const sum = (key: "booting" | "idle" | "busy" | "cost") =>
    buckets.reduce((total, bucket) => total + bucket.sums[key], 0);
  for (const key of ["booting", "idle", "busy"] as const)
    t.true(Math.abs(sum(key) - long.usage.seconds[key]) < 1e-6 * long.usage.seconds[key], key);
  t.true(Math.abs(sum("cost") - long.usage.cost) < 1e-6 * long.usage.cost);
  t.is(buckets.at(-1)?.to, long.endedAt);
});

class Sink extends Writable {
  readonly chunks: string[] = [];
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: unknown, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(String(chunk));
    callback();
  }
}

test("the progress bar rewrites one line at most every 100 ms on a terminal", (t) => {
  const out = new Sink(true);
  let now = 1000;
  const bar = new ProgressBar(out, 200, { label: "elastiq", now: () => now });
  bar.update(10);
  bar.update(20);
  now += 99;
  bar.update(30);
  t.is(out.chunks.length, 1);
  now += 1;
  bar.update(100);
  t.is(out.chunks.length, 2);
  t.true(out.chunks.every((chunk) => chunk.startsWith("\r") && !chunk.includes("\n")));
  t.regex(out.chunks[0] ?? "", /^\relastiq \[#+-+\]\s+5% \(10\/200\)$/);
  t.regex(out.chunks[1] ?? "", /50% \(100\/200\)$/);
  bar.update(199);
  bar.done();
  t.regex(out.chunks.at(-2) ?? "", /\[#{29}-\] {2}99% \(199\/200\)$/);
  t.is(out.chunks.at(-1), "\n");
  bar.update(200);
  bar.done();
  t.is(out.chunks.at(-1), "\n", "nothing after done");
});

test("the progress bar pads a shorter redraw over the longer one before it", (t) => {
  const out = new Sink(true);
  let now = 0;
  const bar = new ProgressBar(out, 1000, { now: () => now });
  bar.update(1000);
  now += 100;
  bar.update(5);
  t.is(out.chunks[1]?.length, out.chunks[0]?.length);
});

test("off a terminal the progress bar writes a plain line per tenth done and one at the end", (t) => {
  const out = new Sink(false);
  const bar = new ProgressBar(out, 100, { label: "static:6" });
  for (let done = 0; done <= 100; done += 1) bar.update(done);
  bar.done();
  bar.done();
  t.is(out.chunks.length, 10, "9 tenths (10 % to 90 %), then the end");
  t.true(out.chunks.every((chunk) => !chunk.includes("\r") && chunk.endsWith("\n")));
  t.regex(out.chunks[0] ?? "", /^static:6 \[#{3}-{27}\] {2}10% \(10\/100\)\n$/);
  t.regex(out.chunks.at(-1) ?? "", /^static:6 \[#{30}\] 100% \(100\/100\)\n$/);
});
