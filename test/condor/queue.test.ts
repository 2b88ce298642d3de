/**
 * Demand through the fake condor_q: the idle jobs HTCondor selects, per cloud, in at most two calls
 * per schedd. The fake evaluates nothing, so each scenario serves what condor_q prints for the
 * constraint the test expects (the idle-only files are the real outputs without their running
 * jobs, see test/fixtures/htcondor/PROVENANCE.md), and the constraint itself is asserted.
 */
import test from "ava";
import { idleJobFromAd, JOB_ATTRIBUTES } from "../../src/condor/queue.js";
import { CondorError } from "../../src/model/errors.js";
import type { IdleJob } from "../../src/model/snapshot.js";
import {
  argAfter,
  type FakeCall,
  fakePool,
  fixture,
  removeScenarios,
  scenario,
} from "./fake-condor.js";

test.after.always(removeScenarios);

const ALL = [{ cloud: "alpha", constraint: "true" }];
const JSON_TAIL = ["-json", "-attributes", JOB_ATTRIBUTES.join(",")];

function ids(jobs: readonly IdleJob[]): string[] {
  return jobs.map((job) => job.id);
}

function isAf(call: FakeCall): boolean {
  return call.argv.includes("-af");
}

test("idle jobs of the real 01 output carry what the planner needs, from one condor_q -global call", async (t) => {
  const fakes = await scenario({ condor_q: fixture("01_condor_q_idle_jobs.json") });
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
      argv: ["-global", "-constraint", "JobStatus == 1 && ((true))", ...JSON_TAIL],
    },
  ]);
});

