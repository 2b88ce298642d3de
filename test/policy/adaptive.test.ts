/** The adaptive defaults, `persistence: auto` and `idleTimeout: auto` (src/policy/adaptive.ts). */
import test from "ava";
import { AUTO_BOOT_TIME_GUESS, CLASSIC_PERSISTENCE } from "../../src/config/defaults.js";
import type { Memory } from "../../src/model/memory.js";
import {
  bootTime,
  bufferTimeout,
  persistenceNow,
  rememberDemand,
  rememberQuota,
} from "../../src/policy/adaptive.js";
import { plan } from "../../src/policy/plan.js";
import {
  booting,
  CLOUD,
  cloud,
  idle,
  job,
  jobs,
  launched,
  memory,
  NOW,
  pool,
  snapshot,
  terminated,
  worker,
} from "./builders.js";

const auto = pool([cloud({ idleTimeout: "auto" })], "auto");

/** Jobs arrived every `gap` seconds, the last one `lastAge` ago; boots of `boot` seconds. */
function learned(gap: number, lastAge: number, boot = 120): Memory {
  return {
    ...memory({ [CLOUD]: { boots: [boot, boot, boot] } }),
    demand: {
      gaps: Array.from({ length: 20 }, () => gap),
      lastArrival: NOW - lastAge,
      frees: [],
      busy: [],
    },
  };
}

test("rememberDemand learns boot times, arrival gaps and frees from what it sees", (t) => {
  const before: Memory = {
    ...memory({ [CLOUD]: { joined: ["old"] } }),
    demand: { gaps: [], lastArrival: NOW - 300, frees: [], busy: ["b1"] },
  };
  const seen = snapshot({
    workers: [
      worker("new", { launchedAt: NOW - 150 }),
      // Launched longer ago than its boot timeout: met after a restart, says nothing of boots.
      idle("ancient", 10, { launchedAt: NOW - 5000 }),
      worker("old"),
      idle("b1", 5),
    ],
    jobs: [job("1.0", { idleSince: NOW - 100 }), job("1.1", { idleSince: NOW - 40 })],
  });
  const next = rememberDemand(before, before, seen, auto, NOW);
  t.deepEqual(next.clouds[CLOUD]?.boots, [150]);
  t.deepEqual(next.demand?.gaps, [200, 60]);
  t.is(next.demand?.lastArrival, NOW - 40);
  t.deepEqual(next.demand?.frees, [NOW]);
  t.is(bootTime(next, CLOUD), 150);
  t.is(bootTime(memory(), CLOUD), AUTO_BOOT_TIME_GUESS);
});

test("rememberDemand learns nothing for a policy with fixed values", (t) => {
  const fixed = pool([cloud({ idleTimeout: 600 })], 60);
  const seen = snapshot({
    jobs: [job("1.0")],
    workers: [worker("new", { launchedAt: NOW - 100 })],
  });
  t.deepEqual(rememberDemand(memory(), memory(), seen, fixed, NOW), memory());
});

test("idleTimeout auto: the warm buffer's worker waits out the usual gap, the others one boot", (t) => {
  const learnt = learned(600, 60);
  t.is(bufferTimeout(learnt, 120), 600);
  const result = plan(
    snapshot({ workers: [idle("fresh", 130), idle("older", 400), idle("oldest", 700)] }),
    auto,
    learnt,
    NOW,
  );
  // "fresh" is the buffer (most recently busy): kept until 600 s; the others are past 120 s.
  t.deepEqual(terminated(result).sort(), ["older", "oldest"]);
  t.true(result.actions.some((a) => /boot time, idleTimeout auto 2m/.test(a.reason)));
});

test("idleTimeout auto: an extra idle worker on a dearer cloud is kept for a boot at the cheapest cloud's price", (t) => {
  const clouds = [
    cloud({ name: "cheap", priority: 1, idleTimeout: "auto", costPerHour: 0.05 }),
    cloud({ name: "dear", priority: 2, idleTimeout: "auto", costPerHour: 0.2 }),
  ];
  const learnt: Memory = {
    ...memory({ cheap: { boots: [120] }, dear: { boots: [120] } }),
    demand: {
      gaps: Array.from({ length: 20 }, () => 600),
      lastArrival: NOW - 60,
      frees: [],
      busy: [],
    },
  };
  const result = plan(
    snapshot({
      workers: [
        idle("buffer", 20, { cloud: "cheap" }),
        idle("cheap-extra", 100, { cloud: "cheap" }),
        idle("dear-young", 20, { cloud: "dear" }),
        idle("dear-extra", 40, { cloud: "dear" }),
      ],
    }),
    pool(clouds, "auto"),
    learnt,
    NOW,
  );
  // The cheap extra waits out its boot (120 s); a dear one 120 s × 0.05 / 0.2 = 30 s.
  t.deepEqual(terminated(result), ["dear-extra"]);
  t.true(
    result.actions.some((a) =>
      /a boot at the cheapest cloud's price \(0\.05\/h, this one 0\.2\/h\), idleTimeout auto 30s/.test(
        a.reason,
      ),
    ),
  );
});

