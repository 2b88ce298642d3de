/**
 * Demand through the fake condor_q: the idle jobs HTCondor selects, per cloud, with the requests
 * HTCondor evaluated, in one `-af:t` call per schedd. The fake evaluates nothing, so each scenario
 * serves what condor_q prints for the query the test expects (test/fixtures/htcondor/PROVENANCE.md
 * says where each answer comes from), and the query itself is asserted.
 */
import test from "ava";
import { cloudFlag, JOB_COLUMNS, parseQueue } from "../../src/condor/queue.js";
import { CondorError } from "../../src/model/errors.js";
import type { IdleJob } from "../../src/model/snapshot.js";
import { argAfter, fakePool, fixture, removeScenarios, scenario } from "./fake-condor.js";

test.after.always(removeScenarios);

const ALL = [{ cloud: "alpha", constraint: "true" }];
const AF_TAIL = ["-af:t", ...JOB_COLUMNS];

function ids(jobs: readonly IdleJob[]): string[] {
  return jobs.map((job) => job.id);
}

/** An -af:t line of job 1.<proc> as the real pool printed them, with the flags given. */
function afLine(proc: number, ...flags: number[]): string {
  return [
    `vm#1.${proc}#1795347830`,
    "1",
    String(proc),
    "1795347830",
    "1795347830",
    "1",
    "128",
    "undefined",
    "submitter",
    ...flags.map(String),
  ].join("\t");
}

test("idle jobs of the real 01 queue carry what the planner needs, from one condor_q -global -af call", async (t) => {
  const fakes = await scenario({ "condor_q.af": fixture("01_condor_q_idle_jobs.af.txt") });
  const { pool } = fakePool(fakes);
  const jobs = await pool.idleJobs(ALL);
  t.is(jobs.length, 6);
  t.deepEqual(jobs[0], {
    id: "vm#1.0",
    idleSince: 1795347830,
    cpus: 1,
    memoryMb: 128,
    gpus: 0,
    clouds: ["alpha"],
    owner: "submitter",
  });
  t.deepEqual(ids(jobs), ["vm#1.0", "vm#1.1", "vm#1.2", "vm#1.3", "vm#1.4", "vm#1.5"]);
  const calls = await fakes.calls();
  t.deepEqual(calls, [
    {
      tool: "condor_q",
      // No shell: the constraint is one argument, spaces and parentheses included.
      argv: ["-global", "-constraint", "JobStatus == 1 && ((true))", ...AF_TAIL],
    },
  ]);
});
test("only the idle jobs of the real 02 and 04 queues count (JobStatus 1, with their own times)", async (t) => {
  for (const file of ["02_condor_q_idle_only.af.txt", "04_condor_q_idle_only.af.txt"]) {
    const fakes = await scenario({ "condor_q.af": fixture(file) });
    const jobs = await fakePool(fakes).pool.idleJobs(ALL);
    t.deepEqual(ids(jobs), ["vm#1.4", "vm#1.5"], file);
    t.deepEqual(
      jobs.map((job) => job.idleSince),
      [1795347830, 1795347830],
    );
    const [call] = await fakes.calls();
    t.true(call?.argv.includes("-global"));
  }
});

test("held jobs never count: HTCondor is asked for JobStatus == 1 only", async (t) => {
  // The queue has 1.4 and 1.5 held; condor_q answers the constraint with the four idle jobs.
  const held = fixture("01_condor_q_two_held.json");
  t.is((held.match(/"JobStatus": 5,/g) ?? []).length, 2);
  const fakes = await scenario({
    "condor_q.af": fixture("01_condor_q_two_held_constrained.af.txt"),
  });
  const jobs = await fakePool(fakes).pool.idleJobs([
    { cloud: "alpha", constraint: 'Owner == "submitter" || JobStatus == 5' },
  ]);
  t.deepEqual(ids(jobs), ["vm#1.0", "vm#1.1", "vm#1.2", "vm#1.3"]);
  const [call] = await fakes.calls();
  // The cloud's constraint is parenthesised, so an || in it cannot reach around JobStatus == 1.
  t.is(
    argAfter(call?.argv ?? [], "-constraint"),
    'JobStatus == 1 && ((Owner == "submitter" || JobStatus == 5))',
  );
});

