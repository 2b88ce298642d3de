/**
 * Running the tools: no shell, a timeout that kills a hung tool, bounded retries, and errors that
 * say which command failed and how (spawn, timeout, exit, output).
 */
import { readFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import test from "ava";
import { commandLine, runTool } from "../../src/condor/exec.js";
import { CondorError } from "../../src/model/errors.js";
import { fakePool, fixture, removeScenarios, scenario } from "./fake-condor.js";

test.after.always(removeScenarios);

/** What a real condor_q prints on stderr when its schedd does not answer. */
const SCHEDD_DOWN =
  "-- Failed to fetch ads from: <10.0.0.2:9618?addrs=10.0.0.2-9618&noUDP&sock=schedd_1234_5678> : vm2\n" +
  "SECMAN:2007:Failed to end classad message.\n";

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
  // Dead but not yet reaped (its parent was killed too, and no init here reaps at once).
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

test("a hanging tool is killed at the timeout, retried, then fails with failure timeout", async (t) => {
  const fakes = await scenario({}, { mode: "hang" });
  const { pool } = fakePool(fakes, { timeout: 1, retries: 1 });
  const started = Date.now();
  const error = await t.throwsAsync(pool.machines(), { instanceOf: CondorError });
  const elapsed = Date.now() - started;
  t.is(error?.failure, "timeout");
  t.regex(error?.message ?? "", /^condor_status -slots -json .*: no answer within 1s$/);
  // Each attempt lasts its full second: two attempts.
  t.true(elapsed >= 1900, `${elapsed} ms for two attempts of 1 s`);
  // An attempt killed before Node even started the fake (a loaded machine) leaves no line; never
  // a third attempt, and those that ran are gone.
  const pids = await fakes.pids();
  t.true(pids.length <= 2, `${pids.length} attempts logged`);
  t.true(pids.every(isGone), "every hung attempt was killed");
});

test("a non-zero exit fails with failure exit, the exit code and stderr in the message", async (t) => {
  const fakes = await scenario({ "condor_q.af": { err: SCHEDD_DOWN, exit: 1 } });
  const { pool } = fakePool(fakes, { retries: 1 });
  const error = await t.throwsAsync(pool.idleJobs([{ cloud: "alpha", constraint: "true" }]), {
    instanceOf: CondorError,
  });
  t.is(error?.failure, "exit");
  t.is(error?.stderr, SCHEDD_DOWN.trim());
  t.is(
    error?.message,
    `condor_q -global -constraint 'JobStatus == 1 && ((true))' -af:t GlobalJobId ClusterId ProcId EnteredCurrentStatus QDate RequestCpus RequestMemory RequestGPUs Owner: exit code 1 (stderr: ${SCHEDD_DOWN.trim()})`,
  );
  t.is((await fakes.calls()).length, 2, "retried once");
});

test("a missing binary fails with failure spawn at once, without retries", async (t) => {
  const empty = await mkdtemp(join(tmpdir(), "condor-autoscaler-nobin-"));
  const started = Date.now();
  const error = await t.throwsAsync(
    runTool("condor_q", ["-global"], {
      binDir: empty,
      timeoutSeconds: 1,
      retries: 3,
      retryDelaySeconds: 5,
    }),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "spawn");
  t.is(
    error?.message,
    `condor_q -global: cannot run ${join(empty, "condor_q")}: not found (set condor.binDir, or PATH)`,
  );
  t.true(Date.now() - started < 2000, "no pause for a retry");
});

test("a tool that is not executable fails with failure spawn", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-noexec-"));
  await writeFile(join(dir, "condor_status"), "#!/bin/sh\necho '[]'\n");
  await chmod(join(dir, "condor_status"), 0o644);
  const error = await t.throwsAsync(
    runTool("condor_status", [], {
      binDir: dir,
      timeoutSeconds: 1,
      retries: 2,
      retryDelaySeconds: 0,
    }),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "spawn");
  t.regex(error?.message ?? "", /^condor_status: cannot run \/.*\/condor_status: EACCES$/);
});

test("a retry succeeds when the first attempt fails and the second works", async (t) => {
  const fakes = await scenario({
    "condor_q.af.1": { err: SCHEDD_DOWN, exit: 1 },
    "condor_q.af": fixture("01_condor_q_idle_jobs.af.txt"),
  });
  const { pool } = fakePool(fakes, { retries: 1 });
  const jobs = await pool.idleJobs([{ cloud: "alpha", constraint: "true" }]);
  t.is(jobs.length, 6);
  t.is((await fakes.calls()).length, 2);
});

test("a retry succeeds after a first attempt that hung", async (t) => {
  const fakes = await scenario({
    "condor_status.1": { mode: "hang" },
    condor_status: fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  });
  // 2 s: the answering attempt must also start Node within the timeout on a busy machine.
  const { pool } = fakePool(fakes, { timeout: 3, retries: 1 });
  t.is((await pool.machines()).length, 2);
  t.is((await fakes.pids()).length, 2);
});

test("retries are bounded: retries 2 is three attempts, then the last error", async (t) => {
  const fakes = await scenario({ condor_status: { err: "boom\n", exit: 3 } });
  const error = await t.throwsAsync(
    runTool("condor_status", ["-slots"], {
      binDir: fakes.binDir,
      timeoutSeconds: 10,
      retries: 2,
      retryDelaySeconds: 0,
    }),
    { instanceOf: CondorError },
  );
  t.is(error?.message, "condor_status -slots: exit code 3 (stderr: boom)");
  t.is((await fakes.calls()).length, 3);
});

