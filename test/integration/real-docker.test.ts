/**
 * The Docker provider against a REAL Docker engine (scripts/real-docker/up.sh): containers created,
 * started, listed from their labels, stopped and removed by the engine itself. Without an engine
 * the file registers one skipped test saying how to start it (one failing test when CI=true).
 *
 * Each test works in a cloud of its own (`<pool>-<cloud>-…`, counted per pool and cloud), so the
 * tests run concurrently, except the serial ones that share the containers of the first.
 */

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import test from "ava";
import type Docker from "dockerode";
import { DOCKER_NEVER_STARTED } from "../../src/config/defaults.js";
import { ProviderError } from "../../src/model/errors.js";
import type { Instance } from "../../src/model/snapshot.js";
import { MANAGED_BY, OWNER_TAGS } from "../../src/providers/context.js";
import {
  CONTAINER_PATHS,
  DOCKER_LABELS,
  PER_JOB_VARIABLE,
} from "../../src/providers/docker/docker.js";
import {
  containerEvents,
  DOCKER_HOST_URL,
  HOST_NAME,
  type RealDockerRun,
  realDocker,
  SHAPE,
  startRefusingProxy,
  TEST_IMAGE,
  userDataOf,
} from "./real-docker.js";
import { until } from "./real-nova.js";

const JOBOUTPUTS = CONTAINER_PATHS.joboutputs;

/**
 * A pilot stand-in: runs `script`, says so in joboutputs/ready, then sleeps until SIGTERM, on which
 * it exits 0 at once (as a pilot that shuts its startd down cleanly would).
 */
function pilot(script: string): string[] {
  return [
    "/bin/sh",
    "-c",
    `trap 'exit 0' TERM; ${script}; echo ready > ${JOBOUTPUTS}/ready; sleep 300 & wait`,
  ];
}

/** A pilot that leaves `message` as its shutdown_message and exits with `code`. */
function exiting(message: string | undefined, code = 0): string[] {
  const say = message === undefined ? "true" : `echo '${message}' > ${JOBOUTPUTS}/shutdown_message`;
  return ["/bin/sh", "-c", `${say}; exit ${code}`];
}

