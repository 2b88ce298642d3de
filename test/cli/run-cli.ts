/** Runs the real command line in a child process (through tsx, so no build is needed). */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "../..");
const CLI = [process.execPath, "--import", "tsx", join(ROOT, "src/cli.ts")] as const;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  const [node, ...prefix] = CLI;
  return new Promise((resolve) => {
    execFile(
      node,
      [...prefix, ...args],
      { cwd: ROOT, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts the command line and leaves it running. */
export function startCli(args: readonly string[]): ChildProcess {
  const [node, ...prefix] = CLI;
  return spawn(node, [...prefix, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
}

/** Parses bunyan JSON lines. */
export function records(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