test("clouds sharing one constraint: one call without flags, every job for each of them", async (t) => {
  const fakes = await scenario({ "condor_q.af": fixture("02_condor_q_idle_only.af.txt") });
  const jobs = await fakePool(fakes).pool.idleJobs([
    { cloud: "alpha", constraint: "RequestCpus <= 4" },
    { cloud: "beta", constraint: " RequestCpus <= 4 " },
  ]);
  t.deepEqual(
    jobs.map((job) => [job.id, job.clouds]),
    [
      ["vm#1.4", ["alpha", "beta"]],
      ["vm#1.5", ["alpha", "beta"]],
    ],
  );
  const calls = await fakes.calls();
  t.is(calls.length, 1);
  t.deepEqual(calls[0]?.argv, [
    "-global",
    "-constraint",
    "JobStatus == 1 && ((RequestCpus <= 4))",
    ...AF_TAIL,
  ]);
});

test("clouds with different constraints: a flag per cloud that HTCondor evaluates, in the same call", async (t) => {
  const fakes = await scenario({ "condor_q.af": `${afLine(4, 1, 0)}\n${afLine(5, 1, 1)}\n` });
  const selectors = [
    { cloud: "alpha", constraint: "RequestCpus <= 4" },
    { cloud: "beta", constraint: 'Owner == "submitter" && ProcId == 5' },
  ];
  const jobs = await fakePool(fakes).pool.idleJobs(selectors);
  t.deepEqual(
    jobs.map((job) => [job.id, job.clouds]),
    [
      ["vm#1.4", ["alpha"]],
      ["vm#1.5", ["alpha", "beta"]],
    ],
  );
  const calls = await fakes.calls();
  t.is(calls.length, 1, "one call however many clouds");
  t.deepEqual(calls[0]?.argv, [
    "-global",
    "-constraint",
    'JobStatus == 1 && ((RequestCpus <= 4) || (Owner == "submitter" && ProcId == 5))',
    ...AF_TAIL,
    "ifThenElse((RequestCpus <= 4) =?= true, 1, 0)",
    'ifThenElse((Owner == "submitter" && ProcId == 5) =?= true, 1, 0)',
  ]);
});

test("three clouds, two distinct constraints: the or-ed constraint names each once, a flag per cloud", async (t) => {
  const fakes = await scenario({ "condor_q.af": `${afLine(4, 1, 0, 1)}\n${afLine(5, 1, 0, 1)}\n` });
  const jobs = await fakePool(fakes).pool.idleJobs([
    { cloud: "alpha", constraint: "true" },
    { cloud: "beta", constraint: "RequestGpus > 0" },
    { cloud: "gamma", constraint: "true" },
  ]);
  t.deepEqual(
    jobs.map((job) => job.clouds),
    [
      ["alpha", "gamma"],
      ["alpha", "gamma"],
    ],
  );
  const argv = (await fakes.calls())[0]?.argv ?? [];
  t.is(argAfter(argv, "-constraint"), "JobStatus == 1 && ((true) || (RequestGpus > 0))");
  t.deepEqual(argv.slice(-3), [cloudFlag("true"), cloudFlag("RequestGpus > 0"), cloudFlag("true")]);
});

test("a job no cloud's flag selects is not demand", async (t) => {
  const fakes = await scenario({ "condor_q.af": `${afLine(4, 0, 0)}\n${afLine(5, 0, 1)}\n` });
  const jobs = await fakePool(fakes).pool.idleJobs([
    { cloud: "alpha", constraint: "false" },
    { cloud: "beta", constraint: "ProcId == 5" },
  ]);
  t.deepEqual(
    jobs.map((job) => [job.id, job.clouds]),
    [["vm#1.5", ["beta"]]],
  );
});

