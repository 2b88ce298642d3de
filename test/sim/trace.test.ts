/** Workload traces (SWF, CSV) read into job specs, and the synthetic generator. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import test from "ava";
import {
  parseTraceText,
  readTrace,
  syntheticTrace,
  TraceError,
  type TraceOptions,
} from "../../src/sim/trace.js";

const TRACES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "examples", "traces");

interface SwfJob {
  submit: number;
  runtime: number;
  allocated?: number;
  usedKb?: number;
  requested?: number;
  requestedKb?: number;
  status?: number;
}

/** One SWF record: the 18 fields, -1 for all those a test does not care about. */
function swf(job: SwfJob, number = 1): string {
  const fields = Array.from({ length: 18 }, () => -1);
  fields[0] = number;
  fields[1] = job.submit;
  fields[3] = job.runtime;
  fields[4] = job.allocated ?? 1;
  fields[6] = job.usedKb ?? -1;
  fields[7] = job.requested ?? -1;
  fields[9] = job.requestedKb ?? -1;
  fields[10] = job.status ?? 1;
  return fields.map((field) => String(field).padStart(6)).join(" ");
}

const HEADER = [
  "; Version: 2.2",
  "; Computer: Test Cluster",
  "; Acknowledge: Jane Doe",
  "; Information: http://example.org/",
  ";              http://example.org/more",
  "; UnixStartTime: 1000000000",
  "; MaxProcs: 64",
  ";",
];

function swfText(jobs: SwfJob[], header: string[] = HEADER): string {
  return [...header, ...jobs.map((job, index) => swf(job, index + 1))].join("\n");
}

function readSwf(jobs: SwfJob[], options: TraceOptions = {}) {
  return parseTraceText(swfText(jobs), "swf", "test.swf", options);
}

test("SWF: the header comment lines are kept as written, and their keys parsed", (t) => {
  const trace = readSwf([{ submit: 0, runtime: 10 }]);
  t.is(trace.format, "swf");
  t.deepEqual(trace.header, HEADER);
  t.is(trace.headerFields.Acknowledge, "Jane Doe");
  t.is(trace.headerFields.UnixStartTime, "1000000000");
  t.is(trace.headerFields.MaxProcs, "64");
  t.is(trace.headerFields.Information, "http://example.org/\nhttp://example.org/more");
});

test("SWF: run time, allocated processors and used memory per processor become the job", (t) => {
  const trace = readSwf([{ submit: 0, runtime: 3600, allocated: 4, usedKb: 512 * 1024 }]);
  t.deepEqual(trace.jobs, [{ submitAt: 0, runtime: 3600, cpus: 4, memoryMb: 2048, gpus: 0 }]);
});

test("SWF: unknown allocated processors and used memory fall back to the requested ones", (t) => {
  const trace = readSwf([
    { submit: 0, runtime: 60, allocated: -1, requested: 8, usedKb: -1, requestedKb: 1000 },
  ]);
  t.is(trace.jobs[0]?.cpus, 8);
  t.is(trace.jobs[0]?.memoryMb, Math.ceil((8 * 1000) / 1024));
});

test("SWF: a job with no memory at all gets the default memory, 1024 MB unless told", (t) => {
  t.is(readSwf([{ submit: 0, runtime: 60 }]).jobs[0]?.memoryMb, 1024);
  t.is(readSwf([{ submit: 0, runtime: 60 }], { defaultMemoryMb: 3000 }).jobs[0]?.memoryMb, 3000);
});

test("SWF: a few kilobytes still ask for at least 1 MB", (t) => {
  t.is(readSwf([{ submit: 0, runtime: 60, usedKb: 3 }]).jobs[0]?.memoryMb, 1);
});

test("SWF: submit times count from the first job's", (t) => {
  const trace = readSwf([
    { submit: 5000, runtime: 10 },
    { submit: 5030, runtime: 10 },
    { submit: 6000, runtime: 10 },
  ]);
  t.deepEqual(
    trace.jobs.map((job) => job.submitAt),
    [0, 30, 1000],
  );
});

test("SWF: jobs with an unknown or zero run time are skipped and counted by reason", (t) => {
  const trace = readSwf([
    { submit: 0, runtime: -1 },
    { submit: 10, runtime: 0 },
    { submit: 20, runtime: 0 },
    { submit: 30, runtime: 100 },
  ]);
  t.is(trace.jobs.length, 1);
  t.is(trace.skipped, 3);
  t.deepEqual(trace.skippedBy, { "no run time": 1, "zero run time": 2 });
  t.deepEqual(trace.problems, []);
  t.is(trace.jobs[0]?.submitAt, 30, "the clock still starts at the first record");
});

