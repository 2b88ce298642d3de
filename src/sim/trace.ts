/**
 * Workload traces for the simulated pool: the Standard Workload Format (SWF) of the Parallel
 * Workloads Archive, plain or gzipped, and a simple CSV of our own. Both become JobSpecs.
 *
 * SWF in short: one job per line, 18 whitespace-separated numeric fields, -1 where a value is
 * unknown; lines starting with ';' are comments, and the ones at the top form the header
 * ("; Key: value", with indented continuation lines). The fields this reader uses:
 *
 *   2  submit time (s)             5  allocated processors    8  requested processors
 *   4  run time (s, wall clock)    7  used memory (KB/proc)  10  requested memory (KB/proc)
 *  11  status: 1 done, 0 failed, 5 cancelled; 2, 3 and 4 mark the partial executions of a job
 *      that was checkpointed or swapped out.
 *
 * The choices made, record by record:
 * - Run time -1 (unknown) or 0 (under half a second, or cancelled before it started): skipped and
 *   counted. A job that holds no slot for any measurable time asks nothing of an autoscaler.
 * - Status 0 (failed) and 5 (cancelled) are kept: the job still held its processors for its run
 *   time, which is what a pool has to provide. Status 2/3/4 lines are skipped: they describe
 *   pieces of a job whose own line already carries its whole run.
 * - Processors: allocated, else requested; neither known → skipped.
 * - Memory: used, else requested, else `defaultMemoryMb` for the whole job. KB per processor is
 *   multiplied by the job's processors (after `maxCpus`, so a job squeezed onto fewer processors
 *   asks for proportionally less memory) and rounded up to whole MB.
 * - Submit time -1: skipped. Submit times are made relative to the earliest job record that
 *   parsed (kept or skipped), so a trace's clock does not shift with what was skipped.
 *
 * CSV: a header line names the columns submit, runtime, cpus, memoryMb and optionally gpus, in any
 * order; other columns are ignored; '#' lines are comments (returned as the header). Its times are
 * taken as they are: already seconds from the start of the run, where negative means queued
 * before the start (see JobSpec).
 */
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { isTimeZone } from "../config/schedules.js";
import { seededRandom } from "../random.js";
import type { JobSpec } from "./scenarios.js";

export type TraceFormat = "swf" | "csv";

export interface TraceOptions {
  /** Multiplies submit times and run times (after the window is cut). Default 1. */
  timeScale?: number;
  /** Caps the processors of each job. */
  maxCpus?: number;
  /** Only jobs submitted in [from, until) seconds of the trace; the window then starts at 0. */
  window?: { from?: number; until?: number };
  /** Stop at the first bad line with a TraceError, instead of reporting it and going on. */
  strict?: boolean;
  /** Memory of an SWF job whose trace gives none. Default 1024 MB. */
  defaultMemoryMb?: number;
}

export interface TraceProblem {
  file: string;
  line: number;
  message: string;
}

export interface Trace {
  /** Sorted by submit time. */
  jobs: JobSpec[];
  format: TraceFormat;
  /** The comment lines, as written ('; ...' for SWF, '# ...' for CSV). */
  header: string[];
  /** SWF header comments "; Key: value" by key; repeated keys and continuations joined by "\n". */
  headerFields: Record<string, string>;
  /** Lines that could not be read (only when not strict). */
  problems: TraceProblem[];
  /** Well-formed job records that could not become jobs; see `skippedBy` for why. */
  skipped: number;
  skippedBy: Record<string, number>;
  /** Jobs left out by the window option. */
  outsideWindow: number;
  /**
   * The trace's own clock, from an SWF header's UnixStartTime (and TimeZoneString): the epoch
   * second of the trace's time 0, where schedule windows are read. Absent: the trace has none.
   */
  clock?: { startAt: number; timezone?: string };
}

