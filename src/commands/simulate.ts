/**
 * `condor-autoscaler simulate`: replays a trace through each policy (config directories and
 * built-in baselines) with the simulator, then prints the side-by-side report.
 */
import { constants } from "node:fs";
import { access, stat, writeFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { loadConfig } from "../config/load.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { ConfigError } from "../model/errors.js";
import { elastiqClassic, staticPool } from "../sim/baselines.js";
import { CHAOS_DEFAULTS } from "../sim/chaos.js";
import { DEFAULT_SIM_EPOCH, InvariantViolation, type SimPolicy, simulate } from "../sim/engine.js";
import { plotSvg } from "../sim/plot.js";
import { formatNotes, formatTable, ProgressBar, summarise, toJson } from "../sim/report.js";
import type { SimRun } from "../sim/run.js";
import { readTrace, TraceError, type TraceOptions } from "../sim/trace.js";
import { DEMO_CONFIG_DIR } from "./paths.js";

export interface SimulateOptions {
  trace: string;
  config: string[];
  baseline: string[];
  seed: number;
  json: boolean;
  plot?: string;
  faults: number;
  chaos: boolean;
  brokenCloud?: string;
  maxCpus?: number;
  timeScale?: number;
  strict: boolean;
}

type BaselineSpec = { kind: "elastiq-classic" } | { kind: "static"; workers: number };

/** A baseline's command-line name, or what is wrong with it (checked before any run starts). */
export function parseBaseline(name: string): BaselineSpec | string {
  if (name === "elastiq-classic") return { kind: "elastiq-classic" };
  const match = /^static:(\d+)$/.exec(name);
  if (match !== null) return { kind: "static", workers: Number(match[1]) };
  return `--baseline ${name}: unknown baseline (elastiq-classic or static:N, N a whole number of workers)`;
}

/** A baseline; it runs on the clouds of `config`. */
function baselinePolicy(
  name: string,
  spec: BaselineSpec,
  config: AutoscalerConfig,
  seed: number,
): SimPolicy {
  const baseline = spec.kind === "static" ? staticPool(spec.workers) : elastiqClassic({ seed });
  return { name, config, planner: baseline.planner, timers: baseline.timers };
}

/** Why `path` cannot be written, or undefined: checked before the run, which may take minutes. */
async function unwritable(path: string): Promise<string | undefined> {
  const found = await stat(path).catch(() => undefined);
  if (found?.isDirectory()) return "is a directory";
  try {
    await access(found === undefined ? dirname(resolve(path)) : path, constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT"
      ? `its directory ${dirname(path)} does not exist`
      : `not writable (${code ?? (error as Error).message})`;
  }
}

/** "173 records skipped: 150 zero run time, 23 no run time". */
function skippedText(skipped: number, by: Record<string, number>): string {
  const reasons = Object.entries(by)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, count]) => `${count} ${reason}`)
    .join(", ");
  return `${skipped} record${skipped === 1 ? "" : "s"} skipped: ${reasons}`;
}

/** Where schedule windows are read: the trace's clock when its header gives one. */
function scheduleClock(clock: { startAt: number; timezone?: string } | undefined): string {
  if (clock === undefined)
    return `schedules: the trace has no clock of its own (no UnixStartTime): read from ${new Date(DEFAULT_SIM_EPOCH * 1000).toISOString()}, UTC`;
  return `schedules: read on the trace's clock, from ${new Date(clock.startAt * 1000).toISOString()}, ${clock.timezone ?? "UTC"} where a schedule names no timezone`;
}

