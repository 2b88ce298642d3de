/**
 * Shared pieces of the tests against a REAL Docker engine, as scripts/real-docker/up.sh starts it
 * (its own socket, no bridge network, the busybox test image imported, nothing ever pulled).
 *
 * A test file calls `await realDocker()` before it declares any test: with an engine that answers
 * and has the test image it gets a run to work with; without one it gets undefined, and one test
 * is registered instead that is skipped (or, with CI=true, fails) saying how to start the engine.
 *
 * Every container of a run is labelled with a pool that starts with a prefix unique to the run
 * (`it<hex>`), so runs never collide and `test.after.always` removes whatever a failed test left
 * behind, whatever happened. Each test uses a cloud of its own, and by default a pool of its own
 * (`it<hex>-<cloud>`): a host's room is shared by all clouds of a pool, so tests that run at the
 * same time on the one test host must not be in one pool.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import Docker from "dockerode";
import { type Clock, wallClock } from "../../src/model/clock.js";
import type { WorkerShape } from "../../src/model/policy.js";
import { OWNER_TAGS, type ProviderContext } from "../../src/providers/context.js";
import { DockerProvider } from "../../src/providers/docker/docker.js";
import { connectionOptions } from "../../src/providers/docker/endpoint.js";
import {
  type DockerProviderSettings,
  dockerProviderSchema,
} from "../../src/providers/docker/schema.js";
import { fixture } from "../condor/fake-condor.js";
import { memoryLog } from "../tick/support.js";
import { ROOT, runPool } from "./real-nova.js";

/** The engine the tests use: CA_DOCKER_HOST, else the socket of scripts/real-docker/up.sh. */
export const DOCKER_HOST_URL =
  process.env.CA_DOCKER_HOST ?? "unix:///var/lib/condor-autoscaler-docker/docker.sock";
/** The image up.sh imports (busybox: sh, sleep, cat, echo, env, hostname, …; CMD /bin/sh). */
export const TEST_IMAGE = process.env.CA_DOCKER_TEST_IMAGE ?? "condor-autoscaler-test/pilot:1";
/** How the tests name the engine in the provider's `hosts`. */
export const HOST_NAME = "real";
/** The shape of most test workers. The tests need an engine of at least 2 CPUs. */
export const SHAPE: WorkerShape = { cpus: 1, memoryMb: 64, gpus: 0 };

export type EngineState = { ready: true; version: string } | { ready: false; reason: string };

/** An error's message on one line (it goes into a test's title). */
function why(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim();
}

/** A dockerode client of the engine, for the tests' own view of it (and for cleaning up). */
export async function engineClient(timeoutMs = 30_000): Promise<Docker> {
  return new Docker(await connectionOptions({ name: HOST_NAME, url: DOCKER_HOST_URL }, timeoutMs));
}

/** Whether the engine answers (GET /_ping, /version) and has the test image. */
export async function engineState(): Promise<EngineState> {
  let docker: Docker;
  try {
    docker = await engineClient(5_000);
    await docker.ping();
  } catch (error) {
    return {
      ready: false,
      reason: `no Docker engine answers at ${DOCKER_HOST_URL} (${why(error)})`,
    };
  }
  try {
    const version = (await docker.version()).Version;
    await docker.getImage(TEST_IMAGE).inspect();
    return { ready: true, version };
  } catch (error) {
    return {
      ready: false,
      reason: `the engine at ${DOCKER_HOST_URL} has no ${TEST_IMAGE} (${why(error)})`,
    };
  }
}

export const HOW_TO_START =
  "start it as root with scripts/real-docker/up.sh (or point CA_DOCKER_HOST at one with the test image)";

/** The one test of a file that has no engine: skipped on a workstation, failing in CI. */
function registerMissing(reason: string): void {
  if (process.env.CI === "true") {
    test(`the real Docker engine the integration tests need is there (CI): ${reason}`, (t) => {
      t.fail(`${reason}; ${HOW_TO_START}`);
    });
  } else {
    test.skip(`real-Docker integration tests skipped: ${reason}; ${HOW_TO_START}`, () => {});
  }
}

export interface ProviderSetup {
  cloud: string;
  /** Default: the cloud's own pool in this run (poolOf). */
  pool?: string;
  /** Default: the wall clock. */
  clock?: Clock;
  /** The `provider:` section's fields besides kind, hosts (the engine), image and workDir. */
  provider?: Record<string, unknown>;
  shape?: WorkerShape;
  readOnly?: boolean;
  /** Default: a small text naming the worker, its pool and cloud (see `userDataOf`). */
  userData?: ProviderContext["userData"];
}

