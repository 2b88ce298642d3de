/**
 * Logging: bunyan records, as JSON lines for journald and the bunyan CLI, or as one readable line
 * each for a person at a terminal. Every record is redacted (src/daemon/redact.ts) before any
 * stream sees it, so no credential reaches the journal or a log file.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import type { Writable } from "node:stream";
import Logger from "bunyan";
import { redactRecord } from "./redact.js";

export interface LogSettings {
  level: Logger.LogLevelString;
  /** auto: pretty on a terminal, JSON otherwise (journald, a pipe, a file). */
  format: "auto" | "json" | "pretty";
  file?: string;
}

/** The format `auto` stands for, given where the records go. */
export function resolvedFormat(
  format: LogSettings["format"],
  toFile: boolean,
  out: Writable,
): "json" | "pretty" {
  if (format !== "auto") return format;
  return !toFile && (out as { isTTY?: boolean }).isTTY === true ? "pretty" : "json";
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

interface LogRecord {
  level: number;
  msg: string;
  time: Date | string;
  /** The daemon's clock when it is not the wall clock (demo, simulator). */
  at?: string;
  component?: string;
}

function isLogRecord(value: unknown): value is LogRecord {
  return typeof value === "object" && value !== null && "level" in value && "msg" in value;
}

/** `HH:MM:SS LEVEL [component] message`, one line per record. */
export function formatPretty(record: LogRecord): string {
  const time = new Date(record.at ?? record.time).toISOString().slice(11, 19);
  const level = (LEVEL_NAMES[record.level] ?? String(record.level)).padEnd(5);
  const component = record.component === undefined ? "" : `[${record.component}] `;
  return `${time} ${level} ${component}${record.msg}\n`;
}

/**
 * A log destination that fails (a full disk, a closed stdout, a file that could not be opened)
 * must not take the daemon with it: the failure is said once on stderr and records are dropped.
 */
function survivable(sink: Writable, what: string): Writable {
  let said = false;
  sink.on("error", (error: Error) => {
    if (said) return;
    said = true;
    try {
      process.stderr.write(
        `condor-autoscaler: the log (${what}) cannot be written, records are dropped: ${error.message}\n`,
      );
    } catch {
      // stderr is gone too: nothing left to tell
    }
  });
  return sink;
}

function writable(out: Writable): boolean {
  return !out.destroyed && !out.writableEnded;
}

/** One JSON line per record, as bunyan writes it, after redaction. */
class JsonStream {
  constructor(private readonly out: Writable) {}
  write(record: unknown): void {
    if (typeof record !== "object" || record === null || !writable(this.out)) return;
    const redacted = redactRecord(record);
    let line: string;
    try {
      line = JSON.stringify(redacted);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const { level, time } = redacted;
      line = JSON.stringify({ level, time, msg: `log record not serializable: ${reason}` });
    }
    this.out.write(`${line}\n`);
  }
}

class PrettyStream {
  constructor(private readonly out: Writable) {}
  write(record: unknown): void {
    if (typeof record !== "object" || record === null || !writable(this.out)) return;
    const redacted = redactRecord(record);
    if (isLogRecord(redacted)) this.out.write(formatPretty(redacted));
  }
}

/** The log files createLog opened, per logger (children share their parent's streams). */
const openFiles = new WeakMap<Logger, WriteStream>();

/**
 * A logger writing to `out`, or to `settings.file` (appended) when set. Its streams are raw: each
 * record is redacted, then written as JSON or as a pretty line. Child loggers share them.
 */
export function createLog(settings: LogSettings, out: Writable = process.stdout): Logger {
  const file =
    settings.file === undefined ? undefined : createWriteStream(settings.file, { flags: "a" });
  const sink: Writable =
    file === undefined
      ? survivable(out, "standard output")
      : survivable(file, settings.file ?? "file");
  const format = resolvedFormat(settings.format, file !== undefined, out);
  const stream = format === "pretty" ? new PrettyStream(sink) : new JsonStream(sink);
  const log = Logger.createLogger({
    name: "condor-autoscaler",
    streams: [{ type: "raw", level: settings.level, stream }],
  });
  if (file !== undefined) openFiles.set(log, file);
  return log;
}

/**
 * Flushes and closes the log file createLog opened for `log`, if any; resolves when every record
 * written before is on disk. Records logged afterwards are lost.
 */
export async function closeLog(log: Logger): Promise<void> {
  const file = openFiles.get(log);
  if (file === undefined) return;
  openFiles.delete(log);
  if (!writable(file)) return;
  await new Promise<void>((resolve) => {
    file.once("error", () => resolve());
    file.end(() => resolve());
  });
}