export async function simulateCommand(options: SimulateOptions): Promise<number> {
  const err = (text: string) => process.stderr.write(`${text}\n`);
  const baselines: Array<{ name: string; spec: BaselineSpec }> = [];
  for (const name of options.baseline) {
    const spec = parseBaseline(name);
    if (typeof spec === "string") {
      err(spec);
      return 1;
    }
    baselines.push({ name, spec });
  }
  if (options.plot !== undefined) {
    const why = await unwritable(options.plot);
    if (why !== undefined) {
      err(`--plot ${options.plot}: cannot write there: ${why}`);
      return 1;
    }
  }
  const traceOptions: TraceOptions = {
    strict: options.strict,
    ...(options.maxCpus === undefined ? {} : { maxCpus: options.maxCpus }),
    ...(options.timeScale === undefined ? {} : { timeScale: options.timeScale }),
  };
  let jobs: Awaited<ReturnType<typeof readTrace>>;
  try {
    jobs = await readTrace(options.trace, traceOptions);
  } catch (error) {
    if (error instanceof TraceError || error instanceof RangeError) {
      err(`trace: ${error.message}`);
      return 1;
    }
    throw error;
  }
  for (const problem of jobs.problems.slice(0, 10))
    err(`${problem.file}:${problem.line}: ${problem.message} (line skipped)`);
  if (jobs.problems.length > 10) err(`… and ${jobs.problems.length - 10} more bad lines`);
  const skipped = jobs.skipped > 0 ? skippedText(jobs.skipped, jobs.skippedBy) : undefined;
  if (jobs.jobs.length === 0) {
    const why = [
      ...(skipped === undefined ? [] : [skipped]),
      ...(jobs.problems.length > 0 ? [`${jobs.problems.length} bad lines`] : []),
    ];
    err(
      `trace: ${options.trace} has no jobs to simulate${why.length > 0 ? ` (${why.join("; ")})` : ""}`,
    );
    return 1;
  }
  if (skipped !== undefined && options.json) err(`trace: ${skipped}`);

  const dirs = options.config.length > 0 ? options.config : [DEMO_CONFIG_DIR];
  const configs: Array<{ name: string; config: AutoscalerConfig }> = [];
  for (const dir of dirs) {
    try {
      configs.push({ name: basename(resolve(dir)), config: await loadConfig(dir) });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      err(`invalid configuration in ${dir}:\n${error.message}`);
      return 1;
    }
  }
  const first = configs[0];
  if (first === undefined) return 1;
  const policies: SimPolicy[] = [
    ...configs.map(({ name, config }) => ({ name, config })),
    ...baselines.map(({ name, spec }) => baselinePolicy(name, spec, first.config, options.seed)),
  ];

  const runs: SimRun[] = [];
  for (const policy of policies) {
    const progress = new ProgressBar(process.stderr, jobs.jobs.length, { label: policy.name });
    try {
      runs.push(
        await simulate(jobs.jobs, policy, {
          seed: options.seed,
          faults: options.faults,
          observation: {
            ...(options.chaos ? CHAOS_DEFAULTS : {}),
            ...(options.brokenCloud === undefined ? {} : { brokenCloud: options.brokenCloud }),
          },
          ...(jobs.clock === undefined ? {} : { startAt: jobs.clock.startAt }),
          ...(jobs.clock?.timezone === undefined ? {} : { timezone: jobs.clock.timezone }),
          onProgress: (done) => progress.update(done),
        }),
      );
    } catch (error) {
      progress.done();
      if (error instanceof InvariantViolation) {
        err(`INVARIANT VIOLATED: ${error.message}`);
        return 1;
      }
      throw error;
    }
    progress.done();
  }

  const reports = runs.map(summarise);
  if (options.json) process.stdout.write(toJson(reports));
  else {
    process.stdout.write(
      `${options.trace}: ${jobs.jobs.length} jobs${skipped === undefined ? "" : ` (${skipped})`}, seed ${options.seed}${options.faults > 0 ? `, faults ${Math.round(options.faults * 100)} %` : ""}${options.chaos ? ", chaos (collector restarts, listing lag)" : ""}${options.brokenCloud === undefined ? "" : `, ${options.brokenCloud} broken (auth)`}\n\n`,
    );
    if (policies.some((p) => p.config.clouds.some((c) => c.schedules.length > 0)))
      process.stdout.write(`${scheduleClock(jobs.clock)}\n\n`);
    process.stdout.write(`${formatTable(reports)}\n`);
    const notes = formatNotes(reports);
    if (notes.length > 0) process.stdout.write(`\n${notes.join("\n")}\n`);
  }
  if (options.plot !== undefined) {
    try {
      await writeFile(options.plot, plotSvg(runs, { title: basename(options.trace) }));
    } catch (error) {
      err(`--plot ${options.plot}: cannot write there: ${(error as Error).message}`);
      return 1;
    }
    if (!options.json) process.stdout.write(`\nplot: ${options.plot}\n`);
  }
  return 0;
}
