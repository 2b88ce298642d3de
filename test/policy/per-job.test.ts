/**
 * One-job workers (a Docker cloud with `perJob: true`, hence `jobsPerWorker: 1`): the planner asks
 * for a worker per idle job, however many would fit on one, and counts each idle or booting worker
 * as room for a single job.
 */
import test from "ava";
import type { Plan } from "../../src/model/plan.js";
import type { CloudPolicy, WorkerShape } from "../../src/model/policy.js";
import type { IdleJob, Worker } from "../../src/model/snapshot.js";
import { type JobClass, packInto } from "../../src/policy/demand.js";
import { plan } from "../../src/policy/plan.js";
import {
  booting,
  type CloudOverrides,
  cloud,
  idle,
  jobs,
  launchActions,
  launched,
  memory,
  NOW,
  pool,
  snapshot,
  worker,
} from "./builders.js";

/** An 8-cpu, 16 GB worker: room for eight of the builders' one-cpu, 2 GB jobs. */
const BIG: Partial<WorkerShape> = { cpus: 8, memoryMb: 16_384 };

const pilots = (overrides: CloudOverrides = {}): CloudPolicy =>
  cloud({ name: "alpha", worker: BIG, jobsPerWorker: 1, ...overrides });

function planFor(clouds: CloudPolicy[], idleJobs: IdleJob[], workers: Worker[] = []): Plan {
  return plan(snapshot({ jobs: idleJobs, workers }), pool(clouds), memory(), NOW);
}

test("six small idle jobs that would pack into one 8-cpu worker ask for six one-job workers", (t) => {
  const shared = planFor([cloud({ name: "alpha", worker: BIG })], jobs(6));
  const perJob = planFor([pilots()], jobs(6));
  t.deepEqual(launched(shared), { alpha: 1 });
  t.deepEqual(launched(perJob), { alpha: 6 });
  t.regex(
    launchActions(perJob)[0]?.reason ?? "",
    /6 idle jobs .* need 6 new 8-cpu\/16384MB workers/,
  );
});

test("one-job workers are asked for whatever the jobs' sizes", (t) => {
  const mixed = [
    ...jobs(2, { cpus: 4, memoryMb: 8000 }, "1"),
    ...jobs(3, { cpus: 1, memoryMb: 500 }, "2"),
  ];
  t.deepEqual(launched(planFor([pilots()], mixed)), { alpha: 5 });
});

test("each idle or booting one-job worker absorbs a single job", (t) => {
  const workers = [idle("i1", 30), idle("i2", 30), booting("b1", 60)];
  const perJob = planFor([pilots()], jobs(5), workers);
  const shared = planFor([cloud({ name: "alpha", worker: BIG })], jobs(5), workers);
  t.deepEqual(launched(perJob), { alpha: 2 });
  t.regex(launchActions(perJob)[0]?.reason ?? "", /3 more jobs fit on workers booting or idle/);
  t.deepEqual(launched(shared), {}, "a shared 8-cpu worker would have taken all five");
});

test("busy one-job workers absorb nothing", (t) => {
  const workers = [worker("w1"), worker("w2"), worker("w3")];
  t.deepEqual(launched(planFor([pilots()], jobs(4), workers)), { alpha: 4 });
});

test("maxWorkers still caps the one-job workers, and the jobs left waiting are noted", (t) => {
  const result = planFor([pilots({ maxWorkers: 4 })], jobs(10), [worker("w1")]);
  t.deepEqual(launched(result), { alpha: 3 });
  t.true(
    result.notes.some((note) =>
      /alpha: could not take 7 more jobs: capped by maxWorkers 4/.test(note),
    ),
    JSON.stringify(result.notes),
  );
});

test("maxLaunchPerTick caps the one-job workers of a tick", (t) => {
  const result = planFor([pilots({ maxLaunchPerTick: 5 })], jobs(12));
  t.deepEqual(launched(result), { alpha: 5 });
});

test("jobs a one-job cloud cannot take spill to a shared cloud that packs them", (t) => {
  const result = planFor(
    [
      pilots({ name: "pilots", priority: 1, maxWorkers: 2 }),
      cloud({ name: "shared", priority: 2 }),
    ],
    jobs(6, { clouds: ["pilots", "shared"] }),
  );
  // Two jobs on two one-job workers; four on one shared 4-cpu worker.
  t.deepEqual(launched(result), { pilots: 2, shared: 1 });
});

// ---- packInto ----

function jobClass(count: number, cpus = 1, memoryMb = 1000): JobClass {
  return { cpus, memoryMb, gpus: 0, clouds: ["alpha"], count, remaining: count };
}

const shape: WorkerShape = { cpus: 8, memoryMb: 16_384, gpus: 0 };

test("packInto puts one job on each worker when jobsPerWorker is 1", (t) => {
  const classes = [jobClass(5)];
  t.deepEqual(packInto(classes, shape, 3, 1), { workers: 3, jobs: 3, cpus: 3, memoryMb: 3000 });
  t.is(classes[0]?.remaining, 2, "the placed jobs are taken off the class");
  t.deepEqual(packInto(classes, shape, 10, 1), { workers: 2, jobs: 2, cpus: 2, memoryMb: 2000 });
  t.is(classes[0]?.remaining, 0);
});

test("packInto without jobsPerWorker fills a worker as far as its shape allows", (t) => {
  const classes = [jobClass(5)];
  t.deepEqual(packInto(classes, shape, 3), { workers: 1, jobs: 5, cpus: 5, memoryMb: 5000 });
});

test("packInto with jobsPerWorker 4 puts at most four jobs on a worker", (t) => {
  t.deepEqual(packInto([jobClass(6)], shape, 10, 4), {
    workers: 2,
    jobs: 6,
    cpus: 6,
    memoryMb: 6000,
  });
});

test("packInto with jobsPerWorker counts jobs of every class against the same limit", (t) => {
  const classes = [jobClass(1, 4, 4000), jobClass(3, 1, 1000)];
  // Worker 1: the 4-cpu job and one 1-cpu job; worker 2: the two 1-cpu jobs left.
  t.deepEqual(packInto(classes, shape, 10, 2), { workers: 2, jobs: 4, cpus: 7, memoryMb: 7000 });
  t.deepEqual(
    classes.map((c) => c.remaining),
    [0, 0],
  );
});

test("packInto with jobsPerWorker still respects the worker's memory", (t) => {
  // Two 6000 MB jobs cannot share a 8192 MB worker even though two would be allowed.
  const small: WorkerShape = { cpus: 8, memoryMb: 8192, gpus: 0 };
  t.deepEqual(packInto([jobClass(3, 1, 6000)], small, 10, 2), {
    workers: 3,
    jobs: 3,
    cpus: 3,
    memoryMb: 18_000,
  });
});

test("packInto with jobsPerWorker 1 places min(jobs, workers) for any counts", (t) => {
  for (const count of [0, 1, 7, 40]) {
    for (const workers of [0, 1, 5, 50]) {
      const packed = packInto([jobClass(count)], shape, workers, 1);
      const expected = Math.min(count, workers);
      t.is(packed.workers, expected, `${count} jobs, ${workers} workers`);
      t.is(packed.jobs, expected, `${count} jobs, ${workers} workers`);
    }
  }
});
