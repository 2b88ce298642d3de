/**
 * Runs an HTCondor command-line tool without a shell, with a timeout and bounded retries.
 * A call that still fails throws a CondorError naming the command and its stderr.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CONDOR_RETRY_DELAY, DEFAULT_CONDOR_MAX_OUTPUT_MB } from "../config/defaults.js";
import { CondorError } from "../model/errors.js";

export interface ToolOptions {
  /** Directory of the tools; undefined: found on PATH. */
  binDir?: string;
  timeoutSeconds: number;
  retries: number;
  /** Pause between attempts; tests shorten it. */
  retryDelaySeconds?: number;
  /** The largest answer read; default DEFAULT_MAX_OUTPUT_BYTES. */
  maxOutputBytes?: number;
}

/**
 * The largest answer read: a pool of 100k slots prints about 60 MB of projected ads. Memory while
 * reading is bounded by about twice this (the chunks, then the text); a larger answer is refused
 * as malformed, never read. (V8 cannot make a string of more than about 512 MB at all.)
 */
export const DEFAULT_MAX_OUTPUT_BYTES = DEFAULT_CONDOR_MAX_OUTPUT_MB * 1024 * 1024;
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

/** What one run of a tool gave: its stdout, or why it gave none. */
function once(
  path: string,
  args: readonly string[],
  command: string,
  timeoutSeconds: number,
  maxOutputBytes: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let child: ReturnType<typeof spawn>;
    try {
      // Its own process group: a timeout kills the tool and whatever it started (a wrapper's children).
      child = spawn(path, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      reject(new CondorError("spawn", command, `cannot run ${path}: ${code}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = "";
    let failure: CondorError | undefined;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL"); // the group is gone already, or was never made
      }
    };
    const timer = setTimeout(() => {
      failure ??= new CondorError("timeout", command, `no answer within ${timeoutSeconds}s`);
      killGroup();
    }, timeoutSeconds * 1000);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (failure !== undefined) return;
      size += chunk.length;
      if (size > maxOutputBytes) {
        // Read no further: a runaway answer must not take the daemon's memory with it.
        failure = new CondorError(
          "output",
          command,
          `answer larger than ${maxOutputBytes} bytes: not read (condor.maxOutput)`,
        );
        chunks.length = 0;
        killGroup();
        return;
      }
      chunks.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-STDERR_KEPT);
    });
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const hint = error.code === "ENOENT" ? "not found (set condor.binDir, or PATH)" : error.code;
      reject(new CondorError("spawn", command, `cannot run ${path}: ${hint ?? error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const tail = stderr.trim().slice(-STDERR_KEPT);
      if (failure !== undefined) {
        reject(new CondorError(failure.failure, command, failure.detail, tail));
        return;
      }
      if (code === 0) {
        resolve(Buffer.concat(chunks, size).toString("utf8"));
        return;
      }
      const why = code === null ? `killed by ${signal ?? "a signal"}` : `exit code ${code}`;
      reject(new CondorError("exit", command, why, tail));
    });
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
      const stdout = await once(
        path,
        args,
        command,
        options.timeoutSeconds,
        options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
      );
      return read(stdout, command);
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
