import test from "ava";
import { register } from "prom-client";
import { Metrics } from "../../src/daemon/metrics.js";
import type { Memory } from "../../src/model/memory.js";
import type { ObservationGap } from "../../src/model/snapshot.js";
import { plan } from "../../src/policy/plan.js";
import {
  backoff,
  booting,
  cloud,
  idle,
  memory,
  NOW,
  pool,
  snapshot,
  worker,
} from "../policy/builders.js";
import { failure, labelSets, parseExposition, report, type Sample, value } from "./reports.js";

const P = "condor_autoscaler_";

async function scrape(metrics: Metrics): Promise<Sample[]> {
  return parseExposition(await metrics.text());
}

function twoClouds() {
  return pool([cloud({ name: "alpha" }), cloud({ name: "beta", maxWorkers: 8 })]);
}

test("a complete tick sets demand, the last tick's time and the gap count", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(
    report({
      completedAt: NOW + 5,
      policy: twoClouds(),
      snapshot: { gaps: [{ source: "queue", message: "condor_q timed out" }] },
      plan: {
        demand: {
          alpha: { idleJobs: 7, cpus: 12, memoryMb: 4096, gpus: 0 },
          beta: { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 },
        },
      },
    }),
  );
  const samples = await scrape(metrics);
  t.is(value(samples, `${P}idle_jobs`, { cloud: "alpha" }), 7);
  t.is(value(samples, `${P}demanded_cpus`, { cloud: "alpha" }), 12);
  t.is(value(samples, `${P}idle_jobs`, { cloud: "beta" }), 0);
  t.is(value(samples, `${P}last_tick_timestamp_seconds`), NOW + 5);
  t.is(value(samples, `${P}observation_gaps`), 1);
  t.is(value(samples, `${P}ticks_total`, { outcome: "ok" }), 1);
});

test("workers are counted per cloud and state, and states with no worker read 0", async (t) => {
  const policy = pool([cloud({ name: "alpha", bootTimeout: 600 }), cloud({ name: "beta" })]);
  const observed = snapshot({
    workers: [
      worker("a1", { cloud: "alpha" }),
      worker("a2", { cloud: "alpha" }),
      idle("a3", 30, { cloud: "alpha" }),
      booting("a4", 60, { cloud: "alpha" }),
      booting("a5", 900, { cloud: "alpha" }),
    ],
  });
  // The real planner, so that `stuck` is derived as the daemon derives it.
  const decided = plan(observed, policy, memory(), NOW);
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(report({ policy, snapshot: observed, plan: decided }));
  const samples = await scrape(metrics);
  const alpha = (state: string) => value(samples, `${P}workers`, { cloud: "alpha", state });
  t.deepEqual(
    ["booting", "stuck", "missing", "idle", "busy", "failed", "gone"].map(alpha),
    [1, 1, 0, 1, 2, 0, 0],
  );
  t.is(labelSets(samples, `${P}workers`).filter((l) => l.cloud === "beta").length, 7);
  t.is(value(samples, `${P}workers`, { cloud: "beta", state: "busy" }), 0);
});

test("launches count what the clouds created, not what was asked, across ticks", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  const policy = twoClouds();
  metrics.tickCompleted(
    report({
      policy,
      outcomes: [{ cloud: "alpha", operation: "launch", requested: 5, succeeded: 3 }],
    }),
  );
  metrics.tickCompleted(
    report({
      tick: 2,
      policy,
      outcomes: [
        { cloud: "alpha", operation: "launch", requested: 2, succeeded: 2 },
        { cloud: "beta", operation: "launch", requested: 4, succeeded: 0 },
      ],
    }),
  );
  const samples = await scrape(metrics);
  t.is(value(samples, `${P}launches_total`, { cloud: "alpha" }), 5);
  t.is(value(samples, `${P}launches_total`, { cloud: "beta" }), 0);
});

test("terminations count the ids actually gone, each with the cause of the action that named it", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(
    report({
      plan: {
        actions: [
          {
            kind: "terminate",
            cloud: "alpha",
            instanceIds: ["i1", "i2"],
            cause: "idle",
            reason: "",
          },
          { kind: "terminate", cloud: "alpha", instanceIds: ["i3"], cause: "stuck", reason: "" },
        ],
      },
      outcomes: [
        // i2 was spared (it got a job) or failed to go: only i1 and i3 count.
        {
          cloud: "alpha",
          operation: "terminate",
          requested: 3,
          succeeded: 2,
          instanceIds: ["i1", "i3"],
        },
      ],
    }),
  );
  const samples = await scrape(metrics);
  const terminated = (cause: string) =>
    value(samples, `${P}terminations_total`, { cloud: "alpha", cause });
  t.is(terminated("idle"), 1);
  t.is(terminated("stuck"), 1);
  t.is(terminated("failed"), 0);
});

