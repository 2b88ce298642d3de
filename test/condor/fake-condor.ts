/**
 * Scenarios for the fake HTCondor tools of test/fakes. Each scenario is a temporary directory with
 * its own answers, call log and a `bin/` of tiny wrappers (condor_q, condor_status,
 * condor_advertise) that set the fakes' environment and run them: tests of one file run
 * concurrently in one process, so nothing may go through process.env. `binDir` is that `bin/`.
 */
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { HTCondorPool } from "../../src/condor/htcondor.js";
import type { HTCondorSettings } from "../../src/config/schema.js";
import { ManualClock } from "../../src/sim/clock.js";
import { memoryLog } from "../tick/support.js";

export const ROOT = join(import.meta.dirname, "../..");
export const FAKES = join(ROOT, "test/fakes");
export const FIXTURES = join(ROOT, "test/fixtures/htcondor");
export const TOOLS = ["condor_q", "condor_status", "condor_advertise"] as const;

/** The content of a captured (or derived) output in test/fixtures/htcondor. */
export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

/**
 * A -json sample as a startd without the NumDynamicSlots latch answers (SYSTEM_STARTD_LATCH_EXPRS
 * emptied, or a release before it): the same ads less NumDynamicSlotsTime.
 */
export function withoutLatch(json: string): string {
  const ads = JSON.parse(json) as Array<Record<string, unknown>>;
  return JSON.stringify(
    ads.map((ad) =>
      Object.fromEntries(Object.entries(ad).filter(([key]) => key !== "NumDynamicSlotsTime")),
    ),
    null,
    2,
  );
}

/** What one call prints and how it ends; a string is stdout of a successful call. */
export type Answer = string | { out?: string; err?: string; exit?: number; mode?: "hang" };

/** One call of a fake tool, as logged by it. */
export interface FakeCall {
  tool: string;
  argv: string[];
  /** condor_advertise: the ad file's content. */
  ad?: string | null;
}

interface LogEntry extends FakeCall {
  pid: number;
}

export interface Scenario {
  /** Point HTCondor's binDir here. */
  binDir: string;
  dir: string;
  /** Every call so far, in order. */
  calls(): Promise<FakeCall[]>;
  /** Calls of one tool. */
  callsOf(tool: string): Promise<FakeCall[]>;
  /**
   * condor_advertise calls that withdraw ads: all but the preflight's probe of the permission,
   * whose constraint (`Requirements = False`) matches no ad.
   */
  withdrawals(): Promise<FakeCall[]>;
  /** Process ids of the calls so far, in order. */
  pids(): Promise<number[]>;
}

function isLogEntry(value: unknown): value is LogEntry {
  return (
    typeof value === "object" &&
    value !== null &&
    "tool" in value &&
    typeof value.tool === "string" &&
    "argv" in value &&
    Array.isArray(value.argv) &&
    "pid" in value &&
    typeof value.pid === "number"
  );
}

const created: string[] = [];

/** Removes every scenario directory this test file made (for `test.after.always`). */
export async function removeScenarios(): Promise<void> {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/**
 * A scenario answering per call key (`condor_q`, `condor_q@<schedd>`, `condor_q.af`,
 * `condor_status`, `condor_advertise`, or `<key>.<n>` for the n-th call only). A key without an
 * answer prints nothing and succeeds. `mode` applies to every call.
 */
export async function scenario(
  answers: Record<string, Answer> = {},
  options: { mode?: "hang" | "fail" } = {},
): Promise<Scenario> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-fake-"));
  created.push(dir);
  const data = join(dir, "answers");
  const bin = join(dir, "bin");
  const log = join(dir, "calls.jsonl");
  await mkdir(data);
  await mkdir(bin);
  await writeFile(log, "");
  for (const [key, answer] of Object.entries(answers)) {
    const parts = typeof answer === "string" ? { out: answer } : answer;
    if (parts.out !== undefined) await writeFile(join(data, `${key}.out`), parts.out);
    if (parts.err !== undefined) await writeFile(join(data, `${key}.err`), parts.err);
    if (parts.exit !== undefined) await writeFile(join(data, `${key}.exit`), String(parts.exit));
    if (parts.mode !== undefined) await writeFile(join(data, `${key}.mode`), parts.mode);
  }
  const env: Record<string, string> = { FAKE_CONDOR_DIR: data, FAKE_CONDOR_LOG: log };
  if (options.mode !== undefined) env.FAKE_CONDOR_MODE = options.mode;
  for (const tool of TOOLS) {
    const wrapper = join(bin, tool);
    // No import statement and no top-level await: valid however Node classifies the file.
    await writeFile(
      wrapper,
      `#!/usr/bin/env node\nObject.assign(process.env, ${JSON.stringify(env)});\nimport(${JSON.stringify(pathToFileURL(join(FAKES, tool)).href)});\n`,
    );
    await chmod(wrapper, 0o755);
  }
  const entries = async () =>
    (await readFile(log, "utf8"))
      .split("\n")
      .filter((line) => line !== "")
      .map((line): unknown => JSON.parse(line))
      .filter(isLogEntry);
  const calls = async () => (await entries()).map(({ pid: _, ...call }): FakeCall => call);
  return {
    binDir: bin,
    dir,
    calls,
    callsOf: async (tool) => (await calls()).filter((call) => call.tool === tool),
    withdrawals: async () =>
      (await calls()).filter(
        (call) =>
          call.tool === "condor_advertise" && !/^Requirements = False$/m.test(call.ad ?? ""),
      ),
    pids: async () => (await entries()).map((entry) => entry.pid),
  };
}

/** The head node's time in these tests: a little after the captured pool's last ads. */
export const NOW = 1_795_348_100;

/** An HTCondorPool on the scenario's fakes (no pause between retries), with its log kept. */
export function fakePool(
  fakes: Scenario,
  settings: Partial<Omit<HTCondorSettings, "kind">> = {},
  clock = new ManualClock(NOW),
) {
  const { log, records, messages } = memoryLog();
  const pool = new HTCondorPool(
    {
      kind: "htcondor",
      timeout: 10,
      retries: 0,
      collectorWarmup: 600,
      maxOutputMb: 256,
      binDir: fakes.binDir,
      ...settings,
    },
    "test",
    clock,
    log,
    0,
  );
  return { pool, clock, records, messages };
}

/** The value following `flag` in an argument list. */
export function argAfter(argv: readonly string[], flag: string): string | undefined {
  const index = argv.indexOf(flag);
  return index < 0 ? undefined : argv[index + 1];
}

/** The condor_status calls that ask for slot ads (not the collector's own ad, asked each tick). */
export async function slotQueries(fakes: Scenario): Promise<FakeCall[]> {
  return (await fakes.callsOf("condor_status")).filter((call) => !call.argv.includes("-collector"));
}
