/**
 * Logging: bunyan records, as JSON lines for journald and the bunyan CLI, or as one readable line
 * each for a person at a terminal.
 */
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import Logger from "bunyan";

export interface LogSettings {
  level: Logger.LogLevelString;
  format: "json" | "pretty";
  file?: string;
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

class PrettyStream {
  constructor(private readonly out: Writable) {}
  write(record: unknown): void {
    if (isLogRecord(record)) this.out.write(formatPretty(record));
  }
}

export function createLog(settings: LogSettings, out: Writable = process.stdout): Logger {
  const sink: Writable =
    settings.file === undefined ? out : createWriteStream(settings.file, { flags: "a" });
  const stream: Logger.Stream =
    settings.format === "pretty"
      ? { type: "raw", level: settings.level, stream: new PrettyStream(sink) }
      : { level: settings.level, stream: sink };
  return Logger.createLogger({ name: "condor-autoscaler", streams: [stream] });
}
