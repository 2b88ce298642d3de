/**
 * Runs the real command line in a child process, from the built code (dist/, which `npm test`
 * builds before the tests run): startup then costs what it costs a user, not a TypeScript compile
 * per child on a busy machine.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "../..");
const BUILT_CLI = join(ROOT, "dist/cli.js");
/** Generous: a command that has not ended by then is reported as a timeout, never as exit 1. */
const CLI_TIMEOUT_MS = 120_000;

let checked = false;
/** Refuses to test stale code: dist/cli.js must be younger than every file of src/. */
export function builtCli(): string {
  if (checked) return BUILT_CLI;
  let built: number;
  try {
    built = statSync(BUILT_CLI).mtimeMs;
  } catch {
    throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` (npm test does)`);
  }
  const newer = (readdirSync(join(ROOT, "src"), { recursive: true }) as string[]).find(
    (file) => file.endsWith(".ts") && statSync(join(ROOT, "src", file)).mtimeMs > built,
  );
  if (newer !== undefined)
    throw new Error(`src/${newer} is newer than dist/: run \`npm run build\` (npm test does)`);
  checked = true;
  return BUILT_CLI;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(
  args: readonly string[],
  timeoutMs = CLI_TIMEOUT_MS,
  env: Readonly<Record<string, string>> = {},
): Promise<CliResult> {
  const cliPath = builtCli();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { cwd: ROOT, timeout: timeoutMs, killSignal: "SIGKILL", env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        if (error?.killed) {
          reject(
            new Error(
              `condor-autoscaler ${args.join(" ")}: timed out after ${timeoutMs / 1000}s (stderr: ${stderr.slice(0, 2000)})`,
            ),
          );
          return;
        }
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts the command line and leaves it running. */
export function startCli(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, [builtCli(), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Parses bunyan JSON lines. */
export function records(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
