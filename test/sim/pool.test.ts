/** The simulated HTCondor pool over simulated clouds, on a clock that moves only when told to. */
import test from "ava";
import type { WorkerShape } from "../../src/model/policy.js";
import { SimulatedCloud } from "../../src/providers/simulated.js";
import { ManualClock } from "../../src/sim/clock.js";
import { type PoolEvent, SimulatedPool } from "../../src/sim/pool.js";
import type { JobSpec } from "../../src/sim/scenarios.js";
import { constant, START, simulatedSettings } from "../providers/settings.js";

/** Boots in 60 s and joins 30 s later: a worker launched at t joins at t + 90. */
const JOIN_AFTER = 90;
const NEGOTIATION = 60;
const SELECTORS = [{ cloud: "alpha", constraint: "true" }];

function job(overrides: Partial<JobSpec> = {}): JobSpec {
  return { submitAt: -120, runtime: 300, cpus: 1, memoryMb: 1000, gpus: 0, ...overrides };
}

function jobs(count: number, overrides: Partial<JobSpec> = {}): JobSpec[] {
  return Array.from({ length: count }, () => job(overrides));
}

interface Setup {
  jobs: JobSpec[];
  clouds?: Array<{ name: string; shape?: WorkerShape }>;
}

function setup(options: Setup) {
  const clock = new ManualClock(START);
  const clouds = (options.clouds ?? [{ name: "alpha" }]).map(
    ({ name, shape }) =>
      new SimulatedCloud({
        pool: "test",
        cloud: name,
        shape: shape ?? { cpus: 4, memoryMb: 8000, gpus: 0 },
        settings: simulatedSettings({ bootDelay: 60, bootSpread: 0, joinDelay: 30 }),
        clock,
        random: constant(0.5),
      }),
  );
  const events: PoolEvent[] = [];
  const pool = new SimulatedPool({
    pool: "test",
    clock,
    jobs: options.jobs,
    fleets: clouds,
    negotiationInterval: NEGOTIATION,
    onEvent: (event) => events.push(event),
  });
  const [alpha, beta] = clouds;
  if (alpha === undefined) throw new Error("setup needs a cloud");
  /** Moves the clock to `seconds` after the start. */
  const at = (seconds: number) => clock.set(START + seconds);
  return { clock, alpha, beta, pool, events, at };
}

async function launch(cloud: SimulatedCloud | undefined, count = 1): Promise<string[]> {
  if (cloud === undefined) throw new Error("no such cloud");
  const { instances } = await cloud.launch({ count, avoid: [] });
  return instances.map((instance) => instance.id);
}

// ---- The queue ----

test("jobs submitted at negative offsets are idle at the start, idle since before it", async (t) => {
  const { pool } = setup({ jobs: [job({ submitAt: -120 }), job({ submitAt: -30, cpus: 2 })] });
  const idle = await pool.idleJobs(SELECTORS);
  t.deepEqual(
    idle.map((j) => [j.idleSince, j.cpus]),
    [
      [START - 120, 1],
      [START - 30, 2],
    ],
  );
  t.deepEqual(pool.counts(), { future: 0, idle: 2, running: 0, done: 0, machines: 0 });
});

test("idle jobs carry the resources they ask for and are offered to every selected cloud", async (t) => {
  const { pool } = setup({ jobs: [job({ cpus: 2, memoryMb: 3000, gpus: 1 })] });
  const [idle] = await pool.idleJobs([
    { cloud: "alpha", constraint: "true" },
    { cloud: "beta", constraint: "RequestGpus > 0" },
  ]);
  t.like(idle, { cpus: 2, memoryMb: 3000, gpus: 1, clouds: ["alpha", "beta"] });
  t.regex(idle?.id ?? "", /^\d+\.\d+$/);
});

test("job ids are unique", async (t) => {
  const { pool } = setup({ jobs: jobs(50) });
  const ids = (await pool.idleJobs(SELECTORS)).map((j) => j.id);
  t.is(new Set(ids).size, 50);
});

test("a job submitted later appears only once the clock passes its submit time", async (t) => {
  const { pool, at } = setup({ jobs: [job({ submitAt: 100 })] });
  t.deepEqual(await pool.idleJobs(SELECTORS), []);
  t.is(pool.counts().future, 1);
  at(99);
  t.deepEqual(await pool.idleJobs(SELECTORS), []);
  at(100);
  const idle = await pool.idleJobs(SELECTORS);
  t.deepEqual(
    idle.map((j) => j.idleSince),
    [START + 100],
  );
  t.is(pool.counts().future, 0);
});

