/**
 * `condor-autoscaler simulate`: replays a trace through each policy (config directories and
 * built-in baselines) with the simulator, then prints the side-by-side report.
 */
import { constants } from "node:fs";
import { access, stat, writeFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { parseDuration } from "../config/duration.js";
import { loadConfig } from "../config/load.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { ConfigError, formatConfigProblem } from "../model/errors.js";
import { clairvoyant, elastiqClassic, siteClouds, staticPool } from "../sim/baselines.js";
import { CHAOS_DEFAULTS } from "../sim/chaos.js";
import { DEFAULT_SIM_EPOCH, InvariantViolation, type SimPolicy, simulate } from "../sim/engine.js";
import { plotSvg } from "../sim/plot.js";
import { formatNotes, formatTable, ProgressBar, summarise, toJson } from "../sim/report.js";
import type { SimRun } from "../sim/run.js";
import { applyPolicy, SiteError, siteDifference } from "../sim/site.js";
import { readTrace, TraceError, type TraceOptions } from "../sim/trace.js";
import type { TimeWindow } from "../sim/usage.js";
import { DEMO_CONFIG_DIR } from "./paths.js";

export interface SimulateOptions {
  trace: string;
  config: string[];
  /** The clouds every policy and baseline runs on. */
  site?: string;
  /** Policy knobs applied on the site's clouds (repeatable); default: the site's own. */
  policy: string[];
  baseline: string[];
  seed: number;
  json: boolean;
  plot?: string;
  /** `FROM:TO`, durations from the run's start: the span the plot's time panels show. */
  window?: string;
  faults: number;
  chaos: boolean;
  brokenCloud?: string;
  maxCpus?: number;
  timeScale?: number;
  strict: boolean;
}

type BaselineSpec =
  | { kind: "elastiq-classic" }
  | { kind: "clairvoyant" }
  | { kind: "static"; workers: number };

/** A baseline's command-line name, or what is wrong with it (checked before any run starts). */
export function parseBaseline(name: string): BaselineSpec | string {
  if (name === "elastiq-classic") return { kind: "elastiq-classic" };
  if (name === "clairvoyant") return { kind: "clairvoyant" };
  const match = /^static:(\d+)$/.exec(name);
  if (match !== null) return { kind: "static", workers: Number(match[1]) };
  return `--baseline ${name}: unknown baseline (elastiq-classic, clairvoyant or static:N, N a whole number of workers)`;
}

/** Seconds in `30d`, `1d12h`, `90m` or a plain number of seconds; undefined if none of these. */
function seconds(text: string): number | undefined {
  return /^\d+(?:\.\d+)?$/.test(text) ? Number(text) : parseDuration(text);
}

/** `--window FROM:TO` as seconds from the run's start, or what is wrong with it. */
export function parseWindow(text: string): TimeWindow | string {
  const fail = (why: string) =>
    `--window ${text}: ${why} (FROM:TO, durations from the run's start, such as 30d:37d)`;
  const parts = text.split(":");
  if (parts.length !== 2) return fail("not FROM:TO");
  const [from, to] = parts.map((part) => seconds(part.trim()));
  if (from === undefined || to === undefined) return fail("not a duration");
  if (to <= from) return fail("TO must come after FROM");
  return { from, to };
}

/** A baseline; it runs on the clouds of `config`. */
function baselinePolicy(
  name: string,
  spec: BaselineSpec,
  config: AutoscalerConfig,
  seed: number,
): SimPolicy {
  if (spec.kind === "clairvoyant")
    return { name, config, oracle: clairvoyant(siteClouds(config), config.global.tickInterval) };
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

/** A config directory, or a one-line error naming the argument and the first problem. */
async function load(argument: string, dir: string): Promise<AutoscalerConfig | string> {
  try {
    return await loadConfig(dir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const [first] = error.problems;
    const more =
      error.problems.length > 1 ? ` (and ${error.problems.length - 1} more problems)` : "";
    return `${argument}: invalid configuration: ${first === undefined ? error.message : formatConfigProblem(first)}${more}`;
  }
}

/**
 * The policies to run and the site the baselines run on. `--site` with `--policy`: every policy
 * on the site's clouds. `--config` (the old way): each directory is site and policy at once, and
 * they must be the same site, or a baseline would run on other clouds than some of them.
 */
async function choosePolicies(
  options: SimulateOptions,
  err: (text: string) => void,
): Promise<{ site: AutoscalerConfig; policies: SimPolicy[] } | undefined> {
  if (options.config.length > 0 && (options.site !== undefined || options.policy.length > 0)) {
    err(
      "--config cannot be combined with --site or --policy: --config DIR is site and policy at once; name the site with --site DIR and each policy with --policy DIR",
    );
    return undefined;
  }
  if (options.site !== undefined) {
    const site = await load(`--site ${options.site}`, options.site);
    if (typeof site === "string") {
      err(site);
      return undefined;
    }
    const policies: SimPolicy[] = [];
    for (const dir of options.policy.length > 0 ? options.policy : [options.site]) {
      try {
        policies.push({ name: basename(resolve(dir)), config: await applyPolicy(site, dir) });
      } catch (error) {
        if (!(error instanceof SiteError)) throw error;
        err(error.message);
        return undefined;
      }
    }
    return { site, policies };
  }
  if (options.policy.length > 0) {
    err("--policy needs --site DIR: the clouds every policy runs on");
    return undefined;
  }
  const dirs = options.config.length > 0 ? options.config : [DEMO_CONFIG_DIR];
  const configs: Array<{ dir: string; config: AutoscalerConfig }> = [];
  for (const dir of dirs) {
    const config = await load(`--config ${dir}`, dir);
    if (typeof config === "string") {
      err(config);
      return undefined;
    }
    configs.push({ dir, config });
  }
  const first = configs[0];
  if (first === undefined) return undefined;
  for (const { dir, config } of configs.slice(1)) {
    const differs = siteDifference(first.config, config);
    if (differs !== undefined) {
      err(
        `--config ${dir}: not the same site as --config ${first.dir}: ${differs}; name the site once with --site DIR and give each variant as --policy DIR`,
      );
      return undefined;
    }
  }
  return {
    site: first.config,
    policies: configs.map(({ dir, config }) => ({ name: basename(resolve(dir)), config })),
  };
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
  let window: TimeWindow | undefined;
  if (options.window !== undefined) {
    const parsed = parseWindow(options.window);
    if (typeof parsed === "string") {
      err(parsed);
      return 1;
    }
    if (options.plot === undefined) {
      err(`--window ${options.window}: needs --plot FILE.svg: it is the span the plot shows`);
      return 1;
    }
    window = parsed;
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

  const chosen = await choosePolicies(options, err);
  if (chosen === undefined) return 1;
  const policies: SimPolicy[] = [
    ...chosen.policies,
    ...baselines.map(({ name, spec }) => baselinePolicy(name, spec, chosen.site, options.seed)),
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
          ...(window === undefined ? {} : { window }),
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
      await writeFile(
        options.plot,
        plotSvg(runs, {
          title: basename(options.trace),
          ...(window === undefined ? {} : { window }),
        }),
      );
    } catch (error) {
      err(`--plot ${options.plot}: cannot write there: ${(error as Error).message}`);
      return 1;
    }
    if (!options.json) process.stdout.write(`\nplot: ${options.plot}\n`);
  }
  return 0;
}
