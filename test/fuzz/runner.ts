/**
 * One child process of the fuzz suite: runs the properties of the targets named on the command
 * line and exits 0 only when every property held:
 *
 *   node --max-old-space-size=256 --import=tsx test/fuzz/runner.ts condor
 *
 * It is a child so that the memory bound can be the V8 heap limit: a parser that allocates past
 * it kills this process, not the test runner. With --sabotage the code under test is first made
 * to raise a TypeError, and the exit is 0 only when every property failed because of it.
 *
 * FUZZ_SEED and FUZZ_RUNS override the seed and the runs of every property (the large inputs,
 * tried first, count among the runs). FUZZ_OUT, when set, is a directory that receives
 * `<target>.current` (the input being tried: a hang is named by it) and
 * `<target>-<n>.counterexample` for each property that failed.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import {
  type FuzzProperty,
  type FuzzTarget,
  fuzzRuns,
  fuzzSeed,
  INPUT_BOUND_MS,
  INPUT_WALL_BOUND_MS,
  type Input,
  RSS_BOUND_BYTES,
  Violation,
} from "./support.js";

const TARGETS: Readonly<Record<string, () => Promise<FuzzTarget>>> = {
  config: async () => (await import("./config.fuzz.js")).target,
  condor: async () => (await import("./condor.fuzz.js")).target,
  openstack: async () => (await import("./openstack.fuzz.js")).target,
  ec2: async () => (await import("./ec2.fuzz.js")).target,
  docker: async () => (await import("./docker.fuzz.js")).target,
};

/** A property that cannot finish its runs in this long is stuck somewhere. */
const PROPERTY_TIME_LIMIT_MS = 100_000;
/** Runs per property when sabotaged: the first input should fail already. */
const SABOTAGE_RUNS = 20;

const args = process.argv.slice(2);
const sabotaged = args.includes("--sabotage");
const names = args.filter((arg) => !arg.startsWith("--"));
const out = process.env.FUZZ_OUT;
const seed = fuzzSeed();

/** What is being tried now, for the report of an uncaught exception. */
let current = "(no input yet)";

function note<T>(target: string, name: string, run: number, input: Input<T>): void {
  current = `${target}: ${name}: run ${run}: ${input.summary()}`;
  if (out !== undefined)
    writeFileSync(join(out, `${target}.current`), `${current}\n\n${input.dump()}`);
}

function reproduce(target: string): string {
  return `FUZZ_SEED=${seed}${process.env.FUZZ_RUNS === undefined ? "" : ` FUZZ_RUNS=${process.env.FUZZ_RUNS}`} node --import=tsx test/fuzz/runner.ts ${target}`;
}

function statistics(outcomes: ReadonlyMap<string, number>): string {
  return [...outcomes]
    .sort((a, b) => b[1] - a[1])
    .map(([outcome, count]) => `${outcome} ${count}`)
    .join(", ");
}

/** Runs one property; true when it came out as the mode expects (held, or failed if sabotaged). */
async function runProperty<T>(target: string, index: number, p: FuzzProperty<T>): Promise<boolean> {
  const runs = sabotaged ? Math.min(SABOTAGE_RUNS, fuzzRuns(p.runs)) : fuzzRuns(p.runs);
  const outcomes = new Map<string, number>();
  let slowest = { ms: 0, kind: "" };
  let tried = 0;
  const predicate = async (input: Input<T>): Promise<void> => {
    tried += 1;
    note(target, p.name, tried, input);
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const outcome = await p.check(input);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const wallMs = performance.now() - started;
    if (cpuMs > INPUT_BOUND_MS || wallMs > INPUT_WALL_BOUND_MS)
      throw new Violation(
        `timeout: took ${Math.round(cpuMs)} ms of CPU and ${Math.round(wallMs)} ms in all, past the bound of ${INPUT_BOUND_MS} ms of CPU (${INPUT_WALL_BOUND_MS} ms in all) per input`,
      );
    if (cpuMs > slowest.ms) slowest = { ms: cpuMs, kind: input.kind };
    const rss = process.memoryUsage.rss();
    if (rss > RSS_BOUND_BYTES)
      throw new Violation(
        `memory: resident size reached ${Math.round(rss / 2 ** 20)} MB, past the bound of ${RSS_BOUND_BYTES / 2 ** 20} MB`,
      );
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  };
  const examples = sabotaged ? [] : (p.examples?.() ?? []);
  const started = performance.now();
  const details = await fc.check(fc.asyncProperty(p.input, predicate), {
    seed,
    numRuns: runs,
    examples: examples.map((example): [Input<T>] => [example]),
    endOnFailure: sabotaged,
    includeErrorInReport: true,
    plugins: [
      // Async hangs; synchronous ones are measured above, or end in the parent's timeout.
      fc.timeout(INPUT_WALL_BOUND_MS),
      fc.interruptAfterTimeLimit(PROPERTY_TIME_LIMIT_MS, { failOnInterrupt: true }),
    ],
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (sabotaged) {
    const why = details.errorInstance instanceof Error ? details.errorInstance.message : "";
    const caught = details.failed && !details.interrupted && why.includes("fuzz sabotage");
    console.log(
      caught
        ? `✔ ${p.name}: failed as it must when the code raises a TypeError (${why.split("\n")[0]})`
        : `✘ ${p.name}: did NOT fail although the code under test raised a TypeError (${statistics(outcomes)})`,
    );
    return caught;
  }
  if (!details.failed) {
    console.log(
      `✔ ${p.name}: ${details.numRuns} runs in ${seconds} s (${statistics(outcomes)}); slowest input ${Math.round(slowest.ms)} ms of CPU: ${slowest.kind}`,
    );
    return true;
  }
  console.log(`✘ ${p.name}: failed after ${tried} inputs in ${seconds} s`);
  console.log(fc.defaultReportMessage(details));
  // fc.check types the counterexample as unknown; it is this property's one input.
  const counterexample = (details.counterexample as [Input<T>] | null)?.[0];
  if (counterexample !== undefined && out !== undefined) {
    const file = join(out, `${target}-${index}.counterexample`);
    writeFileSync(file, counterexample.dump());
    console.log(`The whole counterexample is in ${file}`);
  }
  console.log(`Seed ${seed}; reproduce with: ${reproduce(target)}`);
  return false;
}

async function main(): Promise<number> {
  const unknown = names.filter((name) => TARGETS[name] === undefined);
  if (names.length === 0 || unknown.length > 0) {
    console.error(
      `usage: runner.ts [--sabotage] <target>...; targets: ${Object.keys(TARGETS).join(", ")}`,
    );
    return 2;
  }
  let good = true;
  for (const name of names) {
    const load = TARGETS[name];
    if (load === undefined) continue;
    const target = await load();
    if (sabotaged) target.sabotage();
    await target.setup?.();
    try {
      for (const [index, p] of target.properties.entries()) {
        const held = await p.use((definition) => runProperty(name, index, definition));
        good &&= held;
      }
    } finally {
      await target.teardown?.();
    }
  }
  return good ? 0 : 1;
}

// An exception nobody awaits would kill a daemon just the same: it fails the run, naming the input.
for (const event of ["uncaughtException", "unhandledRejection"] as const) {
  process.on(event, (error: unknown) => {
    console.log(`✘ ${event} while trying ${current}`);
    console.log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    console.log(`Seed ${seed}; reproduce with: ${reproduce(names.join(" "))}`);
    process.exit(1);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
