/**
 * `npm run bench [-- NAME...]`: runs the registered benchmarks (those whose name contains one of
 * the given words, or all) one after another and prints a table. A missed target is reported as
 * MISSED but does not fail the run: benchmarks are not tests. A benchmark that throws does (exit 1).
 *
 * To add a benchmark, write a `Benchmark` (see harness.ts) in a `*.bench.ts` file and append it
 * to BENCHMARKS below.
 */
import os from "node:os";
import { cliStartupBenchmarks } from "./cli-startup.bench.js";
import { condorParseBenchmarks } from "./condor-parse.bench.js";
import type { Benchmark, Result, Target } from "./harness.js";
import { planBenchmarks } from "./plan.bench.js";
import { simBenchmarks } from "./sim.bench.js";
import { type Column, formatNumber, renderTable } from "./table.js";

export const BENCHMARKS: readonly Benchmark[] = [
  ...planBenchmarks,
  ...condorParseBenchmarks,
  ...simBenchmarks,
  ...cliStartupBenchmarks,
];

const COLUMNS: readonly Column[] = [
  { header: "benchmark" },
  { header: "what" },
  { header: "median", align: "right" },
  { header: "p95", align: "right" },
  { header: "runs", align: "right" },
  { header: "target" },
  { header: "ok?" },
];

function targetText(target: Target | undefined): string {
  return target === undefined
    ? "none"
    : `${target.op} ${formatNumber(target.value)} ${target.unit}`;
}

function verdict(target: Target | undefined, result: Result): string {
  if (target === undefined) return "-";
  if (target.unit !== result.unit) return `UNIT? (${result.unit})`;
  const met =
    target.op === "<"
      ? result.median < target.value
      : target.op === "≤"
        ? result.median <= target.value
        : result.median > target.value;
  return met ? "ok" : "MISSED";
}

function machine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? "unknown cpu";
  return `node ${process.version} on ${os.platform()}/${os.arch()}, ${cpus.length} × ${model}`;
}

async function main(filters: readonly string[]): Promise<number> {
  const selected = BENCHMARKS.filter(
    (benchmark) => filters.length === 0 || filters.some((word) => benchmark.name.includes(word)),
  );
  if (selected.length === 0) {
    console.error(
      `no benchmark matches ${filters.join(" ")}; known: ${BENCHMARKS.map((b) => b.name).join(", ")}`,
    );
    return 1;
  }
  console.log(machine());
  console.log("");

  const rows: string[][] = [];
  const notes: string[] = [];
  let failed = false;
  for (const benchmark of selected) {
    process.stderr.write(`running ${benchmark.name}...\n`);
    try {
      const result = await benchmark.run();
      const unit = ` ${result.unit}`;
      rows.push([
        benchmark.name,
        benchmark.what,
        `${formatNumber(result.median)}${unit}`,
        result.p95 === undefined ? "-" : `${formatNumber(result.p95)}${unit}`,
        String(result.runs),
        targetText(benchmark.target),
        verdict(benchmark.target, result),
      ]);
      for (const note of result.notes ?? []) notes.push(`${benchmark.name}: ${note}`);
    } catch (error) {
      failed = true;
      rows.push([
        benchmark.name,
        benchmark.what,
        "-",
        "-",
        "0",
        targetText(benchmark.target),
        "ERROR",
      ]);
      notes.push(
        `${benchmark.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
  }

  console.log(renderTable(COLUMNS, rows));
  if (notes.length > 0) {
    console.log("");
    for (const note of notes) console.log(note);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