test("SWF: failed and cancelled jobs ran for their run time and are kept", (t) => {
  const trace = readSwf([
    { submit: 0, runtime: 100, status: 0 },
    { submit: 1, runtime: 200, status: 5 },
    { submit: 2, runtime: 300, status: 1 },
  ]);
  t.deepEqual(
    trace.jobs.map((job) => job.runtime),
    [100, 200, 300],
  );
});

test("SWF: partial-execution lines are skipped so a checkpointed job is not counted twice", (t) => {
  const trace = readSwf([
    { submit: 0, runtime: 900, status: 1 },
    { submit: 0, runtime: 400, status: 2 },
    { submit: 0, runtime: 500, status: 3 },
  ]);
  t.deepEqual(
    trace.jobs.map((job) => job.runtime),
    [900],
  );
  t.is(trace.skipped, 2);
});

test("SWF: a job with no processor count is skipped", (t) => {
  const trace = readSwf([{ submit: 0, runtime: 60, allocated: -1, requested: -1 }]);
  t.deepEqual(trace.jobs, []);
  t.deepEqual(trace.skippedBy, { "no processor count": 1 });
});

test("SWF: jobs come out sorted by submit time even when the file is not", (t) => {
  const trace = readSwf([
    { submit: 100, runtime: 1 },
    { submit: 50, runtime: 2 },
    { submit: 75, runtime: 3 },
  ]);
  t.deepEqual(
    trace.jobs.map((job) => [job.submitAt, job.runtime]),
    [
      [0, 2],
      [25, 3],
      [50, 1],
    ],
  );
});

const BAD_SWF = [
  "; Version: 2.2",
  swf({ submit: 0, runtime: 10 }, 1),
  "    2     10     -1     20",
  swf({ submit: 20, runtime: 30 }, 3).replace("    30", "thirty"),
  swf({ submit: 30, runtime: 40 }, 4),
].join("\n");

test("SWF: bad lines are reported with their line numbers and the rest is read", (t) => {
  const trace = parseTraceText(BAD_SWF, "swf", "bad.swf");
  t.deepEqual(
    trace.jobs.map((job) => job.runtime),
    [10, 40],
  );
  t.deepEqual(
    trace.problems.map(({ file, line }) => ({ file, line })),
    [
      { file: "bad.swf", line: 3 },
      { file: "bad.swf", line: 4 },
    ],
  );
  t.regex(trace.problems[0]?.message ?? "", /expected 18 fields, found 4/);
  t.regex(trace.problems[1]?.message ?? "", /field 4 is not a number: "thirty"/);
});

test("SWF strict: the first bad line stops the read with an error naming file and line", (t) => {
  const error = t.throws(() => parseTraceText(BAD_SWF, "swf", "bad.swf", { strict: true }), {
    instanceOf: TraceError,
  });
  t.is(error?.file, "bad.swf");
  t.is(error?.line, 3);
  t.regex(error?.message ?? "", /^bad\.swf:3: expected 18 fields/);
});

test("timeScale multiplies submit times and run times", (t) => {
  const trace = readSwf(
    [
      { submit: 0, runtime: 100 },
      { submit: 60, runtime: 40 },
    ],
    { timeScale: 0.5 },
  );
  t.deepEqual(
    trace.jobs.map((job) => [job.submitAt, job.runtime]),
    [
      [0, 50],
      [30, 20],
    ],
  );
});

test("maxCpus caps each job's processors, and its memory per processor follows", (t) => {
  const trace = readSwf(
    [
      { submit: 0, runtime: 10, allocated: 128, usedKb: 1024 },
      { submit: 1, runtime: 10, allocated: 2, usedKb: 1024 },
    ],
    { maxCpus: 16 },
  );
  t.deepEqual(
    trace.jobs.map((job) => [job.cpus, job.memoryMb]),
    [
      [16, 16],
      [2, 2],
    ],
  );
});

test("the window keeps jobs submitted in [from, until) and starts the clock at from", (t) => {
  const trace = readSwf(
    [
      { submit: 1000, runtime: 1 },
      { submit: 1099, runtime: 2 },
      { submit: 1100, runtime: 3 },
      { submit: 1150, runtime: 4 },
      { submit: 1200, runtime: 5 },
    ],
    { window: { from: 100, until: 200 } },
  );
  t.deepEqual(
    trace.jobs.map((job) => [job.submitAt, job.runtime]),
    [
      [0, 3],
      [50, 4],
    ],
  );
  t.is(trace.outsideWindow, 3);
});

