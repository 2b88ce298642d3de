/**
 * The fuzz suite: the config loader, HTCondor's answer readers and the cloud adapters on random
 * and mutated inputs (see the *.fuzz.ts files). Each target runs in a child process
 * (test/fuzz/runner.ts) with a V8 heap bound, so that a parser allocating past it dies alone and
 * fails its test here; a child that gives no answer in time fails as a hang, naming the input it
 * was trying. One more child sabotages every target, to show that each property fails when the
 * code under test raises a TypeError.
 *
 * FUZZ_SEED and FUZZ_RUNS (passed on to the children) change the seed and the runs per property.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { fuzzSeed, HEAP_MB } from "./support.js";

const ROOT = join(import.meta.dirname, "../..");
const RUNNER = join(import.meta.dirname, "runner.ts");
/** A target takes 5 to 20 s here (2 cores); a child silent this long is stuck. */
const CHILD_TIMEOUT_MS = 150_000;
/** Children at a time: one per core, so that each input's time is its own. */
const SLOTS = Math.max(2, Math.min(4, availableParallelism()));

let running = 0;
const waiting: Array<() => void> = [];

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= SLOTS) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await work();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  seconds: number;
}

function runChild(args: readonly string[], heapMb: number, out: string): Promise<ChildResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`--max-old-space-size=${heapMb}`, "--import=tsx", RUNNER, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, FUZZ_OUT: out },
        timeout: CHILD_TIMEOUT_MS,
        maxBuffer: 64 * 1024 * 1024,
        // A child stuck in a synchronous loop is stopped for sure.
        killSignal: "SIGKILL",
      },
      (error, stdout, stderr) => {
        const seconds = (performance.now() - started) / 1000;
        const failure = error as
          | (Error & { code?: unknown; signal?: NodeJS.Signals | null; killed?: boolean })
          | null;
        resolve({
          code: failure === null ? 0 : typeof failure.code === "number" ? failure.code : null,
          signal: failure?.signal ?? null,
          timedOut: failure?.killed === true && seconds * 1000 >= CHILD_TIMEOUT_MS - 1000,
          stdout,
          stderr,
          seconds,
        });
      },
    );
  });
}

/** The first line of what the child was trying when it stopped, and where the whole input is. */
async function lastInput(out: string, target: string): Promise<string> {
  const file = join(out, `${target}.current`);
  try {
    const text = await readFile(file, "utf8");
    return `${text.split("\n", 1)[0] ?? ""}\n(the whole input is in ${file})`;
  } catch {
    return "(no input had been tried yet)";
  }
}

/** Why the child failed, in the words of the bound it broke. */
async function explain(
  result: ChildResult,
  target: string,
  heapMb: number,
  out: string,
): Promise<string> {
  const seed = `seed ${fuzzSeed()} (FUZZ_SEED)`;
  if (result.timedOut)
    return `timeout: the ${target} fuzzer gave no answer in ${CHILD_TIMEOUT_MS / 1000} s, ${seed}; it was trying ${await lastInput(out, target)}\n${result.stdout}`;
  if (result.signal === "SIGABRT" || /heap out of memory/.test(result.stderr))
    return `memory: the ${target} fuzzer allocated past its heap bound of ${heapMb} MB, ${seed}; it was trying ${await lastInput(out, target)}\n${result.stdout}\n${result.stderr.slice(0, 2000)}`;
  return `the ${target} fuzzer failed (exit ${result.code ?? result.signal}), ${seed}:\n${result.stdout}\n${result.stderr.slice(-4000)}`;
}

async function fuzz(t: ExecutionContext, target: string): Promise<void> {
  t.timeout(CHILD_TIMEOUT_MS * 3);
  const heapMb = HEAP_MB[target] ?? 256;
  const out = await mkdtemp(join(tmpdir(), `condor-autoscaler-fuzz-${target}-`));
  const result = await slot(() => runChild([target], heapMb, out));
  if (result.code === 0) {
    t.log(`${result.stdout.trim()}\n(${result.seconds.toFixed(1)} s, heap bound ${heapMb} MB)`);
    await rm(out, { recursive: true, force: true });
    t.pass();
    return;
  }
  t.fail(await explain(result, target, heapMb, out));
}

test("the config loader reads any directory of policy files as a config or a ConfigError, never another throw, a hang or unbounded memory", (t) =>
  fuzz(t, "config"));

test("the OpenStack provider and its answer readers end in a result or a ProviderError for any answer, never another throw, a hang or unbounded memory", (t) =>
  fuzz(t, "openstack"));

test("the Docker provider, its error classification and the shutdown_message reader end in a result or a ProviderError for any engine answer, never another throw, a hang or unbounded memory", (t) =>
  fuzz(t, "docker"));

test("the EC2 provider ends in a result or a ProviderError for any EC2 answer, never another throw, a hang or unbounded memory", (t) =>
  fuzz(t, "ec2"));

test("HTCondor's -af:t and -json readers give jobs and machines or a CondorError for any output, never another throw, a hang or unbounded memory", (t) =>
  fuzz(t, "condor"));

test("every fuzz property fails when the code under test raises a TypeError, thrown or hidden in a ProviderError", async (t) => {
  t.timeout(CHILD_TIMEOUT_MS * 3);
  const targets = Object.keys(HEAP_MB);
  const out = await mkdtemp(join(tmpdir(), "condor-autoscaler-fuzz-sabotage-"));
  const result = await slot(() =>
    runChild(["--sabotage", ...targets], Math.max(...Object.values(HEAP_MB)), out),
  );
  await rm(out, { recursive: true, force: true });
  t.is(
    result.code,
    0,
    `some property did not notice the sabotage:\n${result.stdout}\n${result.stderr.slice(-4000)}`,
  );
  const caught = result.stdout.split("\n").filter((line) => line.startsWith("✔"));
  t.true(caught.length >= targets.length, `every target reports the sabotage:\n${result.stdout}`);
  t.log(result.stdout.trim());
});
