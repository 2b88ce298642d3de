/**
 * Runs an HTCondor command-line tool without a shell, with a timeout and bounded retries.
 * A call that still fails throws a CondorError naming the command and its stderr.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CONDOR_RETRY_DELAY } from "../config/defaults.js";
import { CondorError } from "../model/errors.js";

export interface ToolOptions {
  /** Directory of the tools; undefined: found on PATH. */
  binDir?: string;
  timeoutSeconds: number;
  retries: number;
  /** Pause between attempts; tests shorten it. */
  retryDelaySeconds?: number;
}

/** Large pools print hundreds of megabytes of ads; the limit only guards against a runaway tool. */
const MAX_OUTPUT_BYTES = 1024 * 1024 * 1024;
/** Enough of stderr to see what went wrong, not a flood in the log. */
const STDERR_KEPT = 2000;

/**
 * Tools that HTCondor's tarball and its Debian and RPM packages install in `sbin`, beside `bin`:
 * with binDir set they are looked for there too.
 */
const SBIN_TOOLS: ReadonlySet<string> = new Set(["condor_advertise"]);

/** Where a tool is run from: on PATH without binDir; else binDir, or its sibling sbin. */
export function toolPath(tool: string, binDir: string | undefined): string {
  if (binDir === undefined) return tool;
  const inBin = join(binDir, tool);
  if (!SBIN_TOOLS.has(tool) || existsSync(inBin)) return inBin;
  const inSbin = join(dirname(binDir), "sbin", tool);
  return existsSync(inSbin) ? inSbin : inBin;
}

/** How a person would type the command: for logs and errors only, never executed. */
export function commandLine(tool: string, args: readonly string[]): string {
  const quote = (arg: string) =>
    /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
  return [tool, ...args].map(quote).join(" ");
}

function once(
  path: string,
  args: readonly string[],
  command: string,
  timeoutSeconds: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path,
      args,
      {
        timeout: timeoutSeconds * 1000,
        killSignal: "SIGKILL",
        maxBuffer: MAX_OUTPUT_BYTES,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout);
        const tail = stderr.trim().slice(-STDERR_KEPT);
        const code = (error as NodeJS.ErrnoException).code;
        if (error.killed && (error as { signal?: string }).signal === "SIGKILL") {
          reject(new CondorError("timeout", command, `no answer within ${timeoutSeconds}s`, tail));
        } else if (typeof code === "string") {
          const hint = code === "ENOENT" ? "not found (set condor.binDir, or PATH)" : code;
          reject(new CondorError("spawn", command, `cannot run ${path}: ${hint}`, tail));
        } else {
          reject(
            new CondorError("exit", command, `exit code ${String(code ?? error.message)}`, tail),
          );
        }
      },
    );
  });
}

/**
 * Runs a tool and reads its output with `read`; a malformed or truncated answer is retried like
 * a failed call, since a schedd that dropped the connection mid-answer may well answer next time.
 */
export async function queryTool<T>(
  tool: string,
  args: readonly string[],
  options: ToolOptions,
  read: (stdout: string, command: string) => T,
): Promise<T> {
  const path = toolPath(tool, options.binDir);
  const command = commandLine(tool, args);
  let lastError: unknown;
  for (let attempt = 0; attempt <= options.retries; attempt += 1) {
    if (attempt > 0) await sleep((options.retryDelaySeconds ?? CONDOR_RETRY_DELAY) * 1000);
    try {
      return read(await once(path, args, command, options.timeoutSeconds), command);
    } catch (error) {
      lastError = error;
      // A tool that is not there will not appear on the next attempt.
      if (error instanceof CondorError && error.failure === "spawn") break;
    }
  }
  throw lastError;
}

export function runTool(
  tool: string,
  args: readonly string[],
  options: ToolOptions,
): Promise<string> {
  return queryTool(tool, args, options, (stdout) => stdout);
}