test("provider errors are counted per cloud and kind, scope errors included", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(
    report({
      policy: twoClouds(),
      outcomes: [
        {
          cloud: "alpha",
          operation: "launch",
          requested: 4,
          succeeded: 1,
          error: { kind: "quota", message: "no more" },
          scopeErrors: [
            { kind: "capacity", message: "none in a", scope: "zone=a" },
            { kind: "capacity", message: "none in b", scope: "zone=b" },
          ],
        },
        {
          cloud: "beta",
          operation: "terminate",
          requested: 1,
          succeeded: 0,
          error: { kind: "transient", message: "503" },
        },
      ],
    }),
  );
  const samples = await scrape(metrics);
  const errors = (cloudName: string, kind: string) =>
    value(samples, `${P}provider_errors_total`, { cloud: cloudName, kind });
  t.is(errors("alpha", "quota"), 1);
  t.is(errors("alpha", "capacity"), 2);
  t.is(errors("alpha", "auth"), 0);
  t.is(errors("beta", "transient"), 1);
});

test("backoff and disabled clouds read from the memory, as of the end of the tick", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  const policy = pool([
    cloud({ name: "alpha" }),
    cloud({ name: "beta" }),
    cloud({ name: "gamma" }),
  ]);
  metrics.tickCompleted(
    report({
      completedAt: NOW,
      policy,
      memory: memory({
        alpha: { backoff: backoff("quota", 130) },
        beta: { backoff: backoff("capacity", -10) },
        gamma: { disabled: { kind: "auth", message: "bad key", since: NOW - 60 } },
      }),
    }),
  );
  const samples = await scrape(metrics);
  const read = (metric: string, cloudName: string) =>
    value(samples, `${P}${metric}`, { cloud: cloudName });
  t.is(read("backoff_active", "alpha"), 1);
  t.is(read("backoff_seconds_remaining", "alpha"), 130);
  t.is(read("backoff_active", "beta"), 0, "an expired backoff is not active");
  t.is(read("backoff_seconds_remaining", "beta"), 0);
  t.is(read("cloud_disabled", "gamma"), 1);
  t.is(read("cloud_disabled", "alpha"), 0);
});

test("headroom is exported only while the cloud reports it", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(
    report({ snapshot: { clouds: { alpha: { headroom: { instances: 3, cpus: 12 } } } } }),
  );
  let samples = await scrape(metrics);
  t.is(value(samples, `${P}headroom_instances`, { cloud: "alpha" }), 3);
  t.is(value(samples, `${P}headroom_cpus`, { cloud: "alpha" }), 12);
  t.is(value(samples, `${P}headroom_memory_mb`, { cloud: "alpha" }), undefined);

  metrics.tickCompleted(report({ tick: 2, snapshot: { clouds: { alpha: {} } } }));
  samples = await scrape(metrics);
  t.deepEqual(labelSets(samples, `${P}headroom_instances`), []);
  t.deepEqual(labelSets(samples, `${P}headroom_cpus`), []);
});

test("a cloud removed from the policy disappears from the gauges; its counters stay", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(
    report({
      policy: twoClouds(),
      snapshot: { clouds: { beta: { headroom: { instances: 2 } } } },
      plan: { demand: { beta: { idleJobs: 3, cpus: 3, memoryMb: 0, gpus: 0 } } },
      outcomes: [{ cloud: "beta", operation: "launch", requested: 1, succeeded: 1 }],
    }),
  );
  metrics.tickCompleted(report({ tick: 2, policy: pool([cloud({ name: "alpha" })]) }));
  const samples = await scrape(metrics);
  const gauges = [
    "idle_jobs",
    "demanded_cpus",
    "workers",
    "backoff_active",
    "backoff_seconds_remaining",
    "cloud_disabled",
    "headroom_instances",
  ];
  for (const gauge of gauges) {
    t.false(
      labelSets(samples, `${P}${gauge}`).some((labels) => labels.cloud === "beta"),
      `${gauge} still has beta`,
    );
  }
  t.is(value(samples, `${P}idle_jobs`, { cloud: "alpha" }), 0);
  t.is(value(samples, `${P}launches_total`, { cloud: "beta" }), 1);
});

