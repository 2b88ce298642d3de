/**
 * The schema of the policy files. It is the single source of truth: validation, defaults, the
 * types the rest of the code uses, and the JSON Schema that `condor-autoscaler schema` prints.
 */
import { z } from "zod";
import { providerSettingsSchema } from "../providers/kinds.js";
import * as d from "./defaults.js";
import { autoDuration, duration } from "./duration.js";
import { isLoopback } from "./loopback.js";
import { cronProblem, isTimeZone } from "./schedules.js";
import type { SchemaKind } from "./schema-kinds.js";

const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,30}$/;

const count = z.number().int().nonnegative();
/** Intervals of zero would spin: at least one second. */
const positiveDuration = duration.refine((seconds) => seconds >= 1, "must be at least 1s");

// ---- Global file: autoscaler.yaml ----

const simulatedCondor = z
  .strictObject({
    kind: z.literal("simulated"),
    scenario: z
      .enum(["demo"])
      .default("demo")
      .meta({ description: "Built-in workload: jobs that arrive in waves" }),
    clockSpeed: z.number().positive().default(d.DEFAULT_DEMO_CLOCK_SPEED).meta({
      description: "How much faster than real time the simulated pool and clouds run",
    }),
    negotiationInterval: positiveDuration.default(d.DEFAULT_SIM_NEGOTIATION_INTERVAL),
    seed: z.number().int().default(1),
  })
  .meta({ description: "A simulated HTCondor pool (demo, tests, trying policies)" });

const htcondor = z
  .strictObject({
    kind: z.literal("htcondor"),
    binDir: z.string().min(1).optional().meta({
      description:
        "Directory of condor_q and condor_status (condor_advertise: here or in the sibling sbin/); default: found on PATH",
    }),
    collector: z.string().min(1).optional().meta({
      description: "Collector to ask (-pool host[:port]); default: the local configuration's",
    }),
    schedds: z.array(z.string().min(1)).min(1).optional().meta({
      description: "Schedds whose queues count; default: every schedd of the pool",
    }),
    timeout: positiveDuration.default(d.DEFAULT_CONDOR_TIMEOUT),
    retries: count.max(10).default(d.DEFAULT_CONDOR_RETRIES),
    workers: z.string().min(1).optional().meta({
      description:
        'Constraint selecting this pool\'s workers among startd ads; default: AutoscalerPool == "<pool>"',
    }),
    headNode: z.string().min(1).optional().meta({
      description:
        "CONDOR_HOST given to workers in user-data; default: collector, else this host's name",
    }),
    tokenFile: z.string().min(1).optional().meta({
      description: "File holding the IDTOKEN (or pool password) workers authenticate with",
    }),
    maxOutputMb: z.number().int().positive().max(400).default(d.DEFAULT_CONDOR_MAX_OUTPUT_MB).meta({
      description:
        "The largest answer of condor_q or condor_status read, in MB; larger is a gap naming the command. Memory while reading: about twice this",
    }),
    collectorWarmup: positiveDuration.default(d.COLLECTOR_WARMUP).meta({
      description:
        "A collector up for less than this has not heard from every startd yet: no idle or stuck termination meanwhile (keep it above the startds' UPDATE_INTERVAL)",
    }),
  })
  .meta({ description: "A real HTCondor pool, through its command-line tools" });