test("the window is cut on the trace's own clock, before timeScale", (t) => {
  const trace = readSwf(
    [
      { submit: 0, runtime: 10 },
      { submit: 100, runtime: 10 },
      { submit: 160, runtime: 10 },
    ],
    { window: { from: 100 }, timeScale: 2 },
  );
  t.deepEqual(
    trace.jobs.map((job) => job.submitAt),
    [0, 120],
  );
});

test("options that make no sense are refused", (t) => {
  const text = swfText([{ submit: 0, runtime: 1 }]);
  t.throws(() => parseTraceText(text, "swf", "x.swf", { timeScale: 0 }), {
    instanceOf: RangeError,
  });
  t.throws(() => parseTraceText(text, "swf", "x.swf", { maxCpus: 0 }), { instanceOf: RangeError });
  t.throws(() => parseTraceText(text, "swf", "x.swf", { window: { from: 10, until: 10 } }), {
    instanceOf: RangeError,
  });
});

test("CSV: columns are found by their header names, in any order, extras ignored", (t) => {
  const text = [
    "# a comment",
    "name,memoryMb,cpus,runtime,submit,gpus",
    '"job, the first",2000,2,600,0,1',
    "# another comment",
    "second,1000,1,60,30,",
  ].join("\n");
  const trace = parseTraceText(text, "csv", "jobs.csv");
  t.is(trace.format, "csv");
  t.deepEqual(trace.jobs, [
    { submitAt: 0, runtime: 600, cpus: 2, memoryMb: 2000, gpus: 1 },
    { submitAt: 30, runtime: 60, cpus: 1, memoryMb: 1000, gpus: 0 },
  ]);
  t.deepEqual(trace.header, ["# a comment", "# another comment"]);
});

test("CSV: without a gpus column jobs need no gpus", (t) => {
  const trace = parseTraceText("submit,runtime,cpus,memoryMb\n0,10,1,100", "csv", "x.csv");
  t.is(trace.jobs[0]?.gpus, 0);
});

test("CSV: a header missing a required column is an error naming it", (t) => {
  const error = t.throws(() => parseTraceText("submit,runtime,cpus\n0,1,1", "csv", "x.csv"), {
    instanceOf: TraceError,
  });
  t.is(error?.line, 1);
  t.regex(error?.message ?? "", /memoryMb/);
});

test("CSV: bad rows are reported by line, or stop the read when strict", (t) => {
  const text = ["submit,runtime,cpus,memoryMb", "0,10,1,100", "5,ten,1,100", "9,10,0,100"].join(
    "\n",
  );
  const trace = parseTraceText(text, "csv", "x.csv");
  t.is(trace.jobs.length, 1);
  t.deepEqual(
    trace.problems.map((problem) => problem.line),
    [3, 4],
  );
  t.regex(trace.problems[0]?.message ?? "", /runtime is not a number/);
  const error = t.throws(() => parseTraceText(text, "csv", "x.csv", { strict: true }), {
    instanceOf: TraceError,
  });
  t.is(error?.line, 3);
});

test("CSV: submit times are taken as written, so a job can be queued before the start", (t) => {
  const trace = parseTraceText(
    "submit,runtime,cpus,memoryMb\n-60,10,1,100\n40,10,1,100",
    "csv",
    "x",
  );
  t.deepEqual(
    trace.jobs.map((job) => job.submitAt),
    [-60, 40],
  );
});

test("readTrace gunzips a gzipped file and tells SWF from CSV without an extension", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-trace-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const swfFile = join(dir, "workload.swf.gz");
  await writeFile(swfFile, gzipSync(swfText([{ submit: 7, runtime: 70, allocated: 2 }])));
  const fromSwf = await readTrace(swfFile);
  t.is(fromSwf.format, "swf");
  t.deepEqual(fromSwf.jobs, [{ submitAt: 0, runtime: 70, cpus: 2, memoryMb: 1024, gpus: 0 }]);
  t.is(fromSwf.headerFields.Acknowledge, "Jane Doe");

  const unnamed = join(dir, "workload");
  await writeFile(unnamed, gzipSync("submit,runtime,cpus,memoryMb\n0,5,1,10\n"));
  const fromCsv = await readTrace(unnamed);
  t.is(fromCsv.format, "csv");
  t.is(fromCsv.jobs.length, 1);
});

test("readTrace names the file when it cannot be read", async (t) => {
  const error = await t.throwsAsync(readTrace("/nonexistent/trace.swf"), {
    instanceOf: TraceError,
  });
  t.is(error?.file, "/nonexistent/trace.swf");
});

