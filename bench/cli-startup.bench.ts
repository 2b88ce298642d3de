/**
 * How long the built CLI takes to answer the commands an admin types at a terminal, against a bare
 * `node -e 0` on the same machine. Each command imports only what it needs; the cloud SDKs load
 * with `run` and `plan` only. Builds dist/ first, so that what is timed is the current code.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { type Benchmark, median, type Result, timingResult } from "./harness.js";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli.js");
const RUNS = 9;

let built = false;
function ensureBuilt(): void {
  if (!built) execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
  built = true;
}

/** Wall time of `node <args>` in ms, RUNS times after one warm-up. */
function spawnTimes(args: readonly string[]): number[] {
  const samples: number[] = [];
  for (let i = 0; i <= RUNS; i += 1) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: "ignore" });
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.error !== undefined) throw result.error;
    if (i > 0) samples.push(elapsed);
  }
  return samples;
}

let bare: number | undefined;
function bareNode(): number {
  bare ??= median(spawnTimes(["-e", "0"]));
  return bare;
}

/** A port nothing listens on, so `status` fails fast with ECONNREFUSED, as with no daemon. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 1;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function command(name: string, args: () => Promise<string[]> | string[]): Benchmark {
  return {
    name: `cli ${name}`,
    what: `node dist/cli.js ${name} (built), wall time`,
    target: { op: "<", value: 500, unit: "ms" },
    async run(): Promise<Result> {
      ensureBuilt();
      const samples = spawnTimes([CLI, ...(await args())]);
      const ratio = median(samples) / bareNode();
      return timingResult(samples, [
        `${ratio.toFixed(1)}× node -e 0 (${bareNode().toFixed(0)} ms)`,
      ]);
    },
  };
}

export const cliStartupBenchmarks: readonly Benchmark[] = [
  command("--help", () => ["--help"]),
  command("validate", () => ["validate", join(ROOT, "examples/simulated")]),
  command("status", async () => ["status", "--url", `http://127.0.0.1:${await closedPort()}`]),
];