export const globalSchema = z
  .strictObject({
    pool: z.string().regex(NAME_PATTERN, "lower-case letters, digits and '-', at most 31").meta({
      description: "Pool name; tags every resource this daemon owns",
    }),
    tickInterval: positiveDuration.default(d.DEFAULT_TICK_INTERVAL),
    tickDeadline: positiveDuration.default(d.DEFAULT_TICK_DEADLINE).meta({
      description: "A tick running longer is abandoned: its remaining steps are skipped",
    }),
    persistence: autoDuration.default(d.DEFAULT_PERSISTENCE).meta({
      description:
        "An idle job counts as demand only after waiting this long; auto: at once when the busy workers will not free up before a new one boots, else 60s",
    }),
    authFailuresToDisable: z
      .number()
      .int()
      .min(1)
      .default(d.DEFAULT_AUTH_FAILURES_TO_DISABLE)
      .meta({
        description:
          "A cloud whose listing answers auth (expired or missing credentials) this many ticks in a row is disabled until a reload",
      }),
    condor: z.discriminatedUnion("kind", [htcondor, simulatedCondor]).meta({
      description: "How to reach HTCondor",
    }),
    logging: z
      .strictObject({
        level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
        format: z.enum(["auto", "json", "pretty"]).default("auto").meta({
          description:
            "auto: pretty on a terminal, json otherwise; json: bunyan records (journald, the bunyan CLI); pretty: one line each",
        }),
        file: z.string().min(1).optional().meta({ description: "Log to this file, not stdout" }),
      })
      .prefault({}),
    status: z
      .strictObject({
        address: z.string().min(1).default(d.DEFAULT_STATUS_ADDRESS),
        port: z.number().int().min(0).max(65535).default(d.DEFAULT_STATUS_PORT),
        staleAfter: positiveDuration.default(d.DEFAULT_SOURCE_STALE_AFTER).meta({
          description:
            "/healthz answers 503 while a source (the queue, the collector, a cloud's listing) has failed this long",
        }),
        tokenFile: z.string().min(1).optional().meta({
          description:
            "File holding a bearer token every request must carry (Authorization: Bearer …); required when address is not loopback",
        }),
      })
      .prefault({})
      .superRefine((status, context) => {
        if (status.tokenFile === undefined && !isLoopback(status.address))
          context.addIssue({
            code: "custom",
            path: ["address"],
            message: `${status.address} is reachable from other hosts, and /status names every worker and error: bind 127.0.0.1, or set status.tokenFile so that every request must carry that bearer token`,
          });
      })
      .meta({ description: "Status and metrics endpoint" }),
  })
  .meta({ title: "condor-autoscaler global policy (autoscaler.yaml)" });

// ---- Cloud files: clouds.d/<cloud>.yaml ----

const scheduleWindow = z
  .strictObject({
    cron: z
      .string()
      .superRefine((text, context) => {
        const problem = cronProblem(text);
        if (problem !== undefined) context.addIssue({ code: "custom", message: problem });
      })
      .meta({
        description:
          'When each window opens: five cron fields (minute hour day-of-month month day-of-week), node-cron syntax, e.g. "0 8 * * 1-5"',
      }),
    for: duration
      .refine((seconds) => seconds >= d.SCHEDULE_MIN_WINDOW, "at least 1m (cron names minutes)")
      .refine(
        (seconds) => seconds <= d.SCHEDULE_MAX_WINDOW,
        "at most 7d (a setting for longer belongs in the cloud file itself)",
      )
      .meta({ description: "How long each window stays open, e.g. 10h" }),
    timezone: z
      .string()
      .refine(isTimeZone, "an IANA time zone such as Europe/Zurich or UTC")
      .optional()
      .meta({ description: "Time zone the cron is read in; default: the host's" }),
    minWorkers: count.optional().meta({
      description: "While open, keep at least this many workers (a warm pool)",
    }),
    maxWorkers: count.optional().meta({
      description:
        "While open, launch no worker above this many (a cap; none is terminated for it)",
    }),
    hold: z.literal(true).optional().meta({
      description: "While open, launch nothing in this cloud (maintenance); its demand spills over",
    }),
  })
  .refine(
    (window) =>
      window.minWorkers !== undefined || window.maxWorkers !== undefined || window.hold === true,
    "a window does nothing: give minWorkers, maxWorkers or hold: true",
  );

