#!/usr/bin/env node
/** The command line. Command names and JSON fields are a public contract: extend, never rename. */
import { Command, Option } from "commander";
import { DEMO_CONFIG_DIR } from "./commands/paths.js";
import { planCommand } from "./commands/plan.js";
import { runCommand } from "./commands/run.js";
import { statusCommand } from "./commands/status.js";
import { validateCommand } from "./commands/validate.js";
import { jsonSchemas } from "./config/schema.js";

const program = new Command()
  .name("condor-autoscaler")
  .description("Elastic autoscaler for HTCondor pools on competitive clouds")
  .version("0.1.0")
  .showHelpAfterError();

const configOption = () =>
  new Option(
    "-c, --config <dir>",
    "config directory (autoscaler.yaml + clouds.d/); default: the built-in simulated demo",
  ).default(DEMO_CONFIG_DIR, "built-in demo");

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
  .addOption(
    new Option("--log-format <format>", "override logging.format").choices(["json", "pretty"]),
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
    process.exitCode = await runCommand(options);
  });

program
  .command("plan")
  .description("observe once and print what the next tick would do (changes nothing)")
  .addOption(configOption())
  .option("--json", "print JSON: {demand, workers, actions, unfit, notes}", false)
  .action(async (options: { config: string; json: boolean }) => {
    process.exitCode = await planCommand(options.config, options.json);
  });

program
  .command("status")
  .description("ask the running daemon for its workers and clouds (GET /status) and print them")
  .addOption(configOption())
  .option("--url <url>", "the daemon's status endpoint; default: the config's status address")
  .option("--json", "print the /status document as JSON", false)
  .action(async (options: { config: string; url?: string; json: boolean }) => {
    process.exitCode = await statusCommand(options);
  });

program
  .command("validate")
  .description(
    "check a config directory; exit 0 if valid, else print file:line field: problem and exit 1",
  )
  .argument("<dir>", "config directory")
  .action(async (dir: string) => {
    process.exitCode = await validateCommand(dir);
  });

program
  .command("schema")
  .description("print the JSON Schema of the policy files (for editors)")
  .action(() => {
    process.stdout.write(`${JSON.stringify(jsonSchemas(), null, 2)}\n`);
  });

await program.parseAsync(process.argv);
