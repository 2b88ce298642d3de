import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
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

/** One line, no stack trace: what a person sees when an argument is wrong. */
function oneLine(t: import("ava").ExecutionContext, stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  t.is(lines.length, 1, stderr);
  t.regex(lines[0] ?? "", pattern);
  t.notRegex(stderr, /^\s+at /m);
}

test("an unknown baseline is refused in one line naming it, before anything runs", async (t) => {
  const result = await cli(["simulate", "--trace", BURST, "--baseline", "static:x"]);
  t.is(result.code, 1);
  t.is(result.stdout, "");
  oneLine(
    t,
    result.stderr,
    /^--baseline static:x: unknown baseline \(elastiq-classic, clairvoyant or static:N/,
  );
});

test("a plot path that cannot be written is refused in one line before the run, not after it", async (t) => {
  const missing = join(tmpdir(), "condor-autoscaler-no-such-dir", "plot.svg");
  const result = await cli(["simulate", "--trace", BURST, "--plot", missing]);
  t.is(result.code, 1);
  t.is(result.stdout, "", "no run, no table");
  oneLine(
    t,
    result.stderr,
    /^--plot \S+plot\.svg: cannot write there: its directory \S+ does not exist$/,
  );
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const onDir = await cli(["simulate", "--trace", BURST, "--plot", dir]);
  t.is(onDir.code, 1);
  oneLine(t, onDir.stderr, /: cannot write there: is a directory$/);
});

test("a --window that is not FROM:TO with FROM before TO, or without --plot, is refused in one line before the run", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const plot = join(dir, "plot.svg");
  for (const [window, why] of [
    ["30d", "not FROM:TO"],
    ["37d:30d", "TO must come after FROM"],
    ["x:1d", "not a duration"],
  ] as const) {
    const result = await cli(["simulate", "--trace", BURST, "--plot", plot, "--window", window]);
    t.is(result.code, 1, window);
    t.is(result.stdout, "", "no run, no table");
    oneLine(t, result.stderr, new RegExp(`^--window ${window}: ${why} \\(FROM:TO, durations`));
  }
  const alone = await cli(["simulate", "--trace", BURST, "--window", "0:1h"]);
  t.is(alone.code, 1);
  oneLine(t, alone.stderr, /^--window 0:1h: needs --plot FILE\.svg/);
});

test("--window restricts the plot's time panels to the span and the title says so", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const plot = join(dir, "plot.svg");
  const result = await cli(["simulate", "--trace", BURST, "--plot", plot, "--window", "10m:1h"]);
  t.is(result.code, 0, result.stderr);
  const svg = await readFile(plot, "utf8");
  t.regex(svg, />burst\.csv \(time panels within 10m–1h\)<\/text>/);
  const ticks = [...svg.matchAll(/<text class="time-tick"[^>]*>([^<]*)</g)].map((m) => m[1]);
  t.is(ticks[0], "10m");
  t.is(ticks.at(-1), "1h");
  // The cumulative panel, the wait CDF and one panel per policy.
  t.is(svg.match(/<polyline class="cumulative-waste"/g)?.length, 1);
  t.is(svg.match(/<polyline class="wait-cdf"/g)?.length, 1);
  t.is(svg.match(/<g class="panel">/g)?.length, 1);
});

test("a trace without jobs is an error naming the file and why its records were skipped", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const empty = join(dir, "empty.csv");
  await writeFile(empty, "submit,runtime,cpus,memoryMb\n");
  const none = await cli(["simulate", "--trace", empty]);
  t.is(none.code, 1);
  oneLine(t, none.stderr, /^trace: \S+empty\.csv has no jobs to simulate$/);
  const swf = join(dir, "zero.swf");
  const record = (runtime: number) => `1 0 0 ${runtime} 1 -1 -1 1 -1 -1 1 -1 -1 -1 -1 -1 -1 -1\n`;
  await writeFile(swf, record(0) + record(-1) + record(0));
  const skipped = await cli(["simulate", "--trace", swf]);
  t.is(skipped.code, 1);
  oneLine(
    t,
    skipped.stderr,
    /has no jobs to simulate \(3 records skipped: 2 zero run time, 1 no run time\)$/,
  );
});

test("the table ends with a newline and the header says why records were skipped", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const swf = join(dir, "some.swf");
  const record = (submit: number, runtime: number) =>
    `1 ${submit} 0 ${runtime} 1 -1 -1 1 -1 -1 1 -1 -1 -1 -1 -1 -1 -1\n`;
  await writeFile(swf, record(0, 600) + record(10, 0) + record(20, 300));
  const result = await cli(["simulate", "--trace", swf]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /: 2 jobs \(1 record skipped: 1 zero run time\), seed 1\n/);
  t.regex(result.stdout, /\npeak workers +\d+\n$/);
});