/** What the default user-data renderer writes for a worker. */
export function userDataOf(pool: string, cloud: string, name: string): string {
  return `# user-data of ${name}\nPOOL=${pool}\nCLOUD=${cloud}\nWORKER_NAME=${name}\n`;
}

/** One run of a test file: its pool, its temporary directories, its client of the engine. */
export class RealDockerRun {
  readonly pool = runPool();
  readonly startedAt = Date.now();
  private readonly dirs: string[] = [];
  private readonly images: string[] = [];

  constructor(
    /** The tests' own view of the engine. */
    readonly docker: Docker,
    readonly version: string,
  ) {}

  /** A temporary directory removed after the run. */
  async tempDir(what: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `condor-autoscaler-real-docker-${what}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** An image reference (repo:tag) the run made, untagged after the run. */
  trackImage(reference: string): void {
    this.images.push(reference);
  }

  /** The settings a provider of this run gets: the engine, the test image, `workDir`. */
  settings(workDir: string, provider: Record<string, unknown> = {}): DockerProviderSettings {
    return dockerProviderSchema.parse({
      kind: "docker",
      hosts: [{ url: DOCKER_HOST_URL, name: HOST_NAME }],
      image: TEST_IMAGE,
      workDir,
      ...provider,
    });
  }

  /** The pool of a test's cloud: its own, inside this run. */
  poolOf(cloud: string): string {
    return `${this.pool}-${cloud}`;
  }

  /** A DockerProvider of this run on the wall clock, with its log kept. */
  provider(setup: ProviderSetup, workDir: string) {
    const { log, records, messages } = memoryLog();
    const settings = this.settings(workDir, setup.provider);
    const context: ProviderContext = {
      pool: setup.pool ?? this.poolOf(setup.cloud),
      cloud: setup.cloud,
      shape: setup.shape ?? SHAPE,
      clock: setup.clock ?? wallClock,
      log,
      readOnly: setup.readOnly ?? false,
      userData: setup.userData ?? (async (name) => userDataOf(context.pool, setup.cloud, name)),
    };
    // No DOCKER_HOST from the environment: the hosts are the settings'.
    const provider = new DockerProvider(settings, context, { env: {} });
    return { provider, settings, records, messages };
  }

  /** Every container of this run (all states), or of one of its clouds, as GET /containers/json. */
  async containers(cloud?: string): Promise<Docker.ContainerInfo[]> {
    const label: string[] = [OWNER_TAGS.pool];
    if (cloud !== undefined) label.push(`${OWNER_TAGS.cloud}=${cloud}`);
    const all = await this.docker.listContainers({ all: true, filters: { label } });
    return all.filter((c) => {
      const pool = c.Labels?.[OWNER_TAGS.pool] ?? "";
      return pool === this.pool || pool.startsWith(`${this.pool}-`);
    });
  }

  /** A container by name, or undefined when the engine answers 404. */
  async inspect(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (error) {
      if ((error as { statusCode?: unknown }).statusCode === 404) return undefined;
      throw error;
    }
  }

  /**
   * Removes every container labelled with this run's pool, then the images it tagged, then its
   * temporary directories. Returns the names of the containers it removed.
   */
  async cleanup(): Promise<string[]> {
    const left = await this.containers();
    const names = left.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, ""));
    await Promise.all(
      left.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    for (const image of this.images.splice(0))
      await this.docker
        .getImage(image)
        .remove()
        .catch(() => undefined);
    await Promise.all(this.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
    return names;
  }
}

/**
 * The run of a test file when the engine is ready; otherwise registers the test that says why
 * there is none (skipped, or failing in CI) and returns undefined. Call it, with await, before
 * declaring any test. Registers the cleanup of the run.
 */
export async function realDocker(): Promise<RealDockerRun | undefined> {
  const state = await engineState();
  if (!state.ready) {
    registerMissing(state.reason);
    return undefined;
  }
  const run = new RealDockerRun(await engineClient(), state.version);
  test.after.always(async (t) => {
    t.timeout(60_000);
    const removed = await run.cleanup();
    if (removed.length > 0) t.log(`cleanup removed the run's containers: ${removed.join(", ")}`);
    t.log(
      `real-Docker tests (engine ${run.version}) took ${((Date.now() - run.startedAt) / 1000).toFixed(1)} s`,
    );
  });
  return run;
}

/**
 * A Docker endpoint in front of the engine that passes every call through except the start of a
 * container: there it awaits `onStart(idOrName)` (the container is created, not started: inspect
 * it) and then answers 500. Listens on a unix socket in a temporary directory of the run.
 */