test("jobs given out of order are submitted in time order", async (t) => {
  const { pool, at } = setup({
    jobs: [job({ submitAt: 300 }), job({ submitAt: -10 }), job({ submitAt: 100 })],
  });
  t.is((await pool.idleJobs(SELECTORS)).length, 1);
  at(150);
  t.deepEqual(
    (await pool.idleJobs(SELECTORS)).map((j) => j.idleSince - START),
    [-10, 100],
  );
  at(300);
  t.is((await pool.idleJobs(SELECTORS)).length, 3);
});

// ---- Machines ----

test("a worker appears in machines() only once its startd has joined", async (t) => {
  const { pool, alpha, at } = setup({ jobs: [] });
  const [id] = await launch(alpha);
  const instance = alpha.fleet()[0];
  t.is(instance?.joinAt, START + JOIN_AFTER);
  at(JOIN_AFTER - 1);
  t.deepEqual(await pool.machines(), []);
  at(JOIN_AFTER);
  t.deepEqual(await pool.machines(), [
    {
      name: instance?.name ?? "",
      machine: instance?.name ?? "",
      address: instance?.address ?? "",
      instanceId: id ?? "",
      cloud: "alpha",
      pool: "test",
      activity: "idle",
      idleSeconds: 0,
    },
  ]);
});

test("a machine that never ran a job counts its idle time from when it joined", async (t) => {
  const { pool, alpha, at } = setup({ jobs: [] });
  await launch(alpha);
  at(JOIN_AFTER + 250);
  const [machine] = await pool.machines();
  t.is(machine?.activity, "idle");
  t.is(machine?.idleSeconds, 250);
});

test("machines of two clouds join the same pool, each naming its cloud", async (t) => {
  const { pool, alpha, beta, at } = setup({
    jobs: [],
    clouds: [{ name: "alpha" }, { name: "beta" }],
  });
  await launch(alpha);
  await launch(beta, 2);
  at(JOIN_AFTER);
  const machines = await pool.machines();
  t.deepEqual(machines.map((m) => m.cloud).sort(), ["alpha", "beta", "beta"]);
  t.is(new Set(machines.map((m) => m.machine)).size, 3);
  t.is(pool.counts().machines, 3);
});

// ---- Negotiation ----

test("idle jobs start only at a negotiation cycle, not as soon as a machine joins", async (t) => {
  const { pool, alpha, at } = setup({ jobs: jobs(2) });
  await launch(alpha);
  // Joins at 90; the negotiator runs at 0, 60, 120, …
  at(JOIN_AFTER);
  t.is(pool.counts().running, 0);
  at(2 * NEGOTIATION - 1);
  t.is(pool.counts().running, 0);
  at(2 * NEGOTIATION);
  t.like(pool.counts(), { idle: 0, running: 2 });
  const [machine] = await pool.machines();
  t.is(machine?.activity, "busy");
  t.is(machine?.idleSeconds, undefined);
});

test("a 4-cpu machine holds four 1-cpu jobs, not five", async (t) => {
  const { pool, alpha, at } = setup({ jobs: jobs(5) });
  await launch(alpha);
  at(2 * NEGOTIATION);
  t.like(pool.counts(), { idle: 1, running: 4 });
  t.is((await pool.idleJobs(SELECTORS)).length, 1);
});

test("memory limits how many jobs a machine holds", async (t) => {
  // 8000 MB: two 3000 MB jobs fit, a third does not, though cpus are left.
  const { pool, alpha, at } = setup({ jobs: jobs(3, { memoryMb: 3000 }) });
  await launch(alpha);
  at(2 * NEGOTIATION);
  t.like(pool.counts(), { idle: 1, running: 2 });
});

test("a job asking for more than any machine has stays idle", async (t) => {
  const { pool, alpha, at } = setup({ jobs: [job({ cpus: 8 }), job({ gpus: 1 }), job()] });
  await launch(alpha);
  at(10 * NEGOTIATION);
  t.like(pool.counts(), { idle: 2, done: 1 });
});

test("jobs of different sizes share a machine as far as it has room", async (t) => {
  const { pool, alpha, at } = setup({
    jobs: [job({ cpus: 3 }), job({ cpus: 2 }), job({ cpus: 1 })],
  });
  await launch(alpha);
  at(2 * NEGOTIATION);
  // 3 + 1 fill the 4 cpus; the 2-cpu job waits.
  t.like(pool.counts(), { idle: 1, running: 2 });
  const [waiting] = await pool.idleJobs(SELECTORS);
  t.is(waiting?.cpus, 2);
});