test("an -af line with the wrong number of fields refuses the whole answer (a queue gap), naming the line", async (t) => {
  const fakes = await scenario({ "condor_q.af": `${afLine(4, 1)}\n${afLine(5, 1, 1)}\n` });
  const error = await t.throwsAsync(
    fakePool(fakes).pool.idleJobs([
      { cloud: "alpha", constraint: "true" },
      { cloud: "beta", constraint: "ProcId == 5" },
    ]),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "output");
  t.regex(error?.message ?? "", /^condor_q -global .*: line 1 has 10 fields, expected 11$/);
});

test("requests that are expressions count with the values HTCondor evaluated for them", (t) => {
  // A job without request_memory: -json prints RequestMemory as an /Expr(...)/, -af its value.
  const fields = [
    "vm#3.0#1795347830",
    "3",
    "0",
    "1795347900",
    "1795347900",
    "2",
    "1",
    "undefined",
    "submitter",
  ];
  const answer = parseQueue(`${fields.join("\t")}\n`, "condor_q", ["alpha"], false);
  t.deepEqual(answer.jobs, [
    {
      id: "vm#3.0",
      idleSince: 1795347900,
      cpus: 2,
      memoryMb: 1,
      gpus: 0,
      clouds: ["alpha"],
      owner: "submitter",
    },
  ]);
});

test("listed schedds: one condor_q per schedd with -name (and -pool), no -global; jobs of both", async (t) => {
  const fakes = await scenario({
    "condor_q@vm.af": fixture("01_condor_q_idle_jobs.af.txt"),
    "condor_q@vm2.af": fixture("04_condor_q_idle_only_schedd_vm2.af.txt"),
  });
  const jobs = await fakePool(fakes, {
    collector: "head.example.org:9618",
    schedds: ["vm", "vm2"],
  }).pool.idleJobs(ALL);
  t.is(jobs.length, 8);
  t.deepEqual(ids(jobs).slice(5), ["vm#1.5", "vm2#1.4", "vm2#1.5"]);
  const calls = await fakes.calls();
  t.deepEqual(calls.map((call) => call.argv.slice(0, 4)).sort(), [
    ["-pool", "head.example.org:9618", "-name", "vm"],
    ["-pool", "head.example.org:9618", "-name", "vm2"],
  ]);
  t.false(calls.some((call) => call.argv.includes("-global")));
});

test("-global answers of two schedds, one after the other, count the jobs of both", async (t) => {
  const fakes = await scenario({
    "condor_q.af":
      fixture("01_condor_q_idle_jobs.af.txt") + fixture("04_condor_q_idle_only_schedd_vm2.af.txt"),
  });
  const jobs = await fakePool(fakes).pool.idleJobs(ALL);
  t.is(jobs.length, 8);
  t.is(new Set(ids(jobs)).size, 8, "the schedd's name keeps 1.4 of vm and of vm2 apart");
});

test("one schedd failing fails the whole answer: no partial demand", async (t) => {
  const fakes = await scenario({
    "condor_q@vm.af": fixture("01_condor_q_idle_jobs.af.txt"),
    "condor_q@vm2.af": { err: "-- Failed to fetch ads from: <10.0.0.2:9618> : vm2\n", exit: 1 },
  });
  const error = await t.throwsAsync(
    fakePool(fakes, { schedds: ["vm", "vm2"] }).pool.idleJobs(ALL),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "exit");
  t.regex(error?.message ?? "", /^condor_q -name vm2 -constraint .*: exit code 1/);
});

test("jobs whose requests HTCondor evaluates to undefined or error are skipped, counted and logged", async (t) => {
  const lines = [
    afLine(0),
    afLine(1).replace("\t1\t128\t", "\terror\t128\t"),
    afLine(2).replace("\t1\t128\t", "\t1\tundefined\t"),
    // RequestCpus undefined is HTCondor's default of one core.
    afLine(3).replace("\t1\t128\t", "\tundefined\t128\t"),
    // No EnteredCurrentStatus: QDate instead.
    afLine(4).replace("\t1795347830\t1795347830\t", "\tundefined\t1795347830\t"),
  ];
  const fakes = await scenario({ "condor_q.af": `${lines.join("\n")}\n` });
  const { pool, records } = fakePool(fakes);
  const jobs = await pool.idleJobs(ALL);
  t.deepEqual(
    jobs.map((job) => [job.id, job.cpus, job.memoryMb, job.idleSince]),
    [
      ["vm#1.0", 1, 128, 1795347830],
      ["vm#1.3", 1, 128, 1795347830],
      ["vm#1.4", 1, 128, 1795347830],
    ],
  );
  t.is(records.length, 1);
  t.is(records[0]?.level, 40);
  t.is(
    records[0]?.msg,
    "condor_q: 2 idle jobs skipped, a request HTCondor evaluates to undefined or not a number (e.g. job 1.1)",
  );
  t.deepEqual(records[0]?.skipped, { count: 2, example: "1.1" });
});