/** A file's content once it exists (the container writes it), polled. */
async function whenWritten(path: string): Promise<string> {
  const content = await until(
    `${path} written`,
    () => readFile(path, "utf8").catch(() => undefined),
    (text) => text !== undefined,
    20_000,
    50,
  );
  return content ?? "";
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A TCP port on 127.0.0.1 that nothing listens on (it did a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no TCP port");
  return address.port;
}

/** What a provider on one host of the engine should report as its headroom. */
async function expectedHeadroom(docker: Docker, reserved: { cpus: number; memoryMb: number }) {
  const info = (await docker.info()) as { NCPU: number; MemTotal: number };
  const cpus = Math.max(0, info.NCPU - reserved.cpus);
  const memoryMb = Math.max(0, Math.floor(info.MemTotal / 1024 / 1024) - reserved.memoryMb);
  return {
    instances: Math.min(Math.floor(cpus / SHAPE.cpus), Math.floor(memoryMb / SHAPE.memoryMb)),
    cpus,
    memoryMb,
  };
}

/** What the engine mounted where: container path → "<host path> rw|ro" (binds and mounts alike). */
function mountsOf(info: Docker.ContainerInspectInfo | undefined): Record<string, string> {
  return Object.fromEntries(
    (info?.Mounts ?? []).map((m) => [m.Destination, `${m.Source} ${m.RW ? "rw" : "ro"}`]),
  );
}

function ids(instances: readonly Instance[]): string[] {
  return instances.map((instance) => instance.id).sort();
}

const run = await realDocker();
const execFileAsync = promisify(execFile);
if (run !== undefined) declareTests(run);

function declareTests(run: RealDockerRun): void {
  /** The containers of the first test, which the serial tests after it list and terminate. */
  const first = { cloud: "launch", workDir: "", names: [] as string[], startedAt: 0 };
  const environment = { SITE: "test-site", GREETING: "hello world" };

  test.serial(
    "launch 2: running containers named <pool>-<cloud>-<hex> (= host name = instance id), labelled, limited, with /user_data read-only and joboutputs writable",
    async (t) => {
      first.workDir = await run.tempDir("launch");
      first.startedAt = Math.floor(Date.now() / 1000);
      const { provider } = run.provider(
        {
          cloud: first.cloud,
          provider: {
            environment,
            command: pilot(
              [
                `cat ${CONTAINER_PATHS.userData} > ${JOBOUTPUTS}/seen`,
                `hostname > ${JOBOUTPUTS}/hostname`,
                `env > ${JOBOUTPUTS}/env`,
                `if echo x > ${CONTAINER_PATHS.userData}; then echo writable; else echo read-only; fi > ${JOBOUTPUTS}/user_data_write`,
              ].join("; "),
            ),
          },
        },
        first.workDir,
      );
      const result = await provider.launch({ count: 2, avoid: [] });
      t.is(result.error, undefined, result.error?.message);
      t.is(result.instances.length, 2);
      first.names = ids(result.instances);
      const imageId = (await run.docker.getImage(TEST_IMAGE).inspect()).Id;

      for (const instance of result.instances) {
        const name = instance.id;
        t.regex(name, new RegExp(`^${run.poolOf(first.cloud)}-${first.cloud}-[0-9a-f]{8}$`));
        t.like(instance, { name, hostname: name, status: "booting", image: imageId });
        const info = await run.inspect(name);
        t.is(info?.Name, `/${name}`);
        t.is(info?.Config.Hostname, name);
        t.is(info?.State.Status, "running");
        t.is(info?.Image, imageId);
        t.deepEqual(info?.Config.Labels, {
          [OWNER_TAGS.pool]: run.poolOf(first.cloud),
          [OWNER_TAGS.cloud]: first.cloud,
          [OWNER_TAGS.managedBy]: MANAGED_BY,
          [DOCKER_LABELS.cpus]: "1",
          [DOCKER_LABELS.memoryMb]: "64",
          [DOCKER_LABELS.image]: TEST_IMAGE,
        });
        t.is(info?.HostConfig.NanoCpus, SHAPE.cpus * 1e9);
        t.is(info?.HostConfig.Memory, SHAPE.memoryMb * 2 ** 20);
        t.falsy(info?.HostConfig.CpuShares, "no CPU weight with cpuLimit nanoCpus");
        const dir = join(first.workDir, name);
        t.deepEqual(mountsOf(info), {
          [JOBOUTPUTS]: `${dir}/joboutputs rw`,
          [CONTAINER_PATHS.userData]: `${dir}/user_data ro`,
        });
        t.true(info?.Config.Env.includes("SITE=test-site"));
        t.true(info?.Config.Env.includes("GREETING=hello world"));
        t.false(info?.Config.Env.some((e) => e.startsWith(`${PER_JOB_VARIABLE}=`)));
        // The user_data holds the pool token: root only, on the head node.
        t.is((await stat(join(dir, "user_data"))).mode & 0o777, 0o600);

        // What the container saw, written through joboutputs (so that is writable).
        await whenWritten(join(dir, "joboutputs", "ready"));
        const out = (file: string) => readFile(join(dir, "joboutputs", file), "utf8");
        t.is(await out("seen"), userDataOf(run.poolOf(first.cloud), first.cloud, name));
        t.is((await out("hostname")).trim(), name);
        t.is((await out("user_data_write")).trim(), "read-only");
        const env = (await out("env")).split("\n");
        t.true(env.includes("SITE=test-site"));
        t.true(env.includes("GREETING=hello world"));
      }
    },
  );

  test.serial(
    "a new provider lists both containers running from their labels alone, with the image id of the tag",
    async (t) => {
      t.is(first.names.length, 2, "the launch test made two containers");
      const imageId = (await run.docker.getImage(TEST_IMAGE).inspect()).Id;
      t.regex(imageId, /^sha256:[0-9a-f]{64}$/);
      const { provider } = run.provider({ cloud: first.cloud }, first.workDir);
      const listed = await provider.list();
      t.deepEqual(ids(listed), first.names);
      for (const instance of listed) {
        t.like(instance, {
          cloud: first.cloud,
          name: instance.id,
          hostname: instance.id,
          status: "running",
          image: imageId,
        });
        t.is(instance.fault, undefined);
        t.true(
          instance.launchedAt >= first.startedAt - 1 && instance.launchedAt <= Date.now() / 1000,
          `created by this test (engine's Created ${instance.launchedAt})`,
        );
      }
      // Another pool, and another cloud of this pool, own none of them.
      const { provider: otherCloud } = run.provider({ cloud: "other" }, first.workDir);
      t.deepEqual(await otherCloud.list(), []);
      const otherPool = run.provider({ cloud: first.cloud, pool: `${run.pool}x` }, first.workDir);
      t.deepEqual(await otherPool.provider.list(), []);
    },
  );

  test.serial(
    "terminate stops with SIGTERM and removes; terminating them again, or an unknown name, is done",
    async (t) => {
      t.is(first.names.length, 2, "the launch test made two containers");
      const since = first.startedAt;
      // A provider made afresh: it finds the containers' host by asking the hosts.
      const { provider } = run.provider({ cloud: first.cloud }, first.workDir);
      const result = await provider.terminate(first.names);
      t.is(result.error, undefined, result.error?.message);
      t.deepEqual([...result.terminated].sort(), first.names);

      for (const name of first.names) {
        t.is(await run.inspect(name), undefined, `${name} gone from docker ps -a`);
        t.false(await exists(join(first.workDir, name)), `${name}'s directory removed`);
        const events = await containerEvents(run.docker, name, since);
        const actions = events.map((e) =>
          e.Action === "kill" ? `kill ${e.Actor.Attributes?.signal}` : e.Action,
        );
        // SIGTERM, and the pilot's own exit 0 within the grace: no SIGKILL.
        t.deepEqual(
          actions.filter((a) => ["kill 15", "kill 9", "die", "destroy"].includes(a)),
          ["kill 15", "die", "destroy"],
          actions.join(", "),
        );
        t.is(events.find((e) => e.Action === "die")?.Actor.Attributes?.exitCode, "0");
      }
      t.deepEqual(await run.containers(first.cloud), []);

      const again = await provider.terminate(first.names);
      t.is(again.error, undefined, again.error?.message);
      t.deepEqual([...again.terminated].sort(), first.names);
      const unknown = `${run.poolOf(first.cloud)}-${first.cloud}-deadbeef`;
      const never = await run
        .provider({ cloud: first.cloud }, first.workDir)
        .provider.terminate([unknown]);
      t.deepEqual(never, { terminated: [unknown] });
      t.deepEqual(await provider.list(), []);
    },
  );

  test("cpuLimit cpuShares gives a weight of 1024 per cpu; perJob, machineFeatures and jobFeatures are passed", async (t) => {
    const cloud = "shares";
    const workDir = await run.tempDir("shares");
    const features = await run.tempDir("features");
    const machineFeatures = join(features, "machine");
    const jobFeatures = join(features, "job");
    await mkdir(machineFeatures);
    await mkdir(jobFeatures);
    await writeFile(join(machineFeatures, "hs06"), "42\n");
    await writeFile(join(jobFeatures, "wall_limit_secs"), "3600\n");
    const shape = { cpus: 2, memoryMb: 64, gpus: 0 };
    const { provider } = run.provider(
      {
        cloud,
        shape,
        provider: {
          cpuLimit: "cpuShares",
          perJob: true,
          machineFeatures,
          jobFeatures,
          command: pilot(
            [
              `cat ${CONTAINER_PATHS.machineFeatures}/hs06 > ${JOBOUTPUTS}/hs06`,
              `cat ${CONTAINER_PATHS.jobFeatures}/wall_limit_secs > ${JOBOUTPUTS}/wall_limit_secs`,
              `env > ${JOBOUTPUTS}/env`,
            ].join("; "),
          ),
        },
      },
      workDir,
    );
    const result = await provider.launch({ count: 1, avoid: [] });
    t.is(result.error, undefined, result.error?.message);
    const name = result.instances[0]?.id ?? "";
    const info = await run.inspect(name);
    t.is(info?.HostConfig.CpuShares, 1024 * shape.cpus);
    t.falsy(info?.HostConfig.NanoCpus, "no hard CPU limit with cpuShares");
    t.is(info?.Config.Labels[DOCKER_LABELS.cpus], "2");
    t.true(info?.Config.Env.includes(`${PER_JOB_VARIABLE}=1`));
    const dir = join(workDir, name);
    t.deepEqual(mountsOf(info), {
      [JOBOUTPUTS]: `${dir}/joboutputs rw`,
      [CONTAINER_PATHS.userData]: `${dir}/user_data ro`,
      [CONTAINER_PATHS.machineFeatures]: `${machineFeatures} ro`,
      [CONTAINER_PATHS.jobFeatures]: `${jobFeatures} ro`,
    });
    await whenWritten(join(dir, "joboutputs", "ready"));
    const out = (file: string) => readFile(join(dir, "joboutputs", file), "utf8");
    t.is(await out("hs06"), "42\n");
    t.is(await out("wall_limit_secs"), "3600\n");
    t.true((await out("env")).split("\n").includes(`${PER_JOB_VARIABLE}=1`));
    t.deepEqual((await provider.terminate([name])).terminated, [name]);
  });

  test("a container that cannot start is removed at once, with its directory; site mounts are read-only binds", async (t) => {
    // A proxy in front of the engine refuses the start; the container is inspected as created.
    const cloud = "nostart";
    const workDir = await run.tempDir(cloud);
    const machineFeatures = await run.tempDir("mf");
    const seen: Array<{ name: string; mounts: Record<string, string>; dir: boolean }> = [];
    const proxy = await startRefusingProxy(run, async (container) => {
      const info = await run.inspect(container);
      const name = (info?.Name ?? "").replace(/^\//, "");
      seen.push({ name, mounts: mountsOf(info), dir: await exists(join(workDir, name)) });
    });
    try {
      const { provider } = run.provider(
        {
          cloud,
          provider: {
            hosts: [{ url: proxy.url, name: HOST_NAME }],
            machineFeatures,
            command: pilot("true"),
          },
        },
        workDir,
      );
      const result = await provider.launch({ count: 1, avoid: [] });
      t.deepEqual(result.instances, []);
      t.is(result.error?.kind, "transient");
      t.true(
        result.error?.message.includes("start refused by the test proxy"),
        result.error?.message,
      );
      t.is(seen.length, 1);
      const [created] = seen;
      t.is(created?.mounts[CONTAINER_PATHS.machineFeatures], `${machineFeatures} ro`);
      t.is(created?.mounts[JOBOUTPUTS], `${join(workDir, created?.name ?? "")}/joboutputs rw`);
      t.true(created?.dir, "its directory was there while it was created");
      t.deepEqual(await run.containers(cloud), [], "removed at once");
      t.deepEqual(await readdir(workDir), [], "its directory removed");
    } finally {
      await proxy.close();
    }
  });

  test("preflight: the real host answers and has the image; a missing tag, a dead host and a workDir that is a file each fail with a fix", async (t) => {
    const cloud = "preflight";
    const workDir = await run.tempDir(cloud);
    const good = run.provider({ cloud }, workDir).provider;
    const checks = await good.preflight();
    t.deepEqual(
      checks.map((c) => [c.outcome, c.what]),
      [
        ["ok", `cloud ${cloud}: docker host ${HOST_NAME} answers`],
        ["ok", `cloud ${cloud}: docker host ${HOST_NAME} has image ${TEST_IMAGE}`],
        ["ok", `cloud ${cloud}: workDir ${workDir} is writable`],
      ],
    );
    t.regex(checks[1]?.detail ?? "", /^sha256:[0-9a-f]{64}$/);
    t.deepEqual(await readdir(workDir), [], "the scratch directory is gone");

    const notADirectory = join(await run.tempDir("file"), "work");
    await writeFile(notADirectory, "");
    const bad = run.provider(
      {
        cloud,
        provider: {
          image: "condor-autoscaler-test/absent:1",
          hosts: [
            { url: DOCKER_HOST_URL, name: HOST_NAME },
            { url: "unix:///nonexistent/docker.sock", name: "dead" },
          ],
        },
      },
      notADirectory,
    ).provider;
    const failures = (await bad.preflight()).filter((c) => c.outcome === "FAIL");
    t.deepEqual(
      failures.map((c) => c.what),
      [
        `cloud ${cloud}: docker host ${HOST_NAME} has image condor-autoscaler-test/absent:1`,
        `cloud ${cloud}: docker host dead answers`,
        `cloud ${cloud}: workDir ${notADirectory} is writable`,
      ],
    );
    t.regex(
      failures[0]?.fix ?? "",
      /^docker load or docker build -t condor-autoscaler-test\/absent:1/,
    );
    t.regex(failures[1]?.detail ?? "", /ENOENT/);
    t.regex(failures[2]?.detail ?? "", /EEXIST|ENOTDIR/);
    t.deepEqual(await run.containers(cloud), [], "nothing was created");
  });

  // A tmpfs of 256 KiB stands for the head node's disk: it fills, and is remounted read-only.
  const mountsTmpfs = process.getuid?.() === 0 ? test.serial : test.skip;
  mountsTmpfs(
    "a full or read-only work directory is capacity (backoff, then retried by itself), and launches work again once it recovers",
    async (t) => {
      const cloud = "workdir";
      const workDir = await run.tempDir(cloud);
      const mount = (...options: string[]) =>
        execFileAsync("mount", ["-t", "tmpfs", ...options, "tmpfs", workDir]);
      await mount("-o", "size=256k");
      t.teardown(() => execFileAsync("umount", ["-l", workDir]).then(() => undefined));
      const { provider } = run.provider({ cloud, provider: { command: pilot("true") } }, workDir);
      const launched: string[] = [];
      const launchOne = async () => {
        const result = await provider.launch({ count: 1, avoid: [] });
        launched.push(...result.instances.map((i) => i.id));
        return result;
      };

      const filler = join(workDir, "filler");
      await writeFile(filler, Buffer.alloc(1024 * 1024)).catch((error: { code?: string }) => {
        if (error.code !== "ENOSPC") throw error;
      });
      const full = await launchOne();
      t.deepEqual(full.instances, []);
      t.is(full.error?.kind, "capacity", full.error?.message);
      t.regex(
        full.error?.message ?? "",
        /^workDir .*: ENOSPC: no space left on device.*\(retried once it recovers\)$/,
      );
      t.deepEqual(await readdir(workDir), ["filler"], "no half-made directory left");
      t.deepEqual(await run.containers(cloud), []);

      await rm(filler);
      const freed = await launchOne();
      t.is(freed.error, undefined, freed.error?.message);
      t.is(freed.instances.length, 1);

      await execFileAsync("mount", ["-o", "remount,ro", workDir]);
      const readOnly = await launchOne();
      t.deepEqual(readOnly.instances, []);
      t.is(readOnly.error?.kind, "capacity", readOnly.error?.message);
      t.regex(readOnly.error?.message ?? "", /EROFS: read-only file system/);

      await execFileAsync("mount", ["-o", "remount,rw", workDir]);
      const writable = await launchOne();
      t.is(writable.error, undefined, writable.error?.message);
      t.is(launched.length, 2);
      t.deepEqual((await provider.terminate(launched)).terminated.sort(), [...launched].sort());
    },
  );

  test("cvmfs: true mounts the host's /cvmfs read-only, and on a host without /cvmfs is a config error that makes nothing", async (t) => {
    const cloud = "cvmfs";
    const workDir = await run.tempDir(cloud);
    const hadCvmfs = existsSync(CONTAINER_PATHS.cvmfs);
    const { provider } = run.provider(
      { cloud, provider: { cvmfs: true, command: pilot("sleep 300") } },
      workDir,
    );
    const result = await provider.launch({ count: 1, avoid: [] });
    if (hadCvmfs) {
      t.is(result.error, undefined, result.error?.message);
      const [instance] = result.instances;
      const info = await run.inspect(instance?.id ?? "");
      t.is(mountsOf(info)[CONTAINER_PATHS.cvmfs], "/cvmfs ro");
      await provider.terminate(result.instances.map((i) => i.id));
    } else {
      t.is(result.error?.kind, "config", result.error?.message);
      t.true(result.error?.message.includes("/cvmfs"), result.error?.message);
      t.deepEqual(result.instances, []);
      t.deepEqual(await run.containers(cloud), []);
      t.deepEqual(await readdir(workDir), [], "its directory removed");
      t.false(existsSync(CONTAINER_PATHS.cvmfs), "the engine made no /cvmfs on the host");
    }
  });

  test("two clouds of one pool on one host share its room: what one runs, the other cannot have", async (t) => {
    const pool = run.poolOf("shared");
    const workDir = await run.tempDir("shared");
    const { NCPU } = (await run.docker.info()) as { NCPU: number };
    const first = run.provider(
      { cloud: "sharea", pool, provider: { command: pilot("sleep 300") } },
      workDir,
    );
    const second = run.provider(
      { cloud: "shareb", pool, provider: { command: pilot("sleep 300") } },
      workDir,
    );
    const filled = await first.provider.launch({ count: NCPU, avoid: [] });
    t.is(filled.error, undefined, filled.error?.message);
    t.is(filled.instances.length, NCPU, "one 1-cpu container per cpu of the host");
    t.is((await second.provider.headroom()).cpus, 0, "the other cloud's containers count");
    const refused = await second.provider.launch({ count: 1, avoid: [] });
    t.deepEqual(refused.instances, []);
    t.is(refused.error?.kind, "capacity");
    t.deepEqual(await second.provider.list(), [], "each cloud still lists only its own");
    t.is((await first.provider.list()).length, NCPU);
    await first.provider.terminate(ids(filled.instances));
  });

  test("site mounts bind a host path into every pilot, read-only unless told; a missing source is config", async (t) => {
    const cloud = "sitemounts";
    const workDir = await run.tempDir(cloud);
    const release = await run.tempDir("release");
    const scratch = await run.tempDir("scratch");
    const { provider } = run.provider(
      {
        cloud,
        provider: {
          command: pilot("sleep 300"),
          mounts: [
            { source: release, target: "/opt/condor", readOnly: true },
            { source: scratch, target: "/scratch", readOnly: false },
          ],
        },
      },
      workDir,
    );
    const result = await provider.launch({ count: 1, avoid: [] });
    t.is(result.error, undefined, result.error?.message);
    const info = await run.inspect(result.instances[0]?.id ?? "");
    t.is(mountsOf(info)["/opt/condor"], `${release} ro`);
    t.is(mountsOf(info)["/scratch"], `${scratch} rw`);
    await provider.terminate(ids(result.instances));

    const missing = join(release, "not-there");
    const broken = run.provider(
      {
        cloud: "sitemissing",
        provider: { command: pilot("true"), mounts: [{ source: missing, target: "/opt/x" }] },
      },
      workDir,
    );
    const refused = await broken.provider.launch({ count: 1, avoid: [] });
    t.is(refused.error?.kind, "config", refused.error?.message);
    t.true(refused.error?.message.includes(missing), refused.error?.message);
    t.false(existsSync(missing), "the engine made no directory on the host");
  });

  // With a `Binds` entry the engine would make a missing source directory (empty) and mount it:
  // site mounts are `Mounts` binds, which it refuses (HTTP 400 "bind source path does not exist").
  test("a machineFeatures directory that does not exist fails the launch as config rather than being created empty by the engine", async (t) => {
    const cloud = "nofeatures";
    const workDir = await run.tempDir(cloud);
    const machineFeatures = join(await run.tempDir("missing"), "machinefeatures");
    const { provider } = run.provider(
      { cloud, provider: { machineFeatures, command: pilot("true") } },
      workDir,
    );
    const result = await provider.launch({ count: 1, avoid: [] });
    t.false(existsSync(machineFeatures), "the engine made no directory on the host");
    t.is(result.error?.kind, "config", result.error?.message ?? "launched");
    t.true(result.error?.message.includes(machineFeatures), result.error?.message);
    t.deepEqual(result.instances, []);
    t.deepEqual(await run.containers(cloud), []);
  });

  test("a host's maxContainers limits the launch: 1 of 2 created, then capacity", async (t) => {
    const cloud = "limit";
    const workDir = await run.tempDir("limit");
    const { provider } = run.provider(
      {
        cloud,
        provider: {
          hosts: [{ url: DOCKER_HOST_URL, name: HOST_NAME, maxContainers: 1 }],
          command: pilot("true"),
        },
      },
      workDir,
    );
    const result = await provider.launch({ count: 2, avoid: [] });
    t.is(result.instances.length, 1);
    t.is(result.error?.kind, "capacity");
    t.regex(result.error?.message ?? "", /room for 1 of 2 1-cpu\/64MB containers \(real: 1\)/);
    t.deepEqual(
      (await run.containers(cloud)).map((c) => c.Names[0]),
      result.instances.map((i) => `/${i.id}`),
    );
    t.is((await provider.headroom()).instances, 0);
    const more = await provider.launch({ count: 1, avoid: [] });
    t.deepEqual(more.instances, []);
    t.is(more.error?.kind, "capacity");
    t.is((await run.containers(cloud)).length, 1);
  });

  for (const [message, kind] of [
    ["300 No more work", "capacity"],
    ["200 Success", undefined],
  ] as const) {
    test(`a container that exits after writing "${message}" is listed gone${kind === undefined ? " without a kind" : ` with fault kind ${kind}`}, and removed by that list`, async (t) => {
      const cloud = `exit${message.slice(0, 3)}`;
      const workDir = await run.tempDir(cloud);
      const { provider } = run.provider(
        { cloud, provider: { command: exiting(message) } },
        workDir,
      );
      const result = await provider.launch({ count: 1, avoid: [] });
      t.is(result.error, undefined, result.error?.message);
      const name = result.instances[0]?.id ?? "";
      await run.docker.getContainer(name).wait();

      const lister = run.provider({ cloud }, workDir);
      const listed = await lister.provider.list();
      t.deepEqual(
        listed.map((i) => ({ id: i.id, status: i.status, fault: i.fault })),
        [
          {
            id: name,
            status: "gone",
            fault: {
              message: `exited with code 0; shutdown_message ${message}`,
              ...(kind === undefined ? {} : { kind }),
            },
          },
        ],
      );
      t.is(await run.inspect(name), undefined, "removed: gone from docker ps -a");
      t.false(await exists(join(workDir, name)), "its directory removed");
      // How it ended is logged before its directory goes.
      t.true(
        lister
          .messages()
          .includes(`removed exited ${name} (exited with code 0; shutdown_message ${message})`),
        lister.messages().join("\n"),
      );
      t.deepEqual(await run.provider({ cloud }, workDir).provider.list(), []);
    });
  }

  for (const [what, make] of [
    ["a named pipe", `mkfifo ${JOBOUTPUTS}/shutdown_message`],
    ["a link to /dev/zero", `ln -s /dev/zero ${JOBOUTPUTS}/shutdown_message`],
  ] as const) {
    test(`a job that leaves ${what} as shutdown_message neither freezes the list nor is read: gone, no message, removed`, async (t) => {
      const cloud = what.includes("pipe") ? "hostilepipe" : "hostilelink";
      const workDir = await run.tempDir(cloud);
      const { provider } = run.provider(
        { cloud, provider: { command: ["/bin/sh", "-c", `${make}; exit 0`] } },
        workDir,
      );
      const result = await provider.launch({ count: 1, avoid: [] });
      t.is(result.error, undefined, result.error?.message);
      const name = result.instances[0]?.id ?? "";
      await run.docker.getContainer(name).wait();
      const listed = await run.provider({ cloud }, workDir).provider.list();
      t.deepEqual(
        listed.map((i) => [i.id, i.status, i.fault]),
        [[name, "gone", { message: "exited with code 0" }]],
      );
      t.is(await run.inspect(name), undefined, "removed");
      t.false(await exists(join(workDir, name)), "its directory removed, the pipe or link with it");
    });
  }

  test("a container left created (never started) is failed after a while, not booting capacity for ever", async (t) => {
    const cloud = "neverstarted";
    const pool = run.poolOf(cloud);
    const workDir = await run.tempDir(cloud);
    const name = `${pool}-${cloud}-c0ffee00`;
    await run.docker.createContainer({
      name,
      Image: TEST_IMAGE,
      Cmd: ["true"],
      Labels: {
        [OWNER_TAGS.pool]: pool,
        [OWNER_TAGS.cloud]: cloud,
        [OWNER_TAGS.managedBy]: MANAGED_BY,
      },
      HostConfig: { NetworkMode: "none" },
    });
    const { provider } = run.provider({ cloud }, workDir);
    t.deepEqual(
      (await provider.list()).map((i) => [i.id, i.status]),
      [[name, "booting"]],
      "just created: it may still be started",
    );
    // The same container seen from a little past the limit.
    const future = run.provider(
      { cloud, clock: { now: () => Date.now() / 1000 + DOCKER_NEVER_STARTED + 1 } },
      workDir,
    ).provider;
    const [failed] = await future.list();
    t.is(failed?.status, "failed");
    t.regex(failed?.fault?.message ?? "", /^created \d+s ago and never started$/);
  });

  test("a container that exits 3 without a shutdown_message is listed gone with its exit code and no kind", async (t) => {
    const cloud = "exitcode";
    const workDir = await run.tempDir(cloud);
    const { provider } = run.provider(
      { cloud, provider: { command: exiting(undefined, 3) } },
      workDir,
    );
    const result = await provider.launch({ count: 1, avoid: [] });
    const name = result.instances[0]?.id ?? "";
    await run.docker.getContainer(name).wait();
    const listed = await run.provider({ cloud }, workDir).provider.list();
    t.deepEqual(
      listed.map((i) => ({ id: i.id, status: i.status, fault: i.fault })),
      [{ id: name, status: "gone", fault: { message: "exited with code 3" } }],
    );
    t.is(await run.inspect(name), undefined);
  });

  test("a read-only list reports an exited container gone but leaves it and its directory; the next list removes it", async (t) => {
    const cloud = "exitro";
    const workDir = await run.tempDir(cloud);
    const { provider } = run.provider(
      { cloud, provider: { command: exiting("300 No more work") } },
      workDir,
    );
    const result = await provider.launch({ count: 1, avoid: [] });
    const name = result.instances[0]?.id ?? "";
    await run.docker.getContainer(name).wait();

    const readOnly = run.provider({ cloud, readOnly: true }, workDir);
    const listed = await readOnly.provider.list();
    t.deepEqual(
      listed.map((i) => [i.id, i.status, i.fault?.kind]),
      [[name, "gone", "capacity"]],
    );
    t.is((await run.inspect(name))?.State.Status, "exited", "still in docker ps -a");
    t.is(
      await readFile(join(workDir, name, "joboutputs", "shutdown_message"), "utf8"),
      "300 No more work\n",
    );
    t.true(
      readOnly
        .messages()
        .includes(
          `would remove exited ${name} (exited with code 0; shutdown_message 300 No more work)`,
        ),
    );

    const writer = run.provider({ cloud }, workDir);
    t.deepEqual(
      (await writer.provider.list()).map((i) => [i.id, i.status]),
      [[name, "gone"]],
    );
    t.is(await run.inspect(name), undefined);
    t.false(await exists(join(workDir, name)));
  });

  test("an image tag the host does not have: launch answers config naming it, creates nothing and pulls nothing", async (t) => {
    const cloud = "noimage";
    const workDir = await run.tempDir(cloud);
    const image = `condor-autoscaler-test/${run.pool}-missing:1`;
    const { provider } = run.provider(
      { cloud, provider: { image, command: pilot("true") } },
      workDir,
    );
    const result = await provider.launch({ count: 2, avoid: [] });
    t.deepEqual(result.instances, []);
    t.is(result.error?.kind, "config");
    t.true(result.error?.message.includes(`no image ${image}`), result.error?.message);
    t.deepEqual(await run.containers(cloud), []);
    t.deepEqual(await readdir(workDir), [], "no container directory left");
    const pulled = await run.docker
      .getImage(image)
      .inspect()
      .then(
        () => true,
        () => false,
      );
    t.false(pulled);
  });

  test("rolling update: after the tag moves to another image, a new container gets the new image id and the old keeps its own", async (t) => {
    const cloud = "rolling";
    const workDir = await run.tempDir(cloud);
    const base = (await run.docker.getImage(TEST_IMAGE).inspect()).Id;
    const repo = `condor-autoscaler-test/${run.pool}-rolling`;
    const image = `${repo}:current`;
    await run.docker.getImage(base).tag({ repo, tag: "current" });
    run.trackImage(image);
    const { provider } = run.provider(
      { cloud, provider: { image, command: pilot("true") } },
      workDir,
    );

    const before = await provider.launch({ count: 1, avoid: [] });
    t.is(before.error, undefined, before.error?.message);
    const old = before.instances[0]?.id ?? "";
    t.is(before.instances[0]?.image, base);

    // A second image: a container of the first that wrote /version, committed.
    const builder = await run.docker.createContainer({
      Image: base,
      Cmd: ["/bin/sh", "-c", "echo 2 > /version"],
      Labels: { [OWNER_TAGS.pool]: run.pool },
      HostConfig: { NetworkMode: "none" },
    });
    await builder.start();
    await builder.wait();
    const committed = (await builder.commit({ repo: `${repo}-v2`, tag: "2" })) as { Id: string };
    run.trackImage(`${repo}-v2:2`);
    await builder.remove();
    t.not(committed.Id, base);
    await run.docker.getImage(committed.Id).tag({ repo, tag: "current" });

    const after = await provider.launch({ count: 1, avoid: [] });
    t.is(after.error, undefined, after.error?.message);
    const updated = after.instances[0]?.id ?? "";
    t.is(after.instances[0]?.image, committed.Id);
    t.is((await run.inspect(old))?.Image, base);
    t.is((await run.inspect(updated))?.Image, committed.Id);

    const listed = await run.provider({ cloud }, workDir).provider.list();
    t.deepEqual(Object.fromEntries(listed.map((i) => [i.id, i.image])), {
      [old]: base,
      [updated]: committed.Id,
    });
    for (const container of await run.containers(cloud))
      t.is(container.Labels[DOCKER_LABELS.image], image, "the tag it was made from");
  });

  test("with unreachable hosts beside the real one: launch goes to the real one, list skips the others and says so, headroom counts the real one only", async (t) => {
    const cloud = "partial";
    const workDir = await run.tempDir(cloud);
    const port = await closedPort();
    const hosts = [
      { url: DOCKER_HOST_URL, name: HOST_NAME },
      { url: "unix:///nonexistent/docker.sock", name: "no-socket" },
      { url: `tcp://127.0.0.1:${port}`, name: "refused" },
    ];
    const setup = { cloud, provider: { hosts, command: pilot("true") } };
    const { provider } = run.provider(setup, workDir);
    const result = await provider.launch({ count: 1, avoid: [] });
    t.is(result.error, undefined, result.error?.message);
    const name = result.instances[0]?.id ?? "";
    t.is((await run.inspect(name))?.State.Status, "running");

    const lister = run.provider(setup, workDir);
    t.deepEqual(
      (await lister.provider.list()).map((i) => [i.id, i.status]),
      [[name, "running"]],
    );
    for (const host of ["no-socket", "refused"]) {
      const skipped = lister.records.find((r) =>
        r.msg.startsWith(`docker ${host} skipped this tick (never listed yet): `),
      );
      t.is(skipped?.kind, "transient", `${host} skipped as transient`);
    }
    t.deepEqual(await lister.provider.headroom(), await expectedHeadroom(run.docker, SHAPE));

    // With no host answering there is nothing to list: list throws, launch says why.
    const down = run.provider({ cloud, provider: { hosts: hosts.slice(1) } }, workDir).provider;
    const error = await t.throwsAsync(down.list(), { instanceOf: ProviderError });
    t.is((error as ProviderError | undefined)?.kind, "transient");
    const none = await down.launch({ count: 1, avoid: [] });
    t.deepEqual(none.instances, []);
    t.is(none.error?.kind, "transient");
  });

  test("headroom: the engine's CPUs and memory less what this cloud's running containers reserve", async (t) => {
    const cloud = "room";
    const workDir = await run.tempDir(cloud);
    const { provider } = run.provider({ cloud, provider: { command: pilot("true") } }, workDir);
    t.deepEqual(
      await provider.headroom(),
      await expectedHeadroom(run.docker, { cpus: 0, memoryMb: 0 }),
    );
    const result = await provider.launch({ count: 1, avoid: [] });
    t.is(result.error, undefined, result.error?.message);
    const name = result.instances[0]?.id ?? "";
    t.deepEqual(
      await run.provider({ cloud }, workDir).provider.headroom(),
      await expectedHeadroom(run.docker, SHAPE),
    );
    t.deepEqual((await provider.terminate([name])).terminated, [name]);
    t.deepEqual(
      await run.provider({ cloud }, workDir).provider.headroom(),
      await expectedHeadroom(run.docker, { cpus: 0, memoryMb: 0 }),
    );
  });
}
