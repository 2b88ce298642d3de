import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import test from "ava";
import { formatStatus, shortDuration, shortImage, statusUrl } from "../../src/commands/status.js";
import type { StatusDocument } from "../../src/daemon/status.js";
import { type StatusServer, startStatusServer } from "../../src/daemon/status-server.js";
import { configDir, VALID_CLOUD } from "../config/config-dir.js";
import { memoryLog } from "../tick/support.js";
import { cli } from "./run-cli.js";

const AT = 1_700_000_000;
const IMAGE = `sha256:${"0123456789abcdef".repeat(4)}`;

const DOCUMENT: StatusDocument = {
  unconfigured: [],
  pool: "test",
  generatedAt: AT,
  health: { healthy: true, message: "ok" },
  lastTick: { tick: 12, startedAt: AT - 21, completedAt: AT - 20, durationSeconds: 0.43 },
  lastFailure: null,
  failuresSinceLastTick: 0,
  workers: [
    {
      cloud: "alpha",
      name: "test-alpha-1a2b",
      instanceId: "i-0a1b2c3d",
      state: "busy",
      launchedAt: AT - 7530,
      idleSeconds: null,
      image: IMAGE,
    },
    {
      cloud: "alpha",
      name: "test-alpha-9f8e",
      instanceId: "i-9f8e7d6c",
      state: "idle",
      launchedAt: AT - 900,
      idleSeconds: 200,
      image: "ami-0123",
    },
    {
      cloud: "beta",
      name: "test-beta-77",
      instanceId: "77",
      state: "booting",
      launchedAt: AT - 45,
      idleSeconds: null,
      image: null,
    },
  ],
  clouds: [
    {
      name: "alpha",
      minWorkers: 0,
      maxWorkers: 8,
      workers: { booting: 0, stuck: 0, missing: 0, idle: 1, busy: 1, failed: 0, gone: 0 },
      backoff: {
        kind: "quota",
        until: AT + 130,
        secondsLeft: 130,
        failures: 2,
        message: "quota exceeded",
      },
      disabled: null,
      observed: { listed: true, lastListedAt: AT - 20, failingSince: null, failures: 0 },
      headroom: null,
      demand: { idleJobs: 4, cpus: 4, memoryMb: 8192, gpus: 0 },
    },
    {
      name: "beta",
      minWorkers: 1,
      maxWorkers: 4,
      workers: { booting: 1, stuck: 0, missing: 0, idle: 0, busy: 0, failed: 0, gone: 0 },
      backoff: null,
      disabled: null,
      observed: { listed: false, lastListedAt: AT - 80, failingSince: AT - 50, failures: 2 },
      headroom: { instances: 3 },
      demand: { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 },
    },
    {
      name: "gamma",
      minWorkers: 0,
      maxWorkers: 2,
      workers: { booting: 0, stuck: 0, missing: 0, idle: 0, busy: 0, failed: 0, gone: 0 },
      backoff: null,
      disabled: { kind: "auth", message: "invalid credentials", since: AT - 300 },
      observed: { listed: true, lastListedAt: AT - 20, failingSince: null, failures: 0 },
      headroom: null,
      demand: { idleJobs: 0, cpus: 0, memoryMb: 0, gpus: 0 },
    },
  ],
  gaps: [],
  unfit: { jobs: 0, examples: [] },
  notes: ["alpha: backing off after quota"],
  actions: [],
};

test("the table lists every worker with its age, idle time and short image id, then one line per cloud", (t) => {
  t.is(
    formatStatus(DOCUMENT),
    [
      "pool test: tick 12 ended 20s ago, took 0.4s",
      "",
      "WORKER           CLOUD  STATE    AGE   IDLE FOR  INSTANCE ID  IMAGE",
      "test-alpha-1a2b  alpha  busy     2h5m  -         i-0a1b2c3d   sha256:0123456789ab",
      "test-alpha-9f8e  alpha  idle     15m   3m20s     i-9f8e7d6c   ami-0123",
      "test-beta-77     beta   booting  45s   -         77           -",
      "",
      "cloud alpha: min 0 max 8, 2 running (1 busy, 1 idle), backoff quota 2m10s left",
      "cloud beta: NOT LISTED for 50s (2 ticks), last listed 1m20s ago; min 1 max 4, 0 running, 1 booting, no backoff",
      "cloud gamma: min 0 max 2, 0 running, DISABLED (auth): invalid credentials",
      "note: alpha: backing off after quota",
      "",
    ].join("\n"),
  );
});

test("the table says so before the first tick, when unhealthy, and when ticks failed", (t) => {
  const text = formatStatus({
    ...DOCUMENT,
    lastTick: null,
    health: { healthy: false, message: "no tick yet, 5m after start (limit 2m30s)" },
    lastFailure: {
      tick: 3,
      startedAt: AT - 60,
      durationSeconds: 60,
      reason: "deadline",
      message: "overran 60s",
    },
    failuresSinceLastTick: 3,
    workers: [],
    clouds: [],
    gaps: [{ source: "queue", message: "condor_q timed out" }],
    notes: [],
  });
  t.is(
    text,
    [
      "pool test: no tick yet",
      "UNHEALTHY: no tick yet, 5m after start (limit 2m30s)",
      "3 tick(s) failed since; last: deadline: overran 60s",
      "",
      "(no workers)",
      "",
      "INCOMPLETE: queue: condor_q timed out",
      "",
    ].join("\n"),
  );
});

