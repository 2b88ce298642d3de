#!/usr/bin/env node
/** The command line. Command names and JSON fields are a public contract: extend, never rename. */
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { DEMO_CONFIG_DIR } from "./commands/paths.js";
import type { SimulateOptions } from "./commands/simulate.js";
import { SCHEMA_KINDS, type SchemaKind } from "./config/schema-kinds.js";

// Each command's module is imported when it runs: `--help` must not load every cloud's SDK.

const program = new Command()
  .name("condor-autoscaler")
  .description("Elastic autoscaler for HTCondor pools on competitive clouds")
  .version("0.1.0")
  .showHelpAfterError();

const configOption = () =>
  new Option("-c, --config <dir>", "config directory (autoscaler.yaml + clouds.d/)").default(
    DEMO_CONFIG_DIR,
    "the built-in simulated demo",
  );

program
  .command("run")
  .description("run the daemon: observe, plan and act every tick until SIGTERM/SIGINT")
  .addOption(configOption())
  .option("--dry-run", "observe and plan, log every action it would take, change nothing", false)
  .option("--once", "run a single tick and exit", false)
  .option(
    "--pidfile <path>",
    "write this pidfile; refuse to start while another live daemon holds it",
  )
  .option(
    "--state <path>",
    "keep which workers have joined the pool in this file, so a restart never takes one for stuck",
  )
  .addOption(
    new Option("--log-format <format>", "override logging.format").choices([
      "auto",
      "json",
      "pretty",
    ]),
  )
  .addOption(
    new Option("--log-level <level>", "override logging.level").choices([
      "trace",
      "debug",
      "info",
      "warn",
      "error",
      "fatal",
    ]),
  )
  .action(async (options) => {
    const { runCommand } = await import("./commands/run.js");
    process.exitCode = await runCommand(options);
  });

program
  .command("plan")
  .description(
    "observe once and print what the next tick would do (changes nothing); exit 3 when a source could not be read",
  )
  .addOption(configOption())
  .option("--json", "print JSON: {demand, workers, actions, unfit, notes, unobserved}", false)
  .action(async (options: { config: string; json: boolean }) => {
    const { planCommand } = await import("./commands/plan.js");
    process.exitCode = await planCommand(options.config, options.json);
  });

program
  .command("check")
  .description(
    "preflight: the HTCondor tools answer as this user, token and template are readable, each cloud's credentials, lookups and quota work; one line each, exit 1 on any FAIL (changes nothing)",
  )
  .addOption(configOption())
  .action(async (options: { config: string }) => {
    const { checkCommand } = await import("./commands/check.js");
    process.exitCode = await checkCommand(options.config);
  });

program
  .command("status")
  .description("ask the running daemon for its workers and clouds (GET /status) and print them")
  .addOption(configOption())
  .option("--url <url>", "the daemon's status endpoint; default: the config's status address")
  .option(
    "--token-file <file>",
    "file holding the endpoint's bearer token; default: the config's status.tokenFile",
  )
  .option("--json", "print the /status document as JSON", false)
  .action(async (options: { config: string; url?: string; tokenFile?: string; json: boolean }) => {
    const { statusCommand } = await import("./commands/status.js");
    process.exitCode = await statusCommand(options);
  });

program
  .command("validate")
  .description(
    "check a config directory; exit 0 if valid, else print file:line field: problem and exit 1",
  )
  .argument("<dir>", "config directory")
  .action(async (dir: string) => {
    const { validateCommand } = await import("./commands/validate.js");
    process.exitCode = await validateCommand(dir);
  });

program
  .command("schema")
  .description(
    "print the JSON Schema of autoscaler.yaml or of a cloud file (for editors; schema/ holds both), or of both",
  )
  .addArgument(new Argument("[kind]", "which file").choices(SCHEMA_KINDS))
  .action(async (kind?: SchemaKind) => {
    const { jsonSchema, jsonSchemas } = await import("./config/schema.js");
    const schema = kind === undefined ? jsonSchemas() : jsonSchema(kind);
    process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  });

const collect = (value: string, previous: string[]) => [...previous, value];
/** A repeatable option, collected into a list; `shown` says in --help what none given means. */
const repeatable = (flags: string, description: string, shown: string) =>
  new Option(flags, description).argParser(collect).default([], shown);
const number = (what: string, check: (n: number) => boolean) => (value: string) => {
  const parsed = Number(value);
  if (!check(parsed)) throw new InvalidArgumentError(`${what}: not ${value}`);
  return parsed;
};

program
  .command("simulate")
  .description(
    "replay a workload trace (SWF, plain or gzipped, or CSV) through policies and compare them",
  )
  .requiredOption("--trace <file>", "the trace: .swf, .swf.gz, .csv")
  .option(
    "--site <dir>",
    "the clouds every policy and baseline runs on: this config directory's clouds.d (provider, boot delays, quota, failures, price, worker shape, maxWorkers)",
  )
  .addOption(
    repeatable(
      "--policy <dir>",
      "a policy to simulate on the site (repeatable): its autoscaler.yaml knobs and clouds.d policy fields (idleTimeout, minWorkers, priority, …); what it leaves out is the site's",
      "the site's own",
    ),
  )
  .addOption(
    repeatable(
      "-c, --config <dir>",
      "a directory that is site and policy at once (repeatable, all on the same clouds; not with --site/--policy)",
      "the built-in demo",
    ),
  )
  .addOption(
    repeatable(
      "--baseline <name>",
      "also simulate elastiq-classic, static:N or clairvoyant (knows every arrival: the limit for the site) on the site (repeatable)",
      "none",
    ),
  )
  .option(
    "--seed <n>",
    "random seed: the same seed gives the same run",
    number("a whole number", Number.isInteger),
    1,
  )
  .option("--json", "print the report as JSON: {policies: [...]}", false)
  .option(
    "--plot <file.svg>",
    "write an SVG plot: cumulative wasted worker-hours and cost per policy, the wait CDF, and per policy its workers by state and idle jobs over time",
  )
  .option(
    "--window <from:to>",
    "plot only this span of the run in the time panels: durations from its start, such as 30d:37d",
  )
  .option(
    "--faults <rate>",
    "chaos: inject provider errors of every kind at this rate (0-1) and check the invariants every tick",
    number("a rate between 0 and 1", (n) => n >= 0 && n <= 1),
    0,
  )
  .option(
    "--chaos",
    "partial observation: the collector restarts every 6h (no ads for 5m), listings lag new instances by 90s; invariants checked against the simulated truth every tick",
    false,
  )
  .option(
    "--broken-cloud <name>",
    "every listing of this cloud answers auth (expired credentials), from the start",
  )
  .option(
    "--max-cpus <n>",
    "cap the cpus of each job",
    number("a positive whole number", (n) => Number.isInteger(n) && n > 0),
  )
  .option(
    "--time-scale <factor>",
    "multiply submit and run times",
    number("a positive number", (n) => n > 0),
  )
  .option("--strict", "stop at the first bad trace line instead of skipping it", false)
  .action(async (options: SimulateOptions) => {
    const { simulateCommand } = await import("./commands/simulate.js");
    process.exitCode = await simulateCommand(options);
  });

await program.parseAsync(process.argv);
