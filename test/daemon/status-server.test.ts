import { createServer } from "node:net";
import test from "ava";
import { STATUS_MAX_CONNECTIONS } from "../../src/config/defaults.js";
import { Metrics } from "../../src/daemon/metrics.js";
import { type StatusDocument, StatusTracker } from "../../src/daemon/status.js";
import {
  type MetricsSource,
  type StatusServer,
  startStatusServer,
} from "../../src/daemon/status-server.js";
import { registerSecret } from "../../src/secrets.js";
import { ManualClock } from "../../src/sim/clock.js";
import { backoff, booting, cloud, idle, memory, NOW, pool, worker } from "../policy/builders.js";
import { memoryLog } from "../tick/support.js";
import { failure, parseExposition, report, value } from "./reports.js";

const INTERVAL = 30;
const DEADLINE = 60;
/** 3 × the interval + the deadline. */
const LIMIT = 150;

interface Setup {
  server: StatusServer;
  clock: ManualClock;
  tracker: StatusTracker;
  metrics: Metrics;
  errors: () => string[];
}

async function setup(
  t: { teardown: (fn: () => Promise<void>) => void },
  metricsSource?: MetricsSource,
): Promise<Setup> {
  const clock = new ManualClock(NOW);
  const tracker = new StatusTracker({
    pool: "test",
    tickInterval: INTERVAL,
    tickDeadline: DEADLINE,
    clock,
  });
  const metrics = new Metrics({ processMetrics: false });
  const { log, records } = memoryLog();
  const server = await startStatusServer({
    address: "127.0.0.1",
    port: 0,
    metrics: metricsSource ?? metrics,
    status: () => tracker.document(),
    health: () => tracker.health(),
    log,
  });
  t.teardown(() => server.close());
  const errors = () => records.filter((r) => r.level >= 50).map((r) => r.msg);
  return { server, clock, tracker, metrics, errors };
}

function observeBoth(s: Setup, tickReport: ReturnType<typeof report>): void {
  s.tracker.tickCompleted(tickReport);
  s.metrics.tickCompleted(tickReport);
}

test("port 0 gets a free port, which the server reports", async (t) => {
  const { server } = await setup(t);
  t.true(server.port > 0);
  t.is(server.address, "127.0.0.1");
  t.is(server.url, `http://127.0.0.1:${server.port}`);
});

