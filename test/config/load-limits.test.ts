/**
 * The config loader at the size limit of a policy file (1 MB): files the fuzz suite (test/fuzz)
 * found that threw a RangeError or took minutes to hours. Each is refused with a ConfigError, in
 * time proportional to the file.
 */
import { rm } from "node:fs/promises";
import test, { type ExecutionContext } from "ava";
import { loadConfig } from "../../src/config/load.js";
import { ConfigError, type ConfigProblem } from "../../src/model/errors.js";
import { configDir, VALID_CLOUD, VALID_GLOBAL } from "./config-dir.js";

const LIMIT = 1024 * 1024 - 64;

/** `head`, then numbered lines from `line(i)` up to just under the loader's file limit. */
function upTo(head: string, line: (i: number) => string): string {
  const parts = [head];
  let size = head.length;
  for (let i = 0; ; i += 1) {
    const next = line(i);
    if (size + next.length > LIMIT) break;
    parts.push(next);
    size += next.length;
  }
  return parts.join("");
}

/** The problems of a directory that must not load, and the CPU time it took to find them. */
async function refused(
  t: ExecutionContext,
  files: Record<string, string>,
): Promise<{ problems: readonly ConfigProblem[]; cpuMs: number }> {
  const dir = await tempConfigDir(t, files);
  const before = process.cpuUsage();
  const error = await loadConfig(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  const cpu = process.cpuUsage(before);
  if (!(error instanceof ConfigError))
    throw new Error(`expected a ConfigError, got ${String(error)}`);
  return { problems: error.problems, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** A config directory removed after the test: these files are up to 1 MB. */
async function tempConfigDir(t: ExecutionContext, files: Record<string, string>): Promise<string> {
  const dir = await configDir(files);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A few seconds of CPU: each of these took from 30 s to hours before. */
const BOUND_MS = 5000;

test("a file of 150 k unknown keys is refused key by key, with lines, without a stack overflow", async (t) => {
  const { problems, cpuMs } = await refused(t, {
    "autoscaler.yaml": upTo(VALID_GLOBAL, (i) => `k${i.toString(36)}:\n`),
    "clouds.d/alpha.yaml": VALID_CLOUD,
  });
  t.true(problems.length > 150_000, `${problems.length} problems`);
  t.like(problems.at(-1), { message: "unknown key", line: problems.length + 4 });
  t.true(cpuMs < BOUND_MS, `${Math.round(cpuMs)} ms of CPU`);
});

test("a flow sequence of 200 k items does not overflow the stack", async (t) => {
  const { problems } = await refused(t, {
    "autoscaler.yaml": `${VALID_GLOBAL}x: [${"1,".repeat(200_000)}]\n`,
    "clouds.d/alpha.yaml": VALID_CLOUD,
  });
  t.deepEqual(
    problems.map((p) => [p.field, p.message]),
    [["x", "unknown key"]],
  );
});

test("more than 100 aliases are refused before any is resolved; a few are fine", async (t) => {
  const chain = await refused(t, {
    "autoscaler.yaml": upTo(VALID_GLOBAL, (i) => `k${i}: &a${i} [*a${Math.max(0, i - 1)}]\n`),
    "clouds.d/alpha.yaml": VALID_CLOUD,
  });
  t.deepEqual(
    chain.problems.map((p) => p.message),
    ["YAML: more than 100 aliases"],
  );
  t.true(chain.cpuMs < BOUND_MS, `${Math.round(chain.cpuMs)} ms of CPU (hours before)`);

  const dir = await tempConfigDir(t, {
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/alpha.yaml": `${VALID_CLOUD.replace("idleTimeout: 10m", "idleTimeout: &wait 10m")}bootTimeout: *wait\n`,
  });
  const [cloud] = (await loadConfig(dir)).clouds;
  t.is(cloud?.bootTimeout, 600);
});

test("a template of 170 k unknown variables is refused variable by variable, with lines", async (t) => {
  const { problems, cpuMs } = await refused(t, {
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/alpha.yaml": `${VALID_CLOUD}userData: ../user-data.mustache\n`,
    "user-data.mustache": upTo("", () => "{{x}}\n"),
  });
  t.true(problems.length > 170_000, `${problems.length} problems`);
  t.like(problems.at(-1), { field: "userData", line: problems.length });
  t.true(cpuMs < BOUND_MS, `${Math.round(cpuMs)} ms of CPU`);
});

test("thousands of nested sequences before a stray bracket are refused, not a RangeError", async (t) => {
  // Found by test/fuzz (FUZZ_SEED=2): the stack overflowed in the yaml library's parser itself.
  const { problems } = await refused(t, {
    "autoscaler.yaml": `${"- ".repeat(3000)}\n]]]]]]]]]]${VALID_GLOBAL}`,
    "clouds.d/alpha.yaml": VALID_CLOUD,
  });
  t.deepEqual(
    problems.map((p) => p.message),
    ["YAML: Maximum call stack size exceeded"],
  );
});