test("failed ticks are counted by reason and leave the last complete tick's gauges", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(
    report({
      completedAt: NOW,
      plan: { demand: { alpha: { idleJobs: 4, cpus: 4, memoryMb: 0, gpus: 0 } } },
    }),
  );
  metrics.tickFailed(failure("error", 2));
  metrics.tickFailed(failure("deadline", 3));
  metrics.tickFailed(failure("deadline", 4));
  const samples = await scrape(metrics);
  t.is(value(samples, `${P}ticks_total`, { outcome: "ok" }), 1);
  t.is(value(samples, `${P}ticks_total`, { outcome: "error" }), 1);
  t.is(value(samples, `${P}ticks_total`, { outcome: "deadline" }), 2);
  t.is(value(samples, `${P}last_tick_timestamp_seconds`), NOW);
  t.is(value(samples, `${P}idle_jobs`, { cloud: "alpha" }), 4);
});

test("tick durations, failed ticks included, go into the histogram", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.tickCompleted(report({ durationSeconds: 0.2 }));
  metrics.tickCompleted(report({ tick: 2, durationSeconds: 7 }));
  metrics.tickFailed(failure("deadline", 3));
  const samples = await scrape(metrics);
  t.is(value(samples, `${P}tick_duration_seconds_count`), 3);
  t.is(value(samples, `${P}tick_duration_seconds_sum`), 67.2);
  t.is(value(samples, `${P}tick_duration_seconds_bucket`, { le: "0.25" }), 1);
  t.is(value(samples, `${P}tick_duration_seconds_bucket`, { le: "10" }), 2);
  t.is(value(samples, `${P}tick_duration_seconds_bucket`, { le: "+Inf" }), 3);
});

test("before any tick, the tick counters read 0 and no per-cloud gauge exists", async (t) => {
  const samples = await scrape(new Metrics({ processMetrics: false }));
  t.is(value(samples, `${P}ticks_total`, { outcome: "ok" }), 0);
  t.is(value(samples, `${P}ticks_total`, { outcome: "deadline" }), 0);
  t.deepEqual(labelSets(samples, `${P}workers`), []);
});

test("each Metrics has its own registry: two coexist and the global registry stays empty", async (t) => {
  const first = new Metrics();
  const second = new Metrics();
  first.tickCompleted(report());
  t.is(value(await scrape(first), `${P}ticks_total`, { outcome: "ok" }), 1);
  t.is(value(await scrape(second), `${P}ticks_total`, { outcome: "ok" }), 0);
  t.false((await register.metrics()).includes(P));
});

test("process metrics are collected unless turned off", async (t) => {
  const names = (samples: Sample[]) => new Set(samples.map((s) => s.name));
  t.true(names(await scrape(new Metrics())).has("process_cpu_user_seconds_total"));
  t.false(
    names(await scrape(new Metrics({ processMetrics: false }))).has(
      "process_cpu_user_seconds_total",
    ),
  );
});

test("failed listings are counted per cloud and kind, and each source's last success is a gauge", async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  const policy = pool([cloud({ name: "alpha" }), cloud({ name: "beta" })]);
  const tick = (at: number, gaps: ObservationGap[], memory: Memory) =>
    metrics.tickCompleted(report({ completedAt: at, policy, snapshot: { gaps }, memory }));
  const refused: ObservationGap = { source: "cloud", cloud: "alpha", kind: "auth", message: "no" };
  const sight = (lastOk: number) => ({ failures: 0, lastOk });
  tick(NOW, [refused], {
    clouds: { alpha: { scoped: {} }, beta: { scoped: {}, listing: sight(NOW) } },
    sources: { queue: sight(NOW), machines: sight(NOW) },
  });
  tick(NOW + 30, [refused], {
    clouds: { alpha: { scoped: {} }, beta: { scoped: {}, listing: sight(NOW + 30) } },
    sources: { queue: sight(NOW + 30), machines: sight(NOW) },
  });
  const samples = await scrape(metrics);
  t.is(value(samples, `${P}list_failures_total`, { cloud: "alpha", kind: "auth" }), 2);
  t.is(value(samples, `${P}list_failures_total`, { cloud: "beta", kind: "auth" }), 0);
  const last = (source: string, cloud: string) =>
    value(samples, `${P}source_last_success_timestamp_seconds`, { source, cloud });
  t.is(last("queue", ""), NOW + 30);
  t.is(last("collector", ""), NOW);
  t.is(last("listing", "beta"), NOW + 30);
  t.is(
    labelSets(samples, `${P}source_last_success_timestamp_seconds`).filter(
      (l) => l.cloud === "alpha",
    ).length,
    0,
    "alpha never answered",
  );
});