test("jobs spread over the machines of both clouds", async (t) => {
  const { pool, alpha, beta, at } = setup({
    jobs: jobs(10),
    clouds: [{ name: "alpha" }, { name: "beta" }],
  });
  await launch(alpha);
  await launch(beta);
  at(2 * NEGOTIATION);
  t.like(pool.counts(), { idle: 2, running: 8 });
  t.deepEqual(
    (await pool.machines()).map((m) => m.activity),
    ["busy", "busy"],
  );
});

// ---- Completion ----

test("a job finishes after its run time and frees its room", async (t) => {
  const { pool, alpha, at } = setup({ jobs: jobs(5, { runtime: 300 }) });
  await launch(alpha);
  // Four start at 120 and end at 420; the fifth starts at the next cycle after that (420).
  at(419);
  t.like(pool.counts(), { running: 4, idle: 1, done: 0 });
  at(420);
  t.like(pool.counts(), { running: 1, idle: 0, done: 4 });
  at(720);
  t.like(pool.counts(), { running: 0, idle: 0, done: 5 });
});

test("a machine is idle once its last job leaves, with idleSeconds counted from then", async (t) => {
  const { pool, alpha, at } = setup({
    jobs: [job({ runtime: 100 }), job({ runtime: 200 })],
  });
  await launch(alpha);
  // Both start at 120: they end at 220 and 320.
  at(300);
  t.is((await pool.machines())[0]?.activity, "busy");
  at(320);
  t.like((await pool.machines())[0], { activity: "idle", idleSeconds: 0 });
  at(400);
  t.like((await pool.machines())[0], { activity: "idle", idleSeconds: 80 });
});

test("time played in one big step gives the same result as many small ones", async (t) => {
  const workload = [...jobs(6, { runtime: 130 }), ...jobs(3, { submitAt: 200, runtime: 70 })];
  const big = setup({ jobs: workload });
  const small = setup({ jobs: workload });
  await launch(big.alpha);
  await launch(small.alpha);
  for (let s = 0; s <= 900; s += 7) {
    small.at(s);
    small.pool.counts();
  }
  small.at(900);
  big.at(900);
  t.deepEqual(big.pool.counts(), small.pool.counts());
  t.deepEqual(await big.pool.machines(), await small.pool.machines());
  t.deepEqual(big.events, small.events);
});

test("finished() is true only once every job has run to the end", async (t) => {
  const { pool, alpha, at } = setup({
    jobs: [job({ runtime: 100 }), job({ submitAt: 200, runtime: 100 })],
  });
  t.false(pool.finished());
  await launch(alpha);
  at(220);
  // The first is done, the second is idle.
  t.like(pool.counts(), { done: 1, idle: 1 });
  t.false(pool.finished());
  at(300);
  t.like(pool.counts(), { running: 1 });
  t.false(pool.finished());
  at(400);
  t.true(pool.finished());
});

test("an empty workload is finished from the start", (t) => {
  const { pool } = setup({ jobs: [] });
  t.true(pool.finished());
});

test("a workload whose jobs are all still to come is not finished", (t) => {
  const { pool } = setup({ jobs: [job({ submitAt: 3600 })] });
  t.false(pool.finished());
});

// ---- Termination ----

test("terminating an instance removes its machine and puts its running jobs back to idle", async (t) => {
  const { pool, alpha, at } = setup({ jobs: jobs(6, { runtime: 1000 }) });
  const [id] = await launch(alpha);
  at(2 * NEGOTIATION);
  t.like(pool.counts(), { running: 4, idle: 2 });
  at(200);
  await alpha.terminate([id ?? ""]);
  t.deepEqual(await pool.machines(), []);
  const idle = await pool.idleJobs(SELECTORS);
  t.is(idle.length, 6);
  // The evicted jobs wait again from the eviction; the two that never ran keep their time.
  t.deepEqual(
    idle.map((j) => j.idleSince - START).sort((a, b) => a - b),
    [-120, -120, 200, 200, 200, 200],
  );
  t.like(pool.counts(), { running: 0, idle: 6, machines: 0 });
});

test("evicted jobs run again on another machine", async (t) => {
  const { pool, alpha, at } = setup({ jobs: jobs(4, { runtime: 1000 }) });
  const [first] = await launch(alpha);
  at(200);
  t.is(pool.counts().running, 4);
  await alpha.terminate([first ?? ""]);
  t.is(pool.counts().idle, 4);
  await launch(alpha);
  at(200 + JOIN_AFTER + NEGOTIATION);
  t.is(pool.counts().running, 4);
  // They run their full time again from the restart: none is done 1000 s after the first start.
  at(1200);
  t.is(pool.counts().done, 0);
});