test("off a terminal every policy's progress is written as plain lines, ending at 100 %", async (t) => {
  const result = await cli(["simulate", "--trace", BURST, "--baseline", "static:4", "--json"]);
  t.is(result.code, 0, result.stderr);
  t.notRegex(result.stderr, /\r/);
  t.regex(result.stderr, /^simulated \[#+\] 100% \(55\/55\)$/m);
  t.regex(result.stderr, /^static:4 \[#+\] 100% \(55\/55\)$/m);
});

const DEMO = join(ROOT, "examples/simulated");

test("--site with two --policy runs both policies and the baseline on the site's clouds", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  const patient = join(dir, "patient");
  await mkdir(join(patient, "clouds.d"), { recursive: true });
  await writeFile(join(patient, "clouds.d/backup.yaml"), "idleTimeout: 30m\n");
  const args = ["simulate", "--trace", BURST, "--site", DEMO, "--policy", DEMO];
  const result = await cli([...args, "--policy", patient, "--baseline", "static:4", "--json"]);
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  t.deepEqual(
    report.policies.map((p) => p.name),
    ["simulated", "patient", "static:4"],
  );
  // The same site as --config of the demo: the demo's own policy gives the same run.
  const config = await cli(["simulate", "--trace", BURST, "--config", DEMO, "--json"]);
  t.deepEqual((JSON.parse(config.stdout) as Report).policies[0], report.policies[0]);
});

test("several --config directories on different clouds are refused in one line, not compared", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  await mkdir(join(dir, "clouds.d"));
  await writeFile(
    join(dir, "autoscaler.yaml"),
    await readFile(join(DEMO, "autoscaler.yaml"), "utf8"),
  );
  for (const cloud of ["backup", "competitive"]) {
    const text = await readFile(join(DEMO, "clouds.d", `${cloud}.yaml`), "utf8");
    await writeFile(
      join(dir, "clouds.d", `${cloud}.yaml`),
      text.replace("bootDelay: 2m", "bootDelay: 30s"),
    );
  }
  const result = await cli(["simulate", "--trace", BURST, "--config", DEMO, "--config", dir]);
  t.is(result.code, 1);
  t.is(result.stdout, "");
  oneLine(
    t,
    result.stderr,
    /^--config \S+: not the same site as --config \S+simulated: \S+backup\.yaml: provider\.bootDelay is 30, \S+ has 120; name the site once with --site DIR/,
  );
});

test("a --policy naming a cloud the site lacks, or without --site, is refused in one line", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-simulate-"));
  await mkdir(join(dir, "clouds.d"));
  await writeFile(join(dir, "clouds.d/spot.yaml"), "idleTimeout: 1m\n");
  const stranger = await cli(["simulate", "--trace", BURST, "--site", DEMO, "--policy", dir]);
  t.is(stranger.code, 1);
  oneLine(t, stranger.stderr, /^--policy \S+: \S+spot\.yaml: cloud "spot" is not in the site/);
  const alone = await cli(["simulate", "--trace", BURST, "--policy", dir]);
  t.is(alone.code, 1);
  oneLine(t, alone.stderr, /^--policy needs --site DIR/);
  const mixed = await cli(["simulate", "--trace", BURST, "--site", DEMO, "--config", DEMO]);
  t.is(mixed.code, 1);
  oneLine(t, mixed.stderr, /^--config cannot be combined with --site or --policy/);
});

test("--baseline clairvoyant runs on the site beside the others, in the table and the JSON, and waits least", async (t) => {
  const args = ["simulate", "--trace", BURST, "--site", DEMO, "--baseline", "elastiq-classic"];
  const result = await cli([...args, "--baseline", "clairvoyant", "--json"]);
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  t.deepEqual(
    report.policies.map((p) => p.name),
    ["simulated", "elastiq-classic", "clairvoyant"],
  );
  const [ours, elastiq, seer] = report.policies;
  t.is(seer?.jobs, 55);
  for (const other of [ours, elastiq])
    t.true((seer?.wait.max ?? Infinity) <= (other?.wait.max ?? 0), other?.name);
  const table = await cli([...args, "--baseline", "clairvoyant"]);
  t.regex(table.stdout, /^\s+simulated\s+elastiq-classic\s+clairvoyant$/m);
});