test("instances of the pool in clouds that are not configured are listed per cloud as unmanaged", (t) => {
  const text = formatStatus({
    ...DOCUMENT,
    unconfigured: [
      { cloud: "old-os", id: "a1", name: "test-old-os-a1" },
      { cloud: "old-os", id: "b2", name: "test-old-os-b2" },
      { cloud: "gone", id: "i-1", name: "test-gone" },
    ],
  });
  const lines = text.trimEnd().split("\n");
  t.deepEqual(lines.slice(-2), [
    "NOT CONFIGURED: cloud old-os still has 2 instances of this pool, unmanaged: test-old-os-a1, test-old-os-b2",
    "NOT CONFIGURED: cloud gone still has 1 instance of this pool, unmanaged: test-gone",
  ]);
});

test("durations keep their two largest units and image digests shorten to 12 hex digits", (t) => {
  t.deepEqual([0, 0.4, 45, 60, 200, 3600, 3605, 7530, 90_061].map(shortDuration), [
    "0s",
    "0s",
    "45s",
    "1m",
    "3m20s",
    "1h",
    "1h",
    "2h5m",
    "1d1h",
  ]);
  t.is(shortImage(IMAGE), "sha256:0123456789ab");
  t.is(shortImage(`registry/pilot@${IMAGE}`), "registry/pilot@sha256:0123456789ab");
  t.is(shortImage("ami-0123"), "ami-0123");
  t.is(shortImage(null), "-");
});

test("the URL comes from --url (base or /status) or from the config's address", (t) => {
  t.is(statusUrl("http://head:9464", "", 0).href, "http://head:9464/status");
  t.is(statusUrl("http://head/autoscaler/", "", 0).href, "http://head/autoscaler/status");
  t.is(statusUrl("http://head:9464/status", "", 0).href, "http://head:9464/status");
  t.is(statusUrl(undefined, "127.0.0.1", 9464).href, "http://127.0.0.1:9464/status");
  t.is(statusUrl(undefined, "0.0.0.0", 9000).href, "http://127.0.0.1:9000/status");
  t.is(statusUrl(undefined, "::", 9000).href, "http://[::1]:9000/status");
});

async function serve(
  t: { teardown: (fn: () => Promise<void>) => void },
  token?: string,
): Promise<StatusServer> {
  const server = await startStatusServer({
    ...(token === undefined ? {} : { token }),
    address: "127.0.0.1",
    port: 0,
    metrics: { contentType: "text/plain", text: () => Promise.resolve("") },
    status: () => DOCUMENT,
    health: () => ({ healthy: true, message: "ok" }),
    log: memoryLog().log,
  });
  t.teardown(() => server.close());
  return server;
}

test("status --url prints the running daemon's table", async (t) => {
  const server = await serve(t);
  const result = await cli(["status", "--url", server.url]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, formatStatus(DOCUMENT));
});

test("status --json reads the address from the config's status section and prints the document", async (t) => {
  const server = await serve(t);
  const dir = await configDir({
    "autoscaler.yaml": `pool: test\ncondor:\n  kind: simulated\nstatus:\n  address: 127.0.0.1\n  port: ${server.port}\n`,
    "clouds.d/alpha.yaml": VALID_CLOUD,
  });
  const result = await cli(["status", "--config", dir, "--json"]);
  t.is(result.code, 0, result.stderr);
  t.deepEqual(JSON.parse(result.stdout), DOCUMENT);
});

test("status exits 1 naming the URL when no daemon answers", async (t) => {
  // A port that was free a moment ago and is closed now.
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, "127.0.0.1", done));
  const address = probe.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((done) => probe.close(() => done()));

  const result = await cli(["status", "--url", `http://127.0.0.1:${port}`]);
  t.is(result.code, 1);
  t.is(result.stdout, "");
  t.regex(result.stderr, new RegExp(`no status from http://127\\.0\\.0\\.1:${port}/status`));
  t.regex(result.stderr, /ECONNREFUSED/);
});

test("status exits 1 when the endpoint answers with an error", async (t) => {
  const server = await serve(t);
  const result = await cli(["status", "--url", `${server.url}/elsewhere/`]);
  t.is(result.code, 1);
  t.regex(result.stderr, new RegExp(`${server.url}/elsewhere/status answered 404`));
});

test("status sends the bearer token of the config's status.tokenFile, or of --token-file with --url", async (t) => {
  const token = "f3a9c2e18b7d4c60a1e5";
  const server = await serve(t, token);
  const dir = await configDir({
    "autoscaler.yaml": `pool: test\ncondor:\n  kind: simulated\nstatus:\n  address: 127.0.0.1\n  port: ${server.port}\n  tokenFile: status.token\n`,
    "clouds.d/alpha.yaml": VALID_CLOUD,
    "status.token": `${token}\n`,
  });
  const tokenFile = join(dir, "status.token");
  const yaml = await readFile(join(dir, "autoscaler.yaml"), "utf8");
  await writeFile(join(dir, "autoscaler.yaml"), yaml.replace("status.token", tokenFile));

  const fromConfig = await cli(["status", "--config", dir, "--json"]);
  t.is(fromConfig.code, 0, fromConfig.stderr);
  t.deepEqual(JSON.parse(fromConfig.stdout), DOCUMENT);

  const withUrl = await cli(["status", "--url", server.url, "--token-file", tokenFile]);
  t.is(withUrl.code, 0, withUrl.stderr);

  const without = await cli(["status", "--url", server.url]);
  t.is(without.code, 1);
  t.regex(without.stderr, /answered 401 Unauthorized: \/status needs the bearer token/);
});
