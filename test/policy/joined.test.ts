/**
 * Workers that have joined the pool once are never `booting` again: without ads they are
 * `missing` (a collector gap, or a one-job pilot done with its job). Never killed as stuck for
 * it, never counted as room for waiting jobs.
 */
import test from "ava";
import { rememberJoined } from "../../src/policy/joined.js";
import { plan } from "../../src/policy/plan.js";
import {
  booting,
  CLOUD,
  cloud,
  idle,
  jobs,
  launched,
  memory,
  NOW,
  pool,
  snapshot,
  terminated,
  worker,
} from "./builders.js";

test("a worker that joined before and shows no ads now is missing: not stuck, not terminated", (t) => {
  // Both have no ads and are past the boot timeout; w-1 had joined, w-2 never did.
  const result = plan(
    snapshot({ workers: [booting("w-1", 7200), booting("w-2", 7200)] }),
    pool(),
    memory({ [CLOUD]: { joined: ["w-1"] } }),
    NOW,
  );
  t.deepEqual(
    result.workers.map((w) => [w.instanceId, w.state]),
    [
      ["w-1", "missing"],
      ["w-2", "stuck"],
    ],
  );
  t.deepEqual(terminated(result), ["w-2"]);
  t.true(
    result.notes.includes(
      "1 worker joined the pool before but show no ads now: kept, and no room for jobs",
    ),
  );
});

test("a missing worker is no room for jobs: waiting jobs get a new worker (a one-job pilot done with its job)", (t) => {
  const perJob = cloud({ jobsPerWorker: 1, worker: { cpus: 1, memoryMb: 2048 } });
  const waiting = jobs(1);
  const joinedBefore = plan(
    snapshot({ jobs: waiting, workers: [booting("p-1", 30)] }),
    pool([perJob]),
    memory({ [CLOUD]: { joined: ["p-1"] } }),
    NOW,
  );
  t.deepEqual(launched(joinedBefore), { [CLOUD]: 1 });
  const neverJoined = plan(
    snapshot({ jobs: waiting, workers: [booting("p-1", 30)] }),
    pool([perJob]),
    memory(),
    NOW,
  );
  t.deepEqual(launched(neverJoined), {}, "a booting pilot will take the job");
});

test("ads of every worker vanish at once (a collector restart): none is terminated", (t) => {
  const workers = ["w-1", "w-2", "w-3"].map((id) => booting(id, 7200));
  const result = plan(
    snapshot({ workers }),
    pool(),
    memory({ [CLOUD]: { joined: ["w-1", "w-2", "w-3"] } }),
    NOW,
  );
  t.deepEqual(terminated(result), []);
  t.true(result.workers.every((w) => w.state === "missing"));
});

test("rememberJoined adds workers seen idle or busy, forgets those the cloud no longer lists", (t) => {
  const before = memory({ [CLOUD]: { joined: ["old", "w-1"] } });
  const after = rememberJoined(
    before,
    snapshot({ workers: [worker("w-1", { state: "booting" }), idle("w-2", 10), worker("w-3")] }),
    [cloud()],
  );
  t.deepEqual(after.clouds[CLOUD]?.joined, ["w-1", "w-2", "w-3"]);
  t.deepEqual(before.clouds[CLOUD]?.joined, ["old", "w-1"], "inputs are not changed");
});

test("rememberJoined keeps every joined id of a cloud whose listing failed", (t) => {
  const before = memory({ [CLOUD]: { joined: ["w-1", "w-2"] } });
  const after = rememberJoined(
    before,
    snapshot({ gaps: [{ source: "cloud", cloud: CLOUD, message: "list failed (throttled)" }] }),
    [cloud()],
  );
  t.deepEqual(after.clouds[CLOUD]?.joined, ["w-1", "w-2"]);
});