test("the shipped NASA iPSC/860 trace reads whole, with its header", async (t) => {
  const trace = await readTrace(join(TRACES, "NASA-iPSC-1993-3.1-cln.swf.gz"));
  t.is(trace.format, "swf");
  t.deepEqual(trace.problems, []);
  t.true(trace.jobs.length > 17_500 && trace.jobs.length < 18_500, `${trace.jobs.length} jobs`);
  t.is(trace.jobs.length + trace.skipped, 18_239, "every job record is read or skipped");
  t.is(trace.headerFields.Acknowledge, "Bill Nitzberg");
  t.is(trace.headerFields.MaxProcs, "128");
  t.is(trace.header[0], "; Version: 2.2");
  t.is(trace.jobs[0]?.submitAt, 0);
  const days = (trace.jobs.at(-1)?.submitAt ?? 0) / 86_400;
  t.true(days > 90 && days < 93, `spans ${days} days`);
  t.true(trace.jobs.every((job) => job.cpus >= 1 && job.cpus <= 128 && job.runtime > 0));
});

test("the shipped burst.csv is two bursts two hours apart", async (t) => {
  const trace = await readTrace(join(TRACES, "burst.csv"));
  t.deepEqual(trace.problems, []);
  const first = trace.jobs.filter((job) => job.submitAt < 3600);
  const second = trace.jobs.filter((job) => job.submitAt >= 7200);
  t.is(first.length, 40);
  t.true(first.every((job) => job.submitAt <= 300 && job.cpus >= 1 && job.cpus <= 4));
  t.true(second.length > 0 && second.length < first.length);
  t.is(first.length + second.length, trace.jobs.length);
});

test("the synthetic trace is the same for the same seed and differs for another", (t) => {
  const options = { jobs: 500, meanInterarrival: 30, meanRuntime: 600, maxCpus: 8 };
  const one = syntheticTrace({ ...options, seed: 42 });
  t.deepEqual(syntheticTrace({ ...options, seed: 42 }), one);
  t.notDeepEqual(syntheticTrace({ ...options, seed: 43 }), one);
});

test("the synthetic trace is sorted, sized as asked and roughly of the asked means", (t) => {
  const jobs = syntheticTrace({
    jobs: 20_000,
    seed: 7,
    meanInterarrival: 30,
    meanRuntime: 600,
    maxCpus: 6,
  });
  t.is(jobs.length, 20_000);
  t.is(jobs[0]?.submitAt, 0);
  t.true(jobs.every((job, i) => i === 0 || job.submitAt >= (jobs[i - 1]?.submitAt ?? 0)));
  t.true(jobs.every((job) => [1, 2, 4].includes(job.cpus) && job.runtime >= 1));
  const span = jobs.at(-1)?.submitAt ?? 0;
  t.true(Math.abs(span / 19_999 - 30) < 1.5, `mean interarrival ${span / 19_999}`);
  const meanRuntime = jobs.reduce((sum, job) => sum + job.runtime, 0) / jobs.length;
  t.true(Math.abs(meanRuntime - 600) < 30, `mean runtime ${meanRuntime}`);
});

test("the synthetic trace makes a million jobs quickly", (t) => {
  const started = performance.now();
  const jobs = syntheticTrace({ jobs: 1_000_000, seed: 1 });
  const elapsed = performance.now() - started;
  t.is(jobs.length, 1_000_000);
  t.true(elapsed < 10_000, `${Math.round(elapsed)} ms`);
});

test("an SWF header's UnixStartTime and TimeZoneString give the trace its own clock, from its first record", (t) => {
  const trace = parseTraceText(
    swfText(
      [
        { submit: 100, runtime: 60, allocated: 1 },
        { submit: 160, runtime: 60, allocated: 1 },
      ],
      [...HEADER, "; TimeZoneString: US/Pacific"],
    ),
    "swf",
    "test.swf",
  );
  t.deepEqual(trace.clock, { startAt: 1_000_000_100, timezone: "US/Pacific" });
  const windowed = readSwf(
    [
      { submit: 0, runtime: 60, allocated: 1 },
      { submit: 4000, runtime: 60, allocated: 1 },
    ],
    { window: { from: 3600 } },
  );
  t.is(windowed.clock?.startAt, 1_000_003_600);
  t.is(
    parseTraceText("submit,runtime,cpus,memoryMb\n0,60,1,100\n", "csv", "t.csv").clock,
    undefined,
  );
});