test("GET /metrics answers the Prometheus text format with its content type", async (t) => {
  const s = await setup(t);
  observeBoth(s, report({ completedAt: NOW }));
  const response = await fetch(`${s.server.url}/metrics`);
  t.is(response.status, 200);
  t.regex(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const samples = parseExposition(await response.text());
  t.is(value(samples, "condor_autoscaler_ticks_total", { outcome: "ok" }), 1);
  t.is(value(samples, "condor_autoscaler_last_tick_timestamp_seconds"), NOW);
});

test("GET /healthz: ok while starting, 503 with no tick past the limit, ok after a tick, 503 once it is stale", async (t) => {
  const s = await setup(t);
  const health = async () => {
    const response = await fetch(`${s.server.url}/healthz`);
    return { status: response.status, body: await response.text() };
  };

  const starting = await health();
  t.is(starting.status, 200);
  t.regex(starting.body, /^ok/);

  s.clock.advance(LIMIT + 1);
  const noTick = await health();
  t.is(noTick.status, 503);
  t.regex(noTick.body, /no tick yet/);

  s.tracker.tickCompleted(report({ tick: 1, completedAt: s.clock.now() }));
  s.clock.advance(LIMIT);
  t.deepEqual(await health(), { status: 200, body: "ok\n" });

  s.tracker.tickFailed(failure("deadline", 2));
  s.clock.advance(1);
  const stale = await health();
  t.is(stale.status, 503);
  t.regex(stale.body, /last complete tick \(1\) ended 2m31s ago \(limit 2m30s\)/);
  t.regex(stale.body, /1 failed since \(last: deadline: deadline in the test\)/);
});

test("retime moves the health limit, as a reload of the tick interval or deadline does", (t) => {
  const clock = new ManualClock(NOW);
  const tracker = new StatusTracker({ pool: "test", tickInterval: 30, tickDeadline: 60, clock });
  tracker.tickCompleted(report({ completedAt: NOW }));
  clock.advance(200);
  t.false(tracker.health().healthy);
  tracker.retime(60, 60);
  t.is(tracker.healthLimit, 240);
  t.true(tracker.health().healthy);
});

test("GET /status joins the plan's workers with what was observed, and reports each cloud", async (t) => {
  const s = await setup(t);
  const policy = pool([
    cloud({ name: "alpha", minWorkers: 1, maxWorkers: 8 }),
    cloud({ name: "beta", maxWorkers: 4 }),
  ]);
  const image = `sha256:${"0123456789abcdef".repeat(4)}`;
  s.tracker.tickCompleted(
    report({
      tick: 7,
      completedAt: NOW,
      durationSeconds: 1.5,
      policy,
      snapshot: {
        workers: [
          worker("a1", { cloud: "alpha", image }),
          idle("a2", 200, { cloud: "alpha" }),
          booting("b1", 60, { cloud: "beta" }),
        ],
        clouds: { alpha: { headroom: { instances: 5 } }, beta: {} },
        gaps: [{ source: "cloud", cloud: "beta", message: "list timed out" }],
      },
      plan: {
        demand: { alpha: { idleJobs: 3, cpus: 3, memoryMb: 6144, gpus: 0 } },
        workers: [
          {
            cloud: "alpha",
            name: "test-alpha-a1",
            instanceId: "a1",
            state: "busy",
            idleSeconds: null,
          },
          {
            cloud: "alpha",
            name: "test-alpha-a2",
            instanceId: "a2",
            state: "idle",
            idleSeconds: 200,
          },
          {
            cloud: "beta",
            name: "test-beta-b1",
            instanceId: "b1",
            state: "booting",
            idleSeconds: null,
          },
        ],
        actions: [{ kind: "launch", cloud: "alpha", count: 1, reason: "3 jobs wait" }],
        notes: ["beta: backing off"],
      },
      memory: memory({
        beta: { backoff: backoff("quota", 100) },
        alpha: { disabled: { kind: "config", message: "no such image", since: NOW - 5 } },
      }),
    }),
  );
  s.clock.advance(10);
  const response = await fetch(`${s.server.url}/status`);
  t.is(response.status, 200);
  t.regex(response.headers.get("content-type") ?? "", /^application\/json/);
  const doc = (await response.json()) as StatusDocument;

  t.is(doc.pool, "test");
  t.is(doc.generatedAt, NOW + 10);
  t.deepEqual(doc.lastTick, {
    tick: 7,
    startedAt: NOW - 1,
    completedAt: NOW,
    durationSeconds: 1.5,
  });
  t.deepEqual(doc.workers[0], {
    cloud: "alpha",
    name: "test-alpha-a1",
    instanceId: "a1",
    state: "busy",
    launchedAt: NOW - 3600,
    idleSeconds: null,
    image,
  });
  t.is(doc.workers[1]?.idleSeconds, 200);
  t.is(doc.workers[1]?.image, null);
  t.is(doc.workers[2]?.launchedAt, NOW - 60);

  const [alpha, beta] = doc.clouds;
  t.is(alpha?.name, "alpha");
  t.is(alpha?.minWorkers, 1);
  t.is(alpha?.maxWorkers, 8);
  t.deepEqual(alpha?.workers, {
    booting: 0,
    stuck: 0,
    missing: 0,
    idle: 1,
    busy: 1,
    failed: 0,
    gone: 0,
  });
  t.deepEqual(alpha?.headroom, { instances: 5 });
  t.deepEqual(alpha?.demand, { idleJobs: 3, cpus: 3, memoryMb: 6144, gpus: 0 });
  t.deepEqual(alpha?.disabled, { kind: "config", message: "no such image", since: NOW - 5 });
  t.is(alpha?.backoff, null);
  t.is(beta?.headroom, null);
  t.deepEqual(beta?.demand, { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 });
  t.deepEqual(beta?.backoff, {
    kind: "quota",
    until: NOW + 100,
    secondsLeft: 90,
    failures: 1,
    message: "quota from the test",
  });
  t.deepEqual(doc.notes, ["beta: backing off"]);
  t.deepEqual(doc.actions, [{ kind: "launch", cloud: "alpha", count: 1, reason: "3 jobs wait" }]);
  t.deepEqual(doc.gaps, [{ source: "cloud", cloud: "beta", message: "list timed out" }]);
});

test("GET /status before the first tick names the pool and has no workers or clouds", async (t) => {
  const s = await setup(t);
  s.tracker.tickFailed(failure("error", 1));
  const doc = (await (await fetch(`${s.server.url}/status`)).json()) as StatusDocument;
  t.is(doc.pool, "test");
  t.is(doc.lastTick, null);
  t.deepEqual(doc.workers, []);
  t.deepEqual(doc.clouds, []);
  t.is(doc.lastFailure?.reason, "error");
  t.is(doc.failuresSinceLastTick, 1);
});

test("a backoff that has run out by the time of the request reads as none", async (t) => {
  const s = await setup(t);
  s.tracker.tickCompleted(
    report({ completedAt: NOW, memory: memory({ alpha: { backoff: backoff("capacity", 30) } }) }),
  );
  t.is(s.tracker.document().clouds[0]?.backoff?.secondsLeft, 30);
  s.clock.advance(31);
  t.is(s.tracker.document().clouds[0]?.backoff, null);
});

test("a complete tick resets the count of failures since the last one", async (t) => {
  const s = await setup(t);
  s.tracker.tickFailed(failure("deadline", 1));
  s.tracker.tickFailed(failure("error", 2));
  t.is(s.tracker.document().failuresSinceLastTick, 2);
  s.tracker.tickCompleted(report({ tick: 3, completedAt: NOW }));
  const doc = s.tracker.document();
  t.is(doc.failuresSinceLastTick, 0);
  t.is(doc.lastFailure?.tick, 2);
});

test("other paths answer 404 and other methods 405 with Allow", async (t) => {
  const { server } = await setup(t);
  const missing = await fetch(`${server.url}/nope`);
  t.is(missing.status, 404);
  const posted = await fetch(`${server.url}/status`, { method: "POST", body: "{}" });
  t.is(posted.status, 405);
  t.is(posted.headers.get("allow"), "GET, HEAD");
  const deleted = await fetch(`${server.url}/metrics`, { method: "DELETE" });
  t.is(deleted.status, 405);
});

test("a query string does not change the path", async (t) => {
  const { server } = await setup(t);
  const response = await fetch(`${server.url}/healthz?verbose=1`);
  t.is(response.status, 200);
});

test("a metrics source that fails answers 500 and is logged", async (t) => {
  const broken: MetricsSource = {
    contentType: "text/plain",
    text: () => Promise.reject(new Error("collector exploded")),
  };
  const s = await setup(t, broken);
  const response = await fetch(`${s.server.url}/metrics`);
  t.is(response.status, 500);
  t.regex(await response.text(), /collector exploded/);
  t.true(s.errors().some((message) => message.includes("collector exploded")));
});

test("a port already taken rejects, naming the address", async (t) => {
  const blocker = createServer();
  await new Promise<void>((done) => blocker.listen(0, "127.0.0.1", done));
  t.teardown(() => new Promise<void>((done) => blocker.close(() => done())));
  const address = blocker.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const { log } = memoryLog();
  const error = await t.throwsAsync(
    startStatusServer({
      address: "127.0.0.1",
      port,
      metrics: new Metrics({ processMetrics: false }),
      status: () => {
        throw new Error("not called");
      },
      health: () => ({ healthy: true, message: "ok" }),
      log,
    }),
  );
  t.regex(error?.message ?? "", new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
});

test("GET /healthz answers 503 with the reasons while a source has failed for staleAfter or a cloud is disabled", async (t) => {
  const s = await setup(t);
  const health = async () => {
    const response = await fetch(`http://127.0.0.1:${s.server.port}/healthz`);
    return { status: response.status, body: await response.text() };
  };
  const failingListing = (since: number) =>
    report({
      completedAt: NOW,
      policy: pool([cloud({ name: "alpha" }), cloud({ name: "beta" })]),
      memory: {
        clouds: {
          alpha: {
            scoped: {},
            listing: {
              failures: 4,
              failingSince: since,
              message: "list failed (throttled): slow down",
            },
          },
          beta: { scoped: {}, listing: { failures: 0, lastOk: NOW } },
        },
        sources: { queue: { failures: 0, lastOk: NOW }, machines: { failures: 0, lastOk: NOW } },
      },
    });
  s.tracker.tickCompleted(failingListing(NOW - 60));
  t.deepEqual(await health(), { status: 200, body: "ok\n" }, "a minute of failures is no alarm");
  s.tracker.tickCompleted(failingListing(NOW - 600));
  t.deepEqual(await health(), {
    status: 503,
    body: "alpha's listing failing for 10m: list failed (throttled): slow down\n",
  });
  s.tracker.tickCompleted(
    report({
      completedAt: NOW,
      policy: pool([cloud({ name: "alpha" })]),
      memory: {
        clouds: {
          alpha: {
            scoped: {},
            disabled: {
              kind: "auth",
              message: "listing refused 3 ticks in a row: AuthFailure",
              since: NOW,
            },
          },
        },
        sources: { machines: { failures: 2, failingSince: NOW - 900, message: "collector down" } },
      },
    }),
  );
  t.deepEqual(await health(), {
    status: 503,
    body: "the collector (condor_status) failing for 15m: collector down; alpha disabled (auth) until the config is reloaded: listing refused 3 ticks in a row: AuthFailure\n",
  });
});

test("idle connections cannot use up the daemon: past the limit they are refused, and the endpoint answers once they go", async (t) => {
  const s = await setup(t);
  const { connect } = await import("node:net");
  const sockets = await Promise.all(
    Array.from(
      { length: STATUS_MAX_CONNECTIONS + 20 },
      () =>
        new Promise<import("node:net").Socket>((resolve) => {
          const socket = connect(s.server.port, "127.0.0.1", () => resolve(socket));
          socket.on("error", () => resolve(socket));
        }),
    ),
  );
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
  });
  // The server closes what it will not hold: wait until the extra ones see their end.
  const closed = await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<boolean>((resolve) => {
          if (socket.destroyed) return resolve(true);
          socket.once("close", () => resolve(true));
          setTimeout(() => resolve(false), 2000);
        }),
    ),
  );
  t.true(closed.filter(Boolean).length >= 20, `${closed.filter(Boolean).length} closed`);
  for (const socket of sockets) socket.destroy();
  // The server counts a connection gone once it has seen it close: ask until it has.
  let status = 0;
  for (let attempt = 0; attempt < 50 && status !== 200; attempt += 1) {
    status = await fetch(`http://127.0.0.1:${s.server.port}/healthz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.is(status, 200);
});

test("GET /status carries no configured secret that an upstream echoed into a gap or note", async (t) => {
  const s = await setup(t);
  const password = "os-Pa55w0rd-not-a-pattern";
  registerSecret(password);
  s.tracker.tickCompleted(
    report({
      snapshot: {
        gaps: [
          {
            source: "cloud",
            cloud: "alpha",
            kind: "auth",
            message: `Keystone said: bad ${password}`,
          },
        ],
      },
      plan: { notes: [`alpha: not listed this tick (${password})`] },
    }),
  );
  const body = await (await fetch(`http://127.0.0.1:${s.server.port}/status`)).text();
  t.false(body.includes(password), body);
  t.true(body.includes("Keystone said: bad [REDACTED]"));
});