export async function startRefusingProxy(
  run: RealDockerRun,
  onStart: (container: string) => Promise<void>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const engine = await connectionOptions({ name: HOST_NAME, url: DOCKER_HOST_URL }, 30_000);
  const socketPath = join(await run.tempDir("proxy"), "docker.sock");
  const server = createServer((request, response) => {
    const start = /\/containers\/([^/?]+)\/start(?:\?|$)/.exec(request.url ?? "");
    if (request.method === "POST" && start !== null) {
      request.resume();
      void onStart(decodeURIComponent(start[1] ?? ""))
        .catch(() => undefined)
        .then(() => {
          response.writeHead(500, { "content-type": "application/json" });
          response.end(JSON.stringify({ message: "start refused by the test proxy" }));
        });
      return;
    }
    const upstream = httpRequest(
      {
        ...(engine.socketPath === undefined
          ? { host: engine.host, port: engine.port }
          : { socketPath: engine.socketPath }),
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", (error) => {
      response.writeHead(502, { "content-type": "application/json" });
      response.end(JSON.stringify({ message: `test proxy: ${why(error)}` }));
    });
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    url: `unix://${socketPath}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Everything a finite stream gives, as text (GET /events with `until`, say). */
export async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** One event of GET /events, as much as the tests look at. */
export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  timeNano: number;
}

/** The engine's events about container `name` from `since` (epoch seconds) until now. */
export async function containerEvents(
  docker: Docker,
  name: string,
  since: number,
): Promise<EngineEvent[]> {
  const stream = await docker.getEvents({
    since,
    until: Date.now() / 1000,
    filters: { type: ["container"], container: [name] },
  });
  return (await streamText(stream))
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as EngineEvent);
}

/**
 * The captured idle static slots of worker1 (05_condor_status_idle_static_and_pslot_autoscaler.json,
 * Unclaimed/Idle for 71 s on its own clock), once per worker: each copy named
 * `slotN@<machine>` on Machine `<machine>` and advertising the worker's instance id, the pool and
 * the cloud. For a container the machine (its host name) is its name, which is its instance id.
 */
export function idleStartds(
  pool: string,
  cloud: string,
  workers: ReadonlyArray<{ instanceId: string; machine: string }>,
): string {
  const ads = JSON.parse(
    fixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  ) as Array<Record<string, unknown>>;
  const staticSlots = ads.filter((ad) => ad.SlotType === "Static");
  if (staticSlots.length !== 2)
    throw new Error("the captured ads changed: expected two static slots");
  const out = workers.flatMap((worker) =>
    staticSlots.map((ad) => ({
      ...ad,
      Name: String(ad.Name).replace(/@.*$/, `@${worker.machine}`),
      Machine: worker.machine,
      AutoscalerPool: pool,
      AutoscalerCloud: cloud,
      AutoscalerInstanceId: worker.instanceId,
    })),
  );
  return `[\n${out.map((ad) => JSON.stringify(ad, null, 2)).join("\n,\n")}\n]\n`;
}

/**
 * A config directory for the daemon over the engine and the fake HTCondor tools: autoscaler.yaml
 * (status on any free port) and clouds.d/<cloud>.yaml with the test image, a pilot stand-in that
 * sleeps until SIGTERM, the pilot's user-data template, and `policy` (limits, shape, timeouts).
 */
export async function writeDaemonConfig(
  config: string,
  setup: {
    pool: string;
    cloud: string;
    binDir: string;
    workDir: string;
    stopGrace: string;
    policy: string;
  },
): Promise<void> {
  await mkdir(join(config, "clouds.d"), { recursive: true });
  await writeFile(
    join(config, "autoscaler.yaml"),
    `pool: ${setup.pool}\ntickInterval: 30s\npersistence: 10s\n` +
      `condor:\n  kind: htcondor\n  binDir: ${JSON.stringify(setup.binDir)}\n  timeout: 20s\n  retries: 0\n` +
      "  headNode: head.example.org\nlogging:\n  format: json\nstatus:\n  port: 0\n",
  );
  const command = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];
  await writeFile(
    join(config, "clouds.d", `${setup.cloud}.yaml`),
    "provider:\n  kind: docker\n" +
      `  hosts:\n    - url: ${JSON.stringify(DOCKER_HOST_URL)}\n      name: real\n` +
      `  image: ${JSON.stringify(TEST_IMAGE)}\n  command: ${JSON.stringify(command)}\n` +
      `  workDir: ${JSON.stringify(setup.workDir)}\n  stopGrace: ${setup.stopGrace}\n` +
      setup.policy +
      `userData: ${JSON.stringify(join(ROOT, "examples/pilot/user-data.env.mustache"))}\n`,
  );
}