export const cloudSchema = z
  .strictObject({
    provider: providerSettingsSchema,
    priority: z.number().int().default(d.DEFAULT_PRIORITY).meta({
      description: "Lower is filled first; equal priorities share demand by `share`",
    }),
    share: z.number().positive().default(d.DEFAULT_SHARE),
    costPerHour: z.number().nonnegative().default(d.DEFAULT_COST_PER_HOUR),
    minWorkers: count.default(d.DEFAULT_MIN_WORKERS),
    maxWorkers: count,
    worker: z.strictObject({
      cpus: z.number().int().positive(),
      memoryMb: z.number().int().positive(),
      gpus: count.default(d.DEFAULT_GPUS),
    }),
    jobs: z.string().min(1).default(d.DEFAULT_JOB_CONSTRAINT).meta({
      description: "HTCondor constraint: the jobs this cloud serves",
    }),
    idleTimeout: autoDuration.default(d.DEFAULT_IDLE_TIMEOUT).meta({
      description:
        "A worker fully idle this long is terminated; auto: a warm buffer sized by recent arrivals waits out most gaps between them, the rest leaves after one boot time",
    }),
    bootTimeout: duration.default(d.DEFAULT_BOOT_TIMEOUT),
    maxLaunchPerTick: z.number().int().positive().default(d.DEFAULT_MAX_LAUNCH_PER_TICK),
    backoff: z
      .strictObject({
        initial: duration.default(d.DEFAULT_BACKOFF_INITIAL),
        max: duration.default(d.DEFAULT_BACKOFF_MAX),
        transient: duration.default(d.DEFAULT_BACKOFF_TRANSIENT),
      })
      .prefault({}),
    userData: z.string().min(1).optional().meta({
      description: "User-data template, relative to this file",
    }),
    schedules: z.array(scheduleWindow).max(d.MAX_SCHEDULES).default([]).meta({
      description:
        "Recurring windows that raise minWorkers, lower maxWorkers or hold launches while open",
    }),
  })
  .superRefine((cloud, context) => {
    if (cloud.minWorkers > cloud.maxWorkers) {
      context.addIssue({
        code: "custom",
        path: ["minWorkers"],
        message: `must not exceed maxWorkers (${cloud.maxWorkers})`,
      });
    }
    cloud.schedules.forEach((window, index) => {
      for (const field of ["minWorkers", "maxWorkers"] as const) {
        const value = window[field];
        if (value !== undefined && value > cloud.maxWorkers)
          context.addIssue({
            code: "custom",
            path: ["schedules", index, field],
            message: `must not exceed the cloud's maxWorkers (${cloud.maxWorkers})`,
          });
      }
    });
    if (cloud.provider.kind === "docker" && cloud.worker.gpus > 0) {
      context.addIssue({
        code: "custom",
        path: ["worker", "gpus"],
        message: "the Docker provider gives its containers no GPUs",
      });
    }
    if (cloud.backoff.initial > cloud.backoff.max) {
      context.addIssue({
        code: "custom",
        path: ["backoff", "initial"],
        message: "must not exceed backoff.max",
      });
    }
  })
  .meta({ title: "condor-autoscaler cloud policy (clouds.d/<cloud>.yaml)" });

export type GlobalSettings = z.output<typeof globalSchema>;
export type CloudSettings = z.output<typeof cloudSchema>;
export type { SimulatedProviderSettings } from "../providers/simulated-schema.js";
export { simulatedProviderSchema } from "../providers/simulated-schema.js";
export type SimulatedCondorSettings = z.output<typeof simulatedCondor>;
export type HTCondorSettings = z.output<typeof htcondor>;
export type { Ec2ProviderSettings } from "../providers/ec2/schema.js";
export type { InjectedFailure } from "../providers/simulated-schema.js";

/** A cloud's settings with where they came from. */
export interface CloudConfig extends CloudSettings {
  /** The file's name without `.yaml`. */
  name: string;
  file: string;
  /** Absolute path of the user-data template, if any. */
  userDataPath?: string;
}

export interface AutoscalerConfig {
  dir: string;
  global: GlobalSettings;
  clouds: CloudConfig[];
}

export const CLOUD_NAME_PATTERN = NAME_PATTERN;

/**
 * The JSON Schema of one file kind, a root an editor validates a file against (yaml-language-server:
 * `# yaml-language-server: $schema=…/schema/<kind>.schema.json`). schema/ holds both, generated.
 */
export function jsonSchema(kind: SchemaKind): Record<string, unknown> {
  const body = z.toJSONSchema(kind === "autoscaler" ? globalSchema : cloudSchema, {
    io: "input",
    unrepresentable: "any",
    target: "draft-2020-12",
  });
  return {
    ...body,
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `urn:condor-autoscaler:schema:${kind}`,
  };
}

/** Both file kinds in one document, for documentation: `condor-autoscaler schema` with no kind. */
export function jsonSchemas(): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "urn:condor-autoscaler:schema",
    title: "condor-autoscaler policy files",
    $defs: { global: jsonSchema("autoscaler"), cloud: jsonSchema("cloud") },
  };
}