test("with a token, every path answers 401 unless the request carries Authorization: Bearer <token>", async (t) => {
  const token = "0123456789abcdef0123";
  const { log, records } = memoryLog();
  const server = await startStatusServer({
    address: "127.0.0.1",
    port: 0,
    token,
    metrics: new Metrics({ processMetrics: false }),
    status: () => ({ pool: "test" }) as unknown as StatusDocument,
    health: () => ({ healthy: true, message: "ok" }),
    log,
  });
  t.teardown(() => server.close());
  for (const path of ["/metrics", "/healthz", "/status", "/elsewhere"]) {
    for (const authorization of [
      undefined,
      "Bearer wrong-token-of-twenty",
      `Basic ${token}`,
      `Bearer ${token}x`,
    ]) {
      const response = await fetch(`${server.url}${path}`, {
        headers: authorization === undefined ? {} : { Authorization: authorization },
      });
      t.is(response.status, 401, `${path} with ${authorization}`);
      t.is(response.headers.get("www-authenticate"), 'Bearer realm="condor-autoscaler"');
      t.false((await response.text()).includes(token));
    }
  }
  for (const path of ["/metrics", "/healthz", "/status"]) {
    const response = await fetch(`${server.url}${path}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    t.is(response.status, 200, path);
  }
  t.is(
    (await fetch(`${server.url}/elsewhere`, { headers: { Authorization: `bearer  ${token}` } }))
      .status,
    404,
  );
  t.false(JSON.stringify(records).includes(token));
});
