/** Test doubles for a tick: a logger that keeps its records, and scriptable providers and pools. */
import Logger from "bunyan";
import type { CondorPool, JobSelector } from "../../src/condor/pool.js";
import type { Headroom, IdleJob, Instance, StartdMachine } from "../../src/model/snapshot.js";
import type {
  LaunchRequest,
  LaunchResult,
  Provider,
  TerminateResult,
} from "../../src/providers/provider.js";

export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

function isRecord(value: unknown): value is LogRecord {
  return (
    typeof value === "object" &&
    value !== null &&
    "msg" in value &&
    typeof value.msg === "string" &&
    "level" in value &&
    typeof value.level === "number"
  );
}

/** A bunyan logger writing every record (trace and up) into `records`. */
export function memoryLog(): { log: Logger; records: LogRecord[]; messages: () => string[] } {
  const records: LogRecord[] = [];
  const log = Logger.createLogger({
    name: "test",
    streams: [
      {
        type: "raw",
        level: "trace",
        stream: {
          write(record: unknown) {
            if (isRecord(record)) records.push(record);
          },
        },
      },
    ],
  });
  return { log, records, messages: () => records.map((record) => record.msg) };
}

export const WARN = 40;

/** A provider whose every call is recorded and answered by the functions given. */
export class ScriptedProvider implements Provider {
  readonly calls: Array<
    | { method: "list" }
    | { method: "launch"; request: LaunchRequest }
    | { method: "terminate"; ids: string[] }
    | { method: "headroom" }
  > = [];
  readonly headroom?: () => Promise<Headroom>;

  constructor(
    readonly cloud: string,
    private readonly script: {
      list?: () => Promise<Instance[]>;
      launch?: (request: LaunchRequest) => Promise<LaunchResult>;
      terminate?: (ids: readonly string[]) => Promise<TerminateResult>;
      headroom?: () => Promise<Headroom>;
    } = {},
  ) {
    const headroom = script.headroom;
    if (headroom !== undefined) {
      this.headroom = () => {
        this.calls.push({ method: "headroom" });
        return headroom();
      };
    }
  }

  list(): Promise<Instance[]> {
    this.calls.push({ method: "list" });
    return this.script.list?.() ?? Promise.resolve([]);
  }

  launch(request: LaunchRequest): Promise<LaunchResult> {
    this.calls.push({ method: "launch", request });
    return this.script.launch?.(request) ?? Promise.resolve({ instances: [] });
  }

  terminate(instanceIds: readonly string[]): Promise<TerminateResult> {
    this.calls.push({ method: "terminate", ids: [...instanceIds] });
    return (
      this.script.terminate?.(instanceIds) ?? Promise.resolve({ terminated: [...instanceIds] })
    );
  }
}

/** A pool answering with fixed jobs and machines, or failing where told. */
export class ScriptedPool implements CondorPool {
  readonly selectors: JobSelector[][] = [];
  constructor(
    private readonly script: {
      idleJobs?: () => Promise<IdleJob[]>;
      machines?: () => Promise<StartdMachine[]>;
    } = {},
  ) {}

  idleJobs(selectors: readonly JobSelector[]): Promise<IdleJob[]> {
    this.selectors.push([...selectors]);
    return this.script.idleJobs?.() ?? Promise.resolve([]);
  }

  machines(): Promise<StartdMachine[]> {
    return this.script.machines?.() ?? Promise.resolve([]);
  }
}

/** A promise with its resolve function outside. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Lets every pending promise callback run. */
export function settle(): Promise<void> {
  return new Promise((done) => setImmediate(done));
}