export class TraceError extends Error {
  override readonly name = "TraceError";
  constructor(
    readonly file: string,
    /** 1-based; absent when the problem is the file as a whole. */
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`);
  }
}

export const DEFAULT_MEMORY_MB = 1024;
const SWF_FIELDS = 18;

const gunzipAsync = promisify(gunzip);

/** Reads a trace file, gunzipping it when it starts with the gzip magic bytes. */
export async function readTrace(path: string, options: TraceOptions = {}): Promise<Trace> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    throw new TraceError(path, undefined, (error as Error).message);
  }
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = await gunzipAsync(data);
    } catch (error) {
      throw new TraceError(path, undefined, `not valid gzip: ${(error as Error).message}`);
    }
  }
  const text = data.toString("utf8");
  return parseTraceText(text, formatOf(path) ?? sniffFormat(text, path), path, options);
}

function formatOf(path: string): TraceFormat | undefined {
  const match = /\.(swf|csv)(\.gz)?$/i.exec(path);
  return match?.[1] === undefined ? undefined : (match[1].toLowerCase() as TraceFormat);
}

/** SWF if the first meaningful line is a ';' comment or 18 numbers; CSV if it has commas. */
function sniffFormat(text: string, file: string): TraceFormat {
  for (const { content } of lines(text)) {
    const line = content.trim();
    if (line === "") continue;
    if (line.startsWith(";")) return "swf";
    if (line.startsWith("#") || line.includes(",")) return "csv";
    if (line.split(/\s+/).length === SWF_FIELDS) return "swf";
    break;
  }
  throw new TraceError(file, undefined, "cannot tell whether this is SWF or CSV");
}

/** Parses a trace already in memory; `file` names it in problems and errors. */
export function parseTraceText(
  text: string,
  format: TraceFormat,
  file: string,
  options: TraceOptions = {},
): Trace {
  const settings = checkOptions(options);
  const reader = new Reader(file, settings.strict);
  const parsed = format === "swf" ? parseSwf(text, reader, settings) : parseCsv(text, reader);
  const { jobs, outsideWindow } = cut(parsed.records, parsed.origin, settings);
  const clock = traceClock(parsed.headerFields, parsed.origin, settings);
  return {
    ...(clock === undefined ? {} : { clock }),
    jobs,
    format,
    header: parsed.header,
    headerFields: parsed.headerFields,
    problems: reader.problems,
    skipped: reader.skipped,
    skippedBy: reader.skippedBy,
    outsideWindow,
  };
}

interface Settings {
  timeScale: number;
  maxCpus: number;
  from: number;
  until: number;
  strict: boolean;
  defaultMemoryMb: number;
}

function checkOptions(options: TraceOptions): Settings {
  const timeScale = options.timeScale ?? 1;
  if (!(Number.isFinite(timeScale) && timeScale > 0)) {
    throw new RangeError(`timeScale must be a positive number, not ${timeScale}`);
  }
  const maxCpus = options.maxCpus ?? Number.POSITIVE_INFINITY;
  if (!(maxCpus >= 1 && (Number.isInteger(maxCpus) || maxCpus === Number.POSITIVE_INFINITY))) {
    throw new RangeError(`maxCpus must be a whole number of at least 1, not ${maxCpus}`);
  }
  const from = options.window?.from ?? Number.NEGATIVE_INFINITY;
  const until = options.window?.until ?? Number.POSITIVE_INFINITY;
  if (Number.isNaN(from) || Number.isNaN(until) || !(from < until)) {
    throw new RangeError(`the window [${from}, ${until}) is empty`);
  }
  const defaultMemoryMb = options.defaultMemoryMb ?? DEFAULT_MEMORY_MB;
  if (!(Number.isFinite(defaultMemoryMb) && defaultMemoryMb > 0)) {
    throw new RangeError(`defaultMemoryMb must be a positive number, not ${defaultMemoryMb}`);
  }
  return { timeScale, maxCpus, from, until, strict: options.strict ?? false, defaultMemoryMb };
}

/** Collects problems and skips; in strict mode a problem throws at once. */
class Reader {
  readonly problems: TraceProblem[] = [];
  skipped = 0;
  readonly skippedBy: Record<string, number> = {};

  constructor(
    readonly file: string,
    private readonly strict: boolean,
  ) {}

  problem(line: number, message: string): void {
    if (this.strict) throw new TraceError(this.file, line, message);
    this.problems.push({ file: this.file, line, message });
  }

  skip(reason: string): void {
    this.skipped += 1;
    this.skippedBy[reason] = (this.skippedBy[reason] ?? 0) + 1;
  }
}

interface Parsed {
  /** Submit times still on the trace's own clock. */
  records: JobSpec[];
  /** The trace time that becomes 0 before the window is applied. */
  origin: number;
  header: string[];
  headerFields: Record<string, string>;
}

/** Lines without building an array of them: traces run to millions of lines. */
function* lines(text: string): Generator<{ number: number; content: string }> {
  let start = 0;
  let number = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    number += 1;
    const content = text.slice(start, end > start && text[end - 1] === "\r" ? end - 1 : end);
    yield { number, content };
    start = end + 1;
  }
}

/** "; Key: value": at most one space after ';', so an indented "http://..." is a continuation. */
const HEADER_FIELD = /^;\s?([A-Za-z][A-Za-z0-9]*):\s*(.*)$/;

function parseSwf(text: string, reader: Reader, settings: Settings): Parsed {
  const header: string[] = [];
  const headerFields: Record<string, string> = {};
  let lastKey: string | undefined;
  const records: JobSpec[] = [];
  let origin = Number.POSITIVE_INFINITY;

  for (const { number, content } of lines(text)) {
    const line = content.trim();
    if (line === "") continue;
    if (line.startsWith(";")) {
      header.push(content.trimEnd());
      const field = HEADER_FIELD.exec(line);
      if (field?.[1] !== undefined) {
        lastKey = field[1];
        const value = (field[2] ?? "").trim();
        const previous = headerFields[lastKey];
        headerFields[lastKey] = previous === undefined ? value : `${previous}\n${value}`;
      } else {
        const continuation = line.slice(1).trim();
        if (continuation === "") lastKey = undefined;
        else if (lastKey !== undefined) headerFields[lastKey] += `\n${continuation}`;
      }
      continue;
    }
    lastKey = undefined;

    const fields = line.split(/\s+/);
    if (fields.length !== SWF_FIELDS) {
      reader.problem(number, `expected ${SWF_FIELDS} fields, found ${fields.length}`);
      continue;
    }
    const values = fields.map(Number);
    const bad = values.findIndex((value) => !Number.isFinite(value));
    if (bad !== -1) {
      reader.problem(number, `field ${bad + 1} is not a number: ${JSON.stringify(fields[bad])}`);
      continue;
    }
    const [, submit = -1, , runtime = -1, allocated = -1, , usedKb = -1, requested = -1] = values;
    const requestedKb = values[9] ?? -1;
    const status = values[10] ?? -1;

    if (submit < 0) {
      reader.skip("no submit time");
      continue;
    }
    origin = Math.min(origin, submit);
    if (status === 2 || status === 3 || status === 4) {
      reader.skip("partial execution (status 2, 3 or 4)");
      continue;
    }
    if (runtime < 0) {
      reader.skip("no run time");
      continue;
    }
    if (runtime === 0) {
      reader.skip("zero run time");
      continue;
    }
    const procs = allocated > 0 ? allocated : requested;
    if (!(procs > 0)) {
      reader.skip("no processor count");
      continue;
    }
    const cpus = Math.min(Math.ceil(procs), settings.maxCpus);
    const kbPerProc = usedKb > 0 ? usedKb : requestedKb;
    const memoryMb =
      kbPerProc > 0
        ? Math.max(1, Math.ceil((kbPerProc * cpus) / 1024))
        : Math.ceil(settings.defaultMemoryMb);
    records.push({ submitAt: submit, runtime, cpus, memoryMb, gpus: 0 });
  }
  return { records, origin: Number.isFinite(origin) ? origin : 0, header, headerFields };
}

const CSV_REQUIRED = ["submit", "runtime", "cpus", "memoryMb"] as const;

function parseCsv(text: string, reader: Reader): Parsed {
  const header: string[] = [];
  const records: JobSpec[] = [];
  let columns: Record<string, number> | undefined;

  for (const { number, content } of lines(text)) {
    const line = content.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      header.push(content.trimEnd());
      continue;
    }
    const cells = splitCsvLine(line);
    if (cells === undefined) {
      reader.problem(number, "unbalanced quotes");
      continue;
    }
    if (columns === undefined) {
      columns = csvColumns(cells, reader.file, number);
      continue;
    }
    const job = csvJob(cells, columns);
    if (typeof job === "string") reader.problem(number, job);
    else records.push(job);
  }
  if (columns === undefined) {
    throw new TraceError(reader.file, undefined, "no header line naming the columns");
  }
  return { records, origin: 0, header, headerFields: {} };
}

/** Column positions by name (case-insensitive); a header missing a required column is fatal. */
function csvColumns(cells: string[], file: string, line: number): Record<string, number> {
  const positions: Record<string, number> = {};
  cells.forEach((cell, index) => {
    const name = cell.toLowerCase();
    if (positions[name] === undefined) positions[name] = index;
  });
  const missing = CSV_REQUIRED.filter((name) => positions[name.toLowerCase()] === undefined);
  if (missing.length > 0) {
    throw new TraceError(file, line, `the header has no column ${missing.join(", ")}`);
  }
  return positions;
}

/** One job, or what is wrong with the line. */
function csvJob(cells: string[], columns: Record<string, number>): JobSpec | string {
  const cell = (name: string): string | undefined => {
    const index = columns[name.toLowerCase()];
    return index === undefined ? undefined : cells[index];
  };
  const number = (name: string): number | string => {
    const raw = cell(name);
    if (raw === undefined || raw === "") return `${name} is missing`;
    const value = Number(raw);
    return Number.isFinite(value) ? value : `${name} is not a number: ${JSON.stringify(raw)}`;
  };
  const submitAt = number("submit");
  if (typeof submitAt === "string") return submitAt;
  const runtime = number("runtime");
  if (typeof runtime === "string") return runtime;
  if (runtime <= 0) return `runtime must be positive, not ${runtime}`;
  const cpus = number("cpus");
  if (typeof cpus === "string") return cpus;
  if (!(Number.isInteger(cpus) && cpus >= 1)) return `cpus must be a whole number ≥ 1, not ${cpus}`;
  const memoryMb = number("memoryMb");
  if (typeof memoryMb === "string") return memoryMb;
  if (memoryMb <= 0) return `memoryMb must be positive, not ${memoryMb}`;
  const rawGpus = cell("gpus");
  const gpus = rawGpus === undefined || rawGpus === "" ? 0 : Number(rawGpus);
  if (!(Number.isInteger(gpus) && gpus >= 0)) {
    return `gpus must be a whole number ≥ 0, not ${JSON.stringify(rawGpus)}`;
  }
  return { submitAt, runtime, cpus, memoryMb, gpus };
}

/** Splits one CSV line, honouring double quotes ("" inside quotes is a quote); undefined if unbalanced. */
function splitCsvLine(line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(",").map((cell) => cell.trim());
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i];
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") {
      cells.push(cell.trim());
      cell = "";
    } else cell += char;
  }
  if (quoted) return undefined;
  cells.push(cell.trim());
  return cells;
}

/** Re-bases on the origin, cuts the window, re-bases on its start, scales, caps and sorts. */
/** Submit times are relative to UnixStartTime; ours to the earliest record and the window. */
function traceClock(
  fields: Record<string, string>,
  origin: number,
  settings: Settings,
): Trace["clock"] {
  const unixStart = Number(fields.UnixStartTime?.trim());
  if (fields.UnixStartTime === undefined || !Number.isFinite(unixStart)) return undefined;
  const zone = fields.TimeZoneString?.trim();
  return {
    startAt: unixStart + origin + (Number.isFinite(settings.from) ? settings.from : 0),
    ...(zone !== undefined && zone !== "" && isTimeZone(zone) ? { timezone: zone } : {}),
  };
}

function cut(
  records: JobSpec[],
  origin: number,
  settings: Settings,
): { jobs: JobSpec[]; outsideWindow: number } {
  const { from, until, timeScale, maxCpus } = settings;
  const start = Number.isFinite(from) ? from : 0;
  const jobs: JobSpec[] = [];
  let outsideWindow = 0;
  for (const record of records) {
    const at = record.submitAt - origin;
    if (at < from || at >= until) {
      outsideWindow += 1;
      continue;
    }
    record.submitAt = (at - start) * timeScale;
    record.runtime *= timeScale;
    if (record.cpus > maxCpus) record.cpus = maxCpus;
    jobs.push(record);
  }
  jobs.sort((a, b) => a.submitAt - b.submitAt);
  return { jobs, outsideWindow };
}

export interface SyntheticOptions {
  jobs: number;
  seed?: number;
  /** Mean seconds between submissions (exponential: a Poisson stream). Default 60. */
  meanInterarrival?: number;
  /** Mean run time in seconds (exponential, at least 1 s). Default 1800. */
  meanRuntime?: number;
  /** Jobs take a power of two cpus up to this, each size about as likely. Default 8. */
  maxCpus?: number;
}

/** Memory a synthetic job asks for, per cpu. */
const SYNTHETIC_MB_PER_CPU = 2048;

/**
 * A made-up workload, identical for the same options and seed. Submit times start at 0 and are
 * whole seconds; memory is 2 GB per cpu; no gpus. Cheap enough for a million jobs.
 */
export function syntheticTrace(options: SyntheticOptions): JobSpec[] {
  const { jobs: count, seed = 1, meanInterarrival = 60, meanRuntime = 1800, maxCpus = 8 } = options;
  if (!(Number.isInteger(count) && count >= 0)) {
    throw new RangeError(`jobs must be a whole number ≥ 0, not ${count}`);
  }
  if (!(meanInterarrival >= 0 && Number.isFinite(meanInterarrival))) {
    throw new RangeError(`meanInterarrival must be ≥ 0, not ${meanInterarrival}`);
  }
  if (!(meanRuntime > 0 && Number.isFinite(meanRuntime))) {
    throw new RangeError(`meanRuntime must be positive, not ${meanRuntime}`);
  }
  if (!(Number.isInteger(maxCpus) && maxCpus >= 1)) {
    throw new RangeError(`maxCpus must be a whole number ≥ 1, not ${maxCpus}`);
  }
  const random = seededRandom(seed);
  const sizes = Math.floor(Math.log2(maxCpus)) + 1;
  const jobs = new Array<JobSpec>(count);
  let clock = 0;
  for (let i = 0; i < count; i += 1) {
    if (i > 0) clock -= meanInterarrival * Math.log(1 - random());
    const runtime = Math.max(1, Math.round(-meanRuntime * Math.log(1 - random())));
    const cpus = 2 ** Math.floor(random() * sizes);
    jobs[i] = {
      submitAt: Math.round(clock),
      runtime,
      cpus,
      memoryMb: cpus * SYNTHETIC_MB_PER_CPU,
      gpus: 0,
    };
  }
  return jobs;
}
