/**
 * What the fake HTCondor tools in this directory (condor_q, condor_status, condor_advertise) do.
 * They print captured output chosen by the test; they evaluate nothing (no constraint, no
 * projection): a test gives them what HTCondor would print for the arguments it expects, and
 * asserts those arguments from the call log. They do answer per command line the way HTCondor 25
 * does, so that a query of the wrong kind gets the wrong answer:
 *   - condor_status: `-slots` (or no ad-type option) answers with slot ads (key `condor_status`);
 *     `-startd` with the StartD daemon ads (`condor_status.startd`), `-master` with master ads
 *     (`condor_status.master`), `-collector` with the collector's (`condor_status.collector`);
 *   - condor_q: `-af`/`-af:<opts>`/`-autoformat` answers with the key `condor_q.af`, any other
 *     format (`-json`) with `condor_q`; with `-global`, an answer of nothing is printed as
 *     `All queues are empty` (HTCondor 25 prints that, exit 0, when no schedd holds a job).
 *
 * Environment:
 *   FAKE_CONDOR_DIR   directory of answers. A call's key is the tool's name, plus `@<schedd>` when
 *                     `-name <schedd>` is given, plus `.af` for a condor_q `-af` call or
 *                     `.startd` / `.master` for a condor_status of daemon ads:
 *                     `condor_q`, `condor_q@vm2`, `condor_q.af`, `condor_status`,
 *                     `condor_status.startd`, `condor_advertise`.
 *                     For the n-th call of a key (counted in `<key>.calls` in that directory) the
 *                     files `<key>.<n>.out|err|exit|mode` are used when any of them exists, else
 *                     `<key>.out|err|exit|mode`:
 *                       .out   printed on stdout as is (absent: nothing, as HTCondor prints when no
 *                              ad matches)
 *                       .err   printed on stderr
 *                       .exit  the exit code (absent: 0)
 *                       .mode  `hang`: print nothing and never answer (until killed)
 *   FAKE_CONDOR_MODE  `hang` or `fail` (exit 1 with a message on stderr) for every call, whatever
 *                     the files say.
 *   FAKE_CONDOR_LOG   file to which every call appends one JSON line {tool, argv, pid};
 *                     condor_advertise adds `ad`, the content of its ad file (the caller deletes
 *                     the file afterwards).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Long enough for any test's timeout to fire first; short enough not to linger if one does not. */
const HANG_MS = 30_000;

/** What `condor_q -global` prints on stdout (exit 0) when no schedd holds any job. */
const ALL_QUEUES_EMPTY = "All queues are empty\n";

const isAutoformat = (arg) => /^-(af|autoformat)(:.*)?$/.test(arg);

function keyOf(tool, argv) {
  let key = tool;
  const name = argv.indexOf("-name");
  if (name >= 0 && argv[name + 1] !== undefined) key += `@${argv[name + 1]}`;
  if (tool === "condor_q" && argv.some(isAutoformat)) key += ".af";
  if (tool === "condor_status") {
    if (argv.includes("-startd")) key += ".startd";
    else if (argv.includes("-master")) key += ".master";
    else if (argv.includes("-collector")) key += ".collector";
  }
  return key;
}

function nextCall(dir, key) {
  const counter = join(dir, `${key}.calls`);
  const n = existsSync(counter) ? Number(readFileSync(counter, "utf8")) + 1 : 1;
  writeFileSync(counter, String(n));
  return n;
}

function answer(dir, key, n) {
  const suffixes = ["out", "err", "exit", "mode"];
  const numbered = suffixes.some((suffix) => existsSync(join(dir, `${key}.${n}.${suffix}`)));
  const prefix = numbered ? `${key}.${n}` : key;
  const read = (suffix) => {
    const file = join(dir, `${prefix}.${suffix}`);
    return existsSync(file) ? readFileSync(file, "utf8") : undefined;
  };
  return {
    out: read("out") ?? "",
    err: read("err") ?? "",
    exit: Number((read("exit") ?? "0").trim()),
    mode: (read("mode") ?? "").trim(),
  };
}

export function main(tool) {
  const argv = process.argv.slice(2);
  const log = process.env.FAKE_CONDOR_LOG;
  if (log !== undefined && log !== "") {
    const entry = { tool, argv, pid: process.pid };
    if (tool === "condor_advertise") {
      const file = argv[argv.length - 1];
      entry.ad = file !== undefined && existsSync(file) ? readFileSync(file, "utf8") : null;
    }
    appendFileSync(log, `${JSON.stringify(entry)}\n`);
  }

  const dir = process.env.FAKE_CONDOR_DIR;
  if (dir === undefined || dir === "") {
    process.stderr.write(`fake ${tool}: FAKE_CONDOR_DIR is not set\n`);
    process.exitCode = 2;
    return;
  }
  const key = keyOf(tool, argv);
  const call = answer(dir, key, nextCall(dir, key));
  const mode = process.env.FAKE_CONDOR_MODE || call.mode;

  if (mode === "hang") {
    setTimeout(() => {}, HANG_MS);
    return;
  }
  if (mode === "fail") {
    process.stderr.write(call.err || `fake ${tool}: failing as told (FAKE_CONDOR_MODE=fail)\n`);
    process.exitCode = 1;
    return;
  }
  const emptyGlobal = tool === "condor_q" && argv.includes("-global") && call.out === "";
  process.stdout.write(emptyGlobal && call.exit === 0 ? ALL_QUEUES_EMPTY : call.out);
  process.stderr.write(call.err);
  process.exitCode = call.exit;
}
