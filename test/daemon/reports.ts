/** Tick reports for the observers' tests, and a reader of the Prometheus text format. */
import type { TickFailure, TickReport } from "../../src/daemon/report.js";
import type { Memory } from "../../src/model/memory.js";
import type { Plan } from "../../src/model/plan.js";
import type { PoolPolicy } from "../../src/model/policy.js";
import type { Snapshot } from "../../src/model/snapshot.js";
import type { CallOutcome } from "../../src/policy/backoff.js";
import { memory as emptyMemory, snapshot as emptySnapshot, NOW, pool } from "../policy/builders.js";

export interface ReportParts {
  tick?: number;
  /** When the tick ended; it started a second earlier. */
  completedAt?: number;
  durationSeconds?: number;
  policy?: PoolPolicy;
  snapshot?: Partial<Snapshot>;
  plan?: Partial<Plan>;
  outcomes?: CallOutcome[];
  memory?: Memory;
}

export function emptyPlan(overrides: Partial<Plan> = {}): Plan {
  return {
    demand: {},
    workers: [],
    actions: [],
    unfit: { jobs: 0, examples: [] },
    notes: [],
    ...overrides,
  };
}

export function report(parts: ReportParts = {}): TickReport {
  const completedAt = parts.completedAt ?? NOW;
  return {
    tick: parts.tick ?? 1,
    startedAt: completedAt - 1,
    completedAt,
    durationSeconds: parts.durationSeconds ?? 0.5,
    policy: parts.policy ?? pool(),
    result: {
      snapshot: emptySnapshot({ takenAt: completedAt - 1, ...parts.snapshot }),
      plan: emptyPlan(parts.plan),
      outcomes: parts.outcomes ?? [],
      memory: parts.memory ?? emptyMemory(),
    },
  };
}

export function failure(reason: TickFailure["reason"], tick = 2): TickFailure {
  return { tick, startedAt: NOW, durationSeconds: 60, reason, message: `${reason} in the test` };
}

// ---- Prometheus text exposition ----

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of a text exposition; throws on a line that is neither a sample nor a comment. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const [, name = "", labelText = "", value = ""] = match;
    const labels: Record<string, string> = {};
    for (const [, key = "", raw = ""] of labelText.matchAll(LABEL)) labels[key] = raw;
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

/** The value of the sample with exactly these labels, or undefined when there is none. */
export function value(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels);
  return samples.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([key, v]) => s.labels[key] === v),
  )?.value;
}

/** The label sets present for a metric. */
export function labelSets(samples: readonly Sample[], name: string): Array<Record<string, string>> {
  return samples.filter((s) => s.name === name).map((s) => s.labels);
}