test("attempts are spaced by retryDelaySeconds", async (t) => {
  const fakes = await scenario({ condor_status: { exit: 1 } });
  const started = Date.now();
  await t.throwsAsync(
    runTool("condor_status", [], {
      binDir: fakes.binDir,
      timeoutSeconds: 10,
      retries: 2,
      retryDelaySeconds: 0.2,
    }),
  );
  t.true(Date.now() - started >= 400);
});

test("a flood on stderr is cut to its end in the error", async (t) => {
  const flood = `${"x".repeat(5000)}\nthe actual reason\n`;
  const fakes = await scenario({ condor_q: { err: flood, exit: 1 } });
  const error = await t.throwsAsync(
    runTool("condor_q", [], { binDir: fakes.binDir, timeoutSeconds: 10, retries: 0 }),
    { instanceOf: CondorError },
  );
  t.true((error?.stderr.length ?? 0) <= 2000);
  t.true(error?.stderr.endsWith("the actual reason"));
});

test("truncated condor_status output fails with failure output naming the command, after the retries", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("05_condor_status_idle_autoscaler_truncated.json"),
  });
  const error = await t.throwsAsync(fakePool(fakes, { retries: 1 }).pool.machines(), {
    instanceOf: CondorError,
  });
  t.is(error?.failure, "output");
  t.true(error?.command.startsWith("condor_status -slots -json -attributes MyType,Name,"));
  t.regex(error?.message ?? "", /: malformed or truncated JSON \(8192 bytes\)/);
  t.is((await fakes.calls()).length, 2, "a broken answer is retried like a failed call");
});

test("a truncated answer followed by a whole one: the retry's answer is used", async (t) => {
  const fakes = await scenario({
    "condor_status.1": fixture("05_condor_status_idle_autoscaler_truncated.json"),
    condor_status: fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  });
  const machines = await fakePool(fakes, { retries: 1 }).pool.machines();
  t.deepEqual(
    machines.map((m) => [m.name, m.activity]),
    [
      ["worker1@vm", "idle"],
      ["worker2@vm", "idle"],
    ],
  );
});

test("malformed condor_status output fails with failure output naming the command", async (t) => {
  const fakes = await scenario({
    condor_status: fixture("05_condor_status_idle_autoscaler_truncated.json"),
  });
  const error = await t.throwsAsync(fakePool(fakes).pool.machines(), { instanceOf: CondorError });
  t.is(error?.failure, "output");
  t.regex(error?.message ?? "", /^condor_status -slots -json .*: malformed or truncated JSON/);
});

test("condor_q output in another format than asked (JSON instead of -af:t) fails with failure output", async (t) => {
  const fakes = await scenario({ "condor_q.af": fixture("01_condor_q_idle_jobs.json") });
  const error = await t.throwsAsync(
    fakePool(fakes).pool.idleJobs([{ cloud: "alpha", constraint: "true" }]),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "output");
  t.regex(
    error?.message ?? "",
    /^condor_q -global -constraint .*: line 1 has 1 fields, expected 9$/,
  );
});

test("the command in logs and errors is quoted as a person would type it", (t) => {
  t.is(
    commandLine("condor_q", ["-constraint", 'JobStatus == 1 && (Owner == "x")', "-json"]),
    `condor_q -constraint 'JobStatus == 1 && (Owner == "x")' -json`,
  );
  t.is(
    commandLine("condor_q", ["-constraint", "Owner == 'o'"]),
    `condor_q -constraint 'Owner == '\\''o'\\'''`,
  );
  t.is(
    commandLine("condor_status", ["-pool", "head.example.org:9618"]),
    "condor_status -pool head.example.org:9618",
  );
});

test.serial("without binDir the tools are found on PATH", async (t) => {
  const fakes = await scenario({ condor_q: "[\n]\n" });
  const path = process.env.PATH;
  // Only prepends a directory of fakes; concurrent tests use absolute binDirs.
  process.env.PATH = `${fakes.binDir}${delimiter}${path ?? ""}`;
  try {
    t.is(await runTool("condor_q", ["-version"], { timeoutSeconds: 10, retries: 0 }), "[\n]\n");
  } finally {
    process.env.PATH = path;
  }
  t.deepEqual(await fakes.calls(), [{ tool: "condor_q", argv: ["-version"] }]);
});

test("an answer larger than the limit is refused as output, naming the command, and the tool is not waited for", async (t) => {
  const fakes = await scenario({ condor_status: "x".repeat(3 * 1024 * 1024) });
  const error = await t.throwsAsync(
    runTool("condor_status", ["-slots"], {
      binDir: fakes.binDir,
      timeoutSeconds: 30,
      retries: 0,
      maxOutputBytes: 1024 * 1024,
    }),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "output");
  t.is(
    error?.message,
    "condor_status -slots: answer larger than 1048576 bytes: not read (condor.maxOutput)",
  );
});

test("a tool that hangs after starting children: the timeout kills its whole process group", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-wrapper-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pids = join(dir, "child.pid");
  // A wrapper such as a site's condor_q script: it starts a child and waits.
  await writeFile(join(dir, "condor_q"), `#!/bin/sh\nsleep 300 &\necho $! > ${pids}\nwait\n`, {
    mode: 0o755,
  });
  const error = await t.throwsAsync(
    runTool("condor_q", [], { binDir: dir, timeoutSeconds: 2, retries: 0 }),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "timeout");
  const child = Number((await readFile(pids, "utf8")).trim());
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.true(isGone(child), `the wrapper's child ${child} was killed too`);
});