test("an instance terminated before it joined never appears in the pool", async (t) => {
  const { pool, alpha, at, events } = setup({ jobs: [] });
  const [id] = await launch(alpha);
  at(30);
  await alpha.terminate([id ?? ""]);
  at(10 * JOIN_AFTER);
  t.deepEqual(await pool.machines(), []);
  t.false(events.some((e) => e.kind === "joined" || e.kind === "left"));
});

test("terminating an idle machine evicts nothing", async (t) => {
  const { pool, alpha, at, events } = setup({ jobs: [] });
  const [id] = await launch(alpha);
  at(JOIN_AFTER);
  t.is((await pool.machines()).length, 1);
  await alpha.terminate([id ?? ""]);
  at(JOIN_AFTER + 10);
  t.deepEqual(await pool.machines(), []);
  t.deepEqual(
    events.filter((e) => e.kind === "left"),
    [{ kind: "left", at: START + JOIN_AFTER + 10, machine: "test-alpha-000001", evicted: 0 }],
  );
});

// ---- Events ----

test("events report submissions, joins, negotiations, completions and departures in order", async (t) => {
  const { pool, alpha, at, events } = setup({
    jobs: [...jobs(5, { runtime: 100 }), job({ submitAt: 150, runtime: 1000 })],
  });
  const [id] = await launch(alpha);
  at(300);
  pool.counts();
  await alpha.terminate([id ?? ""]);
  at(310);
  pool.counts();
  t.deepEqual(events, [
    { kind: "submitted", at: START, jobs: 5 },
    { kind: "joined", at: START + 90, machine: "test-alpha-000001", cloud: "alpha" },
    { kind: "negotiated", at: START + 120, started: 4, idle: 1 },
    { kind: "submitted", at: START + 150, jobs: 1 },
    { kind: "finished", at: START + 220, jobs: 4 },
    { kind: "negotiated", at: START + 240, started: 2, idle: 0 },
    { kind: "left", at: START + 310, machine: "test-alpha-000001", evicted: 2 },
  ]);
});

test("a negotiation cycle that starts nothing emits no event", async (t) => {
  const { pool, at, events } = setup({ jobs: jobs(3) });
  at(10 * NEGOTIATION);
  pool.counts();
  t.deepEqual(events, [{ kind: "submitted", at: START, jobs: 3 }]);
});

// Events up to now are played before terminated machines leave: a job that ended before the
// termination was done, even when nothing queried the pool in between.
test("a job that ended before its instance was terminated counts as done, not evicted", async (t) => {
  const { pool, alpha, at, events } = setup({ jobs: [job({ runtime: 100 })] });
  const [id] = await launch(alpha);
  at(JOIN_AFTER);
  pool.counts();
  // The job runs from 120 to 220; the instance is terminated at 300, with no query in between.
  at(300);
  await alpha.terminate([id ?? ""]);
  t.like(pool.counts(), { done: 1, idle: 0 });
  t.true(pool.finished());
  t.false(events.some((e) => e.kind === "left" && e.evicted > 0));
});

test("the truth an oracle sees: jobs to come, what runs where until when, and when a launch joins", async (t) => {
  const { alpha, pool, at } = setup({
    jobs: [job({ submitAt: 0, runtime: 300 }), job({ submitAt: 500 }), job({ submitAt: 900 })],
  });
  t.deepEqual(
    pool.arrivals(START + 600).map((j) => j.at - START),
    [500],
  );
  t.is(pool.nextArrivalAfter(START + 500) - START, 900);
  t.is(pool.nextArrivalAfter(START + 900), Number.POSITIVE_INFINITY);
  t.deepEqual(pool.idleNow(10), [{ cpus: 1, memoryMb: 1000, gpus: 0, runtime: 300 }]);
  const [id] = await launch(alpha);
  t.deepEqual(
    pool.joining().map((i) => ({ id: i.id, joinAt: i.joinAt - START })),
    [{ id, joinAt: JOIN_AFTER }],
  );
  at(120);
  const [machine] = pool.machinesNow();
  t.is(machine?.id, id);
  t.deepEqual(machine?.free, { cpus: 3, memoryMb: 7000, gpus: 0 });
  t.deepEqual(
    machine?.running.map((r) => r.endsAt - START),
    [120 + 300],
    "started at the 120 s negotiation, ends 300 s later",
  );
  t.deepEqual(pool.joining(), []);
});