test("an empty -global queue (HTCondor prints 'All queues are empty', exit 0) is no demand, and no error", async (t) => {
  const fakes = await scenario({ "condor_q.af": fixture("condor_q_global_empty_queue.txt") });
  t.deepEqual(await fakePool(fakes).pool.idleJobs(ALL), []);
});

test("the fake answers an empty -global queue as HTCondor 25 does", async (t) => {
  // A scenario with no answer prints nothing; with -global the fake prints HTCondor's line.
  const fakes = await scenario();
  t.deepEqual(await fakePool(fakes).pool.idleJobs(ALL), []);
  t.is(fixture("condor_q_global_empty_queue.txt"), "All queues are empty\n");
});

test("an empty queue of one schedd (condor_q -name prints nothing) is no demand, and no error", async (t) => {
  const fakes = await scenario({ "condor_q@vm.af": "" });
  t.deepEqual(await fakePool(fakes, { schedds: ["vm"] }).pool.idleJobs(ALL), []);
});

test("no clouds: condor_q is not called", async (t) => {
  const fakes = await scenario();
  t.deepEqual(await fakePool(fakes).pool.idleJobs([]), []);
  t.deepEqual(await fakes.calls(), []);
});

test("GPU requests are read from RequestGPUs, undefined meaning none", (t) => {
  const line = (gpus: string) =>
    ["vm#7.0#1", "7", "0", "100", "100", "4", "8000", gpus, "u"].join("\t");
  const gpusOf = (gpus: string) => parseQueue(line(gpus), "condor_q", ["gpu"], false).jobs[0]?.gpus;
  t.is(gpusOf("2"), 2);
  t.is(gpusOf("undefined"), 0);
  t.is(parseQueue(line("error"), "condor_q", ["gpu"], false).skipped.count, 1);
});

test("the real pool's jobs with request expressions (no request_memory, request_cpus = $(Process) % 2 + 1) make demand", async (t) => {
  // -json prints those requests as /Expr(...)/; the same jobs' -af answer has HTCondor's values.
  t.regex(
    fixture("06_condor_q_request_expressions.json"),
    /"RequestMemory": "\\\/Expr\(ifthenelse/,
  );
  const fakes = await scenario({
    "condor_q.af": fixture("06_condor_q_request_expressions_flagged.af.txt"),
  });
  const jobs = await fakePool(fakes).pool.idleJobs([
    { cloud: "one", constraint: "RequestCpus == 1" },
    { cloud: "two", constraint: "RequestCpus == 2" },
  ]);
  t.deepEqual(
    jobs.map((job) => [job.id, job.cpus, job.memoryMb, job.clouds, job.owner]),
    [
      ["vm#5.0", 1, 1, ["one"], "condortest"],
      ["vm#5.1", 2, 1, ["two"], "condortest"],
      ["vm#6.0", 1, 128, ["one"], "condortest"],
    ],
  );
});

test("the same schedd listed twice (or one answering twice) counts each job once", async (t) => {
  const fakes = await scenario({ "condor_q@vm.af": fixture("01_condor_q_idle_jobs.af.txt") });
  const jobs = await fakePool(fakes, { schedds: ["vm", "vm"] }).pool.idleJobs(ALL);
  t.is(jobs.length, 6);
  const doubled = await scenario({
    "condor_q.af":
      fixture("01_condor_q_idle_jobs.af.txt") + fixture("01_condor_q_idle_jobs.af.txt"),
  });
  t.is((await fakePool(doubled).pool.idleJobs(ALL)).length, 6);
});