test("only the idle jobs of the real 02 and 04 queues count (JobStatus 1, with their own times)", async (t) => {
  for (const file of ["02_condor_q_idle_only.json", "04_condor_q_idle_only.json"]) {
    const fakes = await scenario({ condor_q: fixture(file) });
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
  const fakes = await scenario({ condor_q: fixture("01_condor_q_two_held_constrained.json") });
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

test("clouds sharing one constraint: one condor_q call, no -af, every job for each of them", async (t) => {
  const fakes = await scenario({ condor_q: fixture("02_condor_q_idle_only.json") });
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
  t.false(calls.some(isAf));
  t.is(argAfter(calls[0]?.argv ?? [], "-constraint"), "JobStatus == 1 && ((RequestCpus <= 4))");
});

test("clouds with different constraints: membership per cloud from one -af call that HTCondor evaluates", async (t) => {
  const fakes = await scenario({
    condor_q: fixture("02_condor_q_idle_only.json"),
    // What condor_q -af prints for these jobs: GlobalJobId, then one 1/0 per cloud.
    "condor_q.af": "vm#1.4#1795347830 1 0\nvm#1.5#1795347830 1 1\n",
  });
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
  t.is(calls.length, 2, "two calls however many clouds");
  const constraint =
    'JobStatus == 1 && ((RequestCpus <= 4) || (Owner == "submitter" && ProcId == 5))';
  const json = calls.find((call) => !isAf(call));
  const af = calls.find(isAf);
  t.deepEqual(json?.argv, ["-global", "-constraint", constraint, ...JSON_TAIL]);
  t.deepEqual(af?.argv, [
    "-global",
    "-constraint",
    constraint,
    "-af",
    "GlobalJobId",
    "ifThenElse((RequestCpus <= 4) =?= true, 1, 0)",
    'ifThenElse((Owner == "submitter" && ProcId == 5) =?= true, 1, 0)',
  ]);
});

test("three clouds, two distinct constraints: the or-ed constraint names each once, -af has a flag per cloud", async (t) => {
  const fakes = await scenario({
    condor_q: fixture("02_condor_q_idle_only.json"),
    "condor_q.af": "vm#1.4#1795347830 1 0 1\nvm#1.5#1795347830 1 0 1\n",
  });
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
  const calls = await fakes.calls();
  t.is(calls.length, 2);
  const af = calls.find(isAf)?.argv ?? [];
  t.is(argAfter(af, "-constraint"), "JobStatus == 1 && ((true) || (RequestGpus > 0))");
  t.is(af.length - af.indexOf("GlobalJobId") - 1, 3);
});

test("a job no cloud selects in the -af answer is not demand", async (t) => {
  const fakes = await scenario({
    condor_q: fixture("02_condor_q_idle_only.json"),
    "condor_q.af": "vm#1.4#1795347830 0 0\nvm#1.5#1795347830 0 1\n",
  });
  const jobs = await fakePool(fakes).pool.idleJobs([
    { cloud: "alpha", constraint: "false" },
    { cloud: "beta", constraint: "ProcId == 5" },
  ]);
  t.deepEqual(
    jobs.map((job) => [job.id, job.clouds]),
    [["vm#1.5", ["beta"]]],
  );
});

test("a job in the JSON but missing from the -af answer (it arrived between the calls) is not counted", async (t) => {
  const fakes = await scenario({
    condor_q: fixture("01_condor_q_idle_jobs.json"),
    "condor_q.af": [0, 1, 2, 4, 5].map((proc) => `vm#1.${proc}#1795347830 1 1`).join("\n"),
  });
  const { pool, records } = fakePool(fakes);
  const jobs = await pool.idleJobs([
    { cloud: "alpha", constraint: "true" },
    { cloud: "beta", constraint: "RequestCpus == 1" },
  ]);
  t.deepEqual(ids(jobs), ["vm#1.0", "vm#1.1", "vm#1.2", "vm#1.4", "vm#1.5"]);
  t.deepEqual(records, [], "not a skipped job: it is counted at the next tick");
});

test("an -af line with the wrong number of fields is ignored, not misread", async (t) => {
  const fakes = await scenario({
    condor_q: fixture("02_condor_q_idle_only.json"),
    "condor_q.af": "vm#1.4#1795347830 1\nvm#1.5#1795347830 1 1\n",
  });
  const jobs = await fakePool(fakes).pool.idleJobs([
    { cloud: "alpha", constraint: "true" },
    { cloud: "beta", constraint: "ProcId == 5" },
  ]);
  t.deepEqual(ids(jobs), ["vm#1.5"]);
});

test("listed schedds: one condor_q per schedd with -name (and -pool), no -global; jobs of both", async (t) => {
  const fakes = await scenario({
    "condor_q@vm": fixture("01_condor_q_idle_jobs.json"),
    "condor_q@vm2": fixture("04_condor_q_idle_only_schedd_vm2.json"),
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

test("listed schedds with different constraints: the -af call goes to each schedd too", async (t) => {
  const fakes = await scenario({
    "condor_q@vm": fixture("02_condor_q_idle_only.json"),
    "condor_q@vm.af": "vm#1.4#1795347830 1 0\nvm#1.5#1795347830 0 1\n",
    "condor_q@vm2": fixture("04_condor_q_idle_only_schedd_vm2.json"),
    "condor_q@vm2.af": "vm2#1.4#1795347830 0 1\nvm2#1.5#1795347830 0 0\n",
  });
  const jobs = await fakePool(fakes, { schedds: ["vm", "vm2"] }).pool.idleJobs([
    { cloud: "alpha", constraint: "ProcId == 4" },
    { cloud: "beta", constraint: "ProcId >= 4" },
  ]);
  t.deepEqual(
    jobs.map((job) => [job.id, job.clouds]),
    [
      ["vm#1.4", ["alpha"]],
      ["vm#1.5", ["beta"]],
      ["vm2#1.4", ["beta"]],
    ],
  );
  const calls = await fakes.calls();
  t.is(calls.length, 4);
  t.is(calls.filter((call) => argAfter(call.argv, "-name") === "vm2" && isAf(call)).length, 1);
});

test("-global output of two schedds (lists back to back) counts the jobs of both", async (t) => {
  const fakes = await scenario({ condor_q: fixture("condor_q_global_two_schedds.json") });
  const jobs = await fakePool(fakes).pool.idleJobs(ALL);
  t.is(jobs.length, 8);
  t.is(new Set(ids(jobs)).size, 8, "the schedd's name keeps 1.4 of vm and of vm2 apart");
});

test("one schedd failing fails the whole answer: no partial demand", async (t) => {
  const fakes = await scenario({
    "condor_q@vm": fixture("01_condor_q_idle_jobs.json"),
    "condor_q@vm2": { err: "-- Failed to fetch ads from: <10.0.0.2:9618> : vm2\n", exit: 1 },
  });
  const error = await t.throwsAsync(
    fakePool(fakes, { schedds: ["vm", "vm2"] }).pool.idleJobs(ALL),
    { instanceOf: CondorError },
  );
  t.is(error?.failure, "exit");
  t.regex(error?.message ?? "", /^condor_q -name vm2 -constraint .*: exit code 1/);
});

test("jobs with attributes missing or of the wrong type are skipped, counted and logged", async (t) => {
  // 1.1 RequestCpus "1", 1.2 RequestMemory an /Expr(...)/, 1.3 no RequestCpus (HTCondor's
  // default: 1), 1.4 no RequestMemory, 1.5 no EnteredCurrentStatus (QDate instead).
  const fakes = await scenario({ condor_q: fixture("01_condor_q_bad_attributes.json") });
  const { pool, records } = fakePool(fakes);
  const jobs = await pool.idleJobs(ALL);
  t.deepEqual(
    jobs.map((job) => [job.id, job.cpus, job.memoryMb, job.idleSince]),
    [
      ["vm#1.0", 1, 128, 1795347830],
      ["vm#1.3", 1, 128, 1795347830],
      ["vm#1.5", 1, 128, 1795347830],
    ],
  );
  t.is(records.length, 1);
  t.is(records[0]?.level, 40);
  t.is(
    records[0]?.msg,
    "condor_q: 3 idle jobs skipped, attributes missing or not numbers (e.g. job 1.1)",
  );
  t.deepEqual(records[0]?.skipped, { count: 3, example: "1.1" });
});

test("an empty queue (condor_q prints nothing) is no demand, and no error", async (t) => {
  const fakes = await scenario({ condor_q: fixture("05_condor_q_empty.json") });
  t.deepEqual(await fakePool(fakes).pool.idleJobs(ALL), []);
});

test("no clouds: condor_q is not called", async (t) => {
  const fakes = await scenario();
  t.deepEqual(await fakePool(fakes).pool.idleJobs([]), []);
  t.deepEqual(await fakes.calls(), []);
});

test("GPU requests are read as HTCondor spells them (RequestGPUs), and in any other casing it prints", (t) => {
  const ad = {
    ClusterId: 7,
    ProcId: 0,
    EnteredCurrentStatus: 100,
    RequestCpus: 4,
    RequestMemory: 8000,
  };
  t.is(idleJobFromAd({ ...ad, RequestGPUs: 2 }, ["gpu"])?.gpus, 2);
  t.is(idleJobFromAd({ ...ad, RequestGpus: 1 }, ["gpu"])?.gpus, 1);
  t.is(idleJobFromAd(ad, ["gpu"])?.gpus, 0);
  t.is(idleJobFromAd({ ...ad, RequestGPUs: "/Expr(2)/" }, ["gpu"]), undefined);
});
