import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { cli, ROOT } from "./run-cli.js";

const BURST = join(ROOT, "examples/traces/burst.csv");

interface Report {
  policies: Array<{ name: string; jobs: number; launches: number; wait: { max: number | null } }>;
}

test("simulate compares the demo policy with both baselines on the burst trace: JSON report and an SVG plot", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const plot = join(dir, "plot.svg");
  const args = ["simulate", "--trace", BURST, "--baseline", "elastiq-classic"];
  const result = await cli([...args, "--baseline", "static:4", "--json", "--plot", plot]);
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  t.deepEqual(
    report.policies.map((p) => p.name),
    ["simulated", "elastiq-classic", "static:4"],
  );
  for (const policy of report.policies) {
    t.is(policy.jobs, 55, policy.name);
    t.true(policy.launches > 0, policy.name);
    t.not(policy.wait.max, null, `${policy.name}: every job started`);
  }
  const svg = await readFile(plot, "utf8");
  t.regex(svg, /<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.is(svg.match(/elastiq-classic/g)?.length !== undefined, true);

  // The same seed gives the same report; the table names every policy.
  const again = await cli([...args, "--baseline", "static:4", "--json"]);
  t.deepEqual(JSON.parse(again.stdout), report);
  const table = await cli(args);
  t.regex(table.stdout, /^\s+simulated\s+elastiq-classic$/m);
  t.regex(table.stdout, /^wait p95 /m);
});

test("simulate --faults 0.3 checks the invariants every tick and completes", async (t) => {
  const result = await cli(["simulate", "--trace", BURST, "--faults", "0.3", "--json"]);
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    policies: Array<{ errors: Record<string, number> }>;
  };
  const errors = Object.values(report.policies[0]?.errors ?? {}).reduce((a, b) => a + b, 0);
  t.true(errors > 0, "provider errors were injected");
});

test("a bad trace line is reported with its line and skipped; with --strict the run stops", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const trace = join(dir, "bad.csv");
  await writeFile(
    trace,
    "submit,runtime,cpus,memoryMb\n0,600,1,1000\n10,ten,1,1000\n20,600,1,1000\n",
  );
  const lenient = await cli(["simulate", "--trace", trace, "--json"]);
  t.is(lenient.code, 0, lenient.stderr);
  t.regex(lenient.stderr, new RegExp(`${trace.replace(/[.]/g, "\\.")}:3: .*\\(line skipped\\)`));
  t.is((JSON.parse(lenient.stdout) as Report).policies[0]?.jobs, 2);
  const strict = await cli(["simulate", "--trace", trace, "--strict"]);
  t.is(strict.code, 1);
  t.regex(strict.stderr, /bad\.csv:3: /);
});