test("idleTimeout auto: after a quiet spell longer than the buffer's timeout nothing is kept", (t) => {
  const result = plan(snapshot({ workers: [idle("w", 200)] }), auto, learned(100, 5000), NOW);
  t.deepEqual(terminated(result), ["w"]);
});

test("idleTimeout auto: while jobs keep arriving one spare worker is launched, never with a fixed idleTimeout", (t) => {
  const busy = snapshot({ workers: [worker("b1"), worker("b2")] });
  const withBuffer = plan(busy, auto, learned(100, 30), NOW);
  t.deepEqual(launched(withBuffer), { [CLOUD]: 1 });
  t.regex(withBuffer.actions[0]?.reason ?? "", /spare worker.*warm buffer of 1/);
  // A worker booting is the spare already.
  t.deepEqual(
    launched(
      plan(snapshot({ workers: [worker("b1"), booting("s", 30)] }), auto, learned(100, 30), NOW),
    ),
    {},
  );
  const fixed = pool([cloud({ idleTimeout: 600 })], "auto");
  t.deepEqual(launched(plan(busy, fixed, learned(100, 30), NOW)), {});
});

test("persistence auto: at once when the queue outgrows the workers expected to free up while it is held, else the classic wait", (t) => {
  // Two 4-cpu jobs, one idle worker: one more worker is needed.
  const queue = snapshot({
    jobs: jobs(2, { cpus: 4, idleSince: NOW - 5 }),
    workers: [worker("b")],
  });
  t.is(persistenceNow(queue, auto, memory(), NOW), 0);
  const freeingEvery = (seconds: number): Memory => ({
    ...memory(),
    demand: {
      gaps: [],
      frees: Array.from({ length: Math.floor(1800 / seconds) }, (_, i) => NOW - i * seconds),
      busy: [],
    },
  });
  // A worker frees every 30 s: two within the 60 s hold.
  t.is(persistenceNow(queue, auto, freeingEvery(30), NOW), CLASSIC_PERSISTENCE);
  // One every 90 s: two within a boot (3m before any is seen) but none to count on within the
  // hold, which would only delay the launch.
  t.is(persistenceNow(queue, auto, freeingEvery(90), NOW), 0);
  t.is(persistenceNow(queue, pool([cloud()], 60), memory(), NOW), 60);
});

test("a cloud that answered quota with n workers takes no more: the demand spills over in the same tick", (t) => {
  const clouds = [
    cloud({ name: "cheap", priority: 1, idleTimeout: "auto" }),
    cloud({ name: "dear", priority: 2, idleTimeout: "auto" }),
  ];
  const policy = pool(clouds, "auto");
  const workers = ["a", "b"].map((id) => worker(id, { cloud: "cheap" }));
  const answered = rememberQuota(
    memory(),
    [
      {
        cloud: "cheap",
        operation: "launch",
        requested: 2,
        succeeded: 0,
        error: { kind: "quota", message: "no" },
      },
    ],
    snapshot({ workers }),
    policy,
    NOW - 600,
  );
  t.deepEqual(answered.clouds.cheap?.quotaSeen, { instances: 2, at: NOW - 600 });
  const demand = snapshot({
    workers,
    jobs: jobs(2, { cpus: 4, clouds: ["cheap", "dear"], idleSince: NOW - 120 }),
  });
  t.deepEqual(launched(plan(demand, policy, answered, NOW)), { dear: 2 });
  // A fixed policy learns no quota: it tries the cheap cloud again.
  const fixed = pool(
    clouds.map((c) => ({ ...c, idleTimeout: 600 })),
    60,
  );
  t.deepEqual(rememberQuota(memory(), [], snapshot(), fixed, NOW), memory());
  t.deepEqual(launched(plan(demand, fixed, answered, NOW)), { cheap: 2 });
});
