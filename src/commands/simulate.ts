/**
 * `condor-autoscaler simulate`: replays a trace through each policy (config directories and
 * built-in baselines) with the simulator, then prints the side-by-side report.
 */
import { writeFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { loadConfig } from "../config/load.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { ConfigError } from "../model/errors.js";
import { elastiqClassic, staticPool } from "../sim/baselines.js";
import { CHAOS_DEFAULTS } from "../sim/chaos.js";
import { InvariantViolation, type SimPolicy, simulate } from "../sim/engine.js";
import { formatTable, ProgressBar, plotSvg, summarise, toJson } from "../sim/report.js";
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

/** A baseline by its command-line name; it runs on the clouds of `config`. */
function baselinePolicy(name: string, config: AutoscalerConfig, seed: number): SimPolicy {
  if (name === "elastiq-classic") {
    const baseline = elastiqClassic({ seed });
    return { name, config, planner: baseline.planner, timers: baseline.timers };
  }
  const match = /^static:(\d+)$/.exec(name);
  if (match !== null) {
    const baseline = staticPool(Number(match[1]));
    return { name, config, planner: baseline.planner, timers: baseline.timers };
  }
  throw new Error(`unknown baseline ${name}: elastiq-classic or static:N`);
}

export async function simulateCommand(options: SimulateOptions): Promise<number> {
  const err = (text: string) => process.stderr.write(`${text}\n`);
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
    ...options.baseline.map((name) => baselinePolicy(name, first.config, options.seed)),
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
      `${options.trace}: ${jobs.jobs.length} jobs${jobs.skipped > 0 ? ` (${jobs.skipped} records skipped)` : ""}, seed ${options.seed}${options.faults > 0 ? `, faults ${Math.round(options.faults * 100)} %` : ""}${options.chaos ? ", chaos (collector restarts, listing lag)" : ""}${options.brokenCloud === undefined ? "" : `, ${options.brokenCloud} broken (auth)`}\n\n`,
    );
    process.stdout.write(formatTable(reports));
  }
  if (options.plot !== undefined) {
    await writeFile(options.plot, plotSvg(runs, { title: basename(options.trace) }));
    if (!options.json) process.stdout.write(`\nplot: ${options.plot}\n`);
  }
  return 0;
}
