/**
 * The OpenStack provider and the daemon against a REAL OpenStack: Keystone v3, Glance, Placement and
 * Nova (fake virt driver) on 127.0.0.1, as scripts/real-nova/ starts it. Opt-in with
 * CONDOR_AUTOSCALER_REAL_NOVA=1; without it the file registers one skipped test saying so.
 *
 * The demo project's quota (instances=3, cores=4) is shared by every test, so they run one after
 * the other (the servers of one are the next one's starting point), and together they leave the
 * project as they found it. Servers are named `<pool>-<cloud>-<id>`
 * with a pool unique to this run (`it<hex>`); `test.after.always` deletes any server whose name
 * starts with that pool, whatever happened.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import type { Instance, InstanceStatus } from "../../src/model/snapshot.js";
import {
  fixture as condorFixture,
  removeScenarios,
  type Scenario,
  scenario,
  slotQueries,
} from "../condor/fake-condor.js";
import {
  BIG_FLAVOR,
  CLOUD_ENTRY,
  type CliRun,
  ENABLED,
  FLAVOR,
  HOW_TO_ENABLE,
  IMAGE,
  novaProvider,
  peerLocks,
  RawNova,
  ROOT,
  runCli,
  runPool,
  until,
  waitForNova,
  writeCloudsYaml,
} from "./real-nova.js";

/** The policy's name of the cloud the provider tests use (the daemon test uses its own). */
const CLOUD = "nova";
const DAEMON_CLOUD = "osd";

interface Run {
  dir: string;
  pool: string;
  env: Record<string, string>;
  nova: RawNova;
  startedAt: number;
  /** Nova answered: there may be servers to clean up. */
  reached: boolean;
}

let run: Run | undefined;

function current(): Run {
  if (run === undefined) throw new Error("test.before did not set up the run");
  return run;
}

/** A provider of this run for cloud `cloud`, made afresh (nothing cached from earlier calls). */
function fresh(cloud = CLOUD, provider: Record<string, unknown> = {}) {
  const { dir, pool, env } = current();
  return novaProvider({
    pool,
    cloud,
    env,
    dir,
    provider,
    userData: async (name) => `#cloud-config\n# worker ${name} of ${pool}\nhostname: ${name}\n`,
  });
}

/** Statuses in the order list() reported them, repeats collapsed. */
function progression(statuses: readonly InstanceStatus[]): InstanceStatus[] {
  return statuses.filter((status, index) => index === 0 || statuses[index - 1] !== status);
}

if (!ENABLED) {
  test.skip(HOW_TO_ENABLE, () => {});
} else {
  test.before(async (t) => {
    t.timeout(180_000);
    const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-real-nova-"));
    const env = await writeCloudsYaml(dir);
    const nova = new RawNova(env, dir);
    run = { dir, pool: runPool(), env, nova, startedAt: Date.now(), reached: false };
    // A peer that is restarting answers again within a few minutes at most.
    await waitForNova(nova, 150_000);
    run.reached = true;
  });

  test.after.always(async (t) => {
    if (run === undefined) return;
    t.timeout(120_000);
    try {
      if (run.reached) {
        // The peer may be restarting: wait for it rather than leave servers behind.
        await waitForNova(run.nova, 90_000);
        const left = await run.nova.deleteAll(`${run.pool}-`);
        if (left.length > 0) t.log(`cleanup deleted servers left behind: ${left.join(", ")}`);
      }
    } finally {
      await removeScenarios();
      await rm(run.dir, { recursive: true, force: true });
      if (peerLocks.length > 0)
        t.log(`calls resent after the peer said "database is locked": ${peerLocks.join(", ")}`);
      t.log(`real-Nova tests took ${((Date.now() - run.startedAt) / 1000).toFixed(1)} s`);
    }
  });

  test.serial("authenticates from clouds.yaml + secure.yaml and reads the headroom", async (t) => {
    t.timeout(60_000);
    const { env, nova } = current();
    const { provider, messages, sent } = fresh();
    const headroom = await provider.headroom();
    const limits = await nova.limits();

    t.false(
      (await readFile(env.OS_CLIENT_CONFIG_FILE ?? "", "utf8")).includes("password"),
      "the password is in secure.yaml only",
    );
    const source = messages().find((m) => m.startsWith("openstack: credentials from"));
    t.is(
      source,
      `openstack: credentials from clouds.yaml entry "${CLOUD_ENTRY}" (${env.OS_CLIENT_CONFIG_FILE} + ${env.OS_CLIENT_SECURE_FILE})`,
    );
    t.deepEqual(
      sent.map((s) => [s.request.method, new URL(s.request.url).pathname, s.status]),
      [
        ["POST", "/v3/auth/tokens", 201],
        ["GET", "/v2.1/limits", 200],
      ],
    );
    // Sane numbers: what the quota leaves, other servers of the project counted.
    const left = (max: string, used: string) =>
      Math.max(0, (limits[max] ?? Number.NaN) - (limits[used] ?? Number.NaN));
    t.deepEqual(headroom, {
      instances: left("maxTotalInstances", "totalInstancesUsed"),
      cpus: left("maxTotalCores", "totalCoresUsed"),
      memoryMb: left("maxTotalRAMSize", "totalRAMUsed"),
    });
    t.true((limits.maxTotalInstances ?? 0) >= 3, "the project allows at least 3 instances");
    t.true(
      (headroom.instances ?? 0) >= 3 && (headroom.cpus ?? 0) >= 3,
      `room for the tests' servers: ${JSON.stringify(headroom)} (other servers in the project?)`,
    );
  });

  test.serial(
    "launches a server with metadata and user-data; a fresh provider lists it booting, then running",
    async (t) => {
      t.timeout(120_000);
      const { pool, nova } = current();
      const { provider, sent } = fresh();
      // A provider made afresh (its own token, nothing cached) lists it. It authenticates first
      // (the first call with a new token takes seconds) and then polls from before the create
      // on, since the fake driver takes a server from BUILD to ACTIVE within a second or two.
      const lister = fresh().provider;
      t.deepEqual(await lister.list(), []);
      const seenStatuses: Array<[string, InstanceStatus]> = [];
      const watching = until(
        "our server ACTIVE",
        () => lister.list(),
        (servers) => servers.some((s) => s.status === "running"),
        60_000,
        50,
        (servers) => {
          for (const s of servers) seenStatuses.push([s.id, s.status]);
        },
      );
      const launched = await provider.launch({ count: 1, avoid: [] });
      const listed = await watching;
      t.is(launched.error, undefined);
      t.is(launched.instances.length, 1);
      const [instance] = launched.instances;
      if (instance === undefined) return;
      t.regex(instance.name, new RegExp(`^${pool}-${CLOUD}-[0-9a-f]{8}$`));
      t.is(instance.status, "booting");

      // What went to Nova: the microversion, networks none, our metadata and base64 user-data.
      const create = sent.find(
        (s) => s.request.method === "POST" && s.request.url.endsWith("/servers"),
      );
      t.is(create?.status, 202);
      t.is(create?.request.headers?.["openstack-api-version"], "compute 2.79");
      const body = (create?.request.json as { server: Record<string, unknown> } | undefined)
        ?.server;
      t.like(body, {
        name: instance.name,
        flavorRef: "1",
        networks: "none",
        metadata: {
          "condor-autoscaler:pool": pool,
          "condor-autoscaler:cloud": CLOUD,
          "managed-by": "condor-autoscaler",
        },
      });
      t.is(
        Buffer.from(String(body?.user_data), "base64").toString("utf8"),
        `#cloud-config\n# worker ${instance.name} of ${pool}\nhostname: ${instance.name}\n`,
      );

      // The other provider found it by name, confirmed by metadata: BUILD, then ACTIVE.
      t.deepEqual(
        progression(seenStatuses.filter(([id]) => id === instance.id).map(([, status]) => status)),
        ["booting", "running"],
      );
      t.true(
        seenStatuses.every(([id]) => id === instance.id),
        "no other server listed",
      );
      const seen = listed.find((s) => s.id === instance.id);
      t.like(seen, { id: instance.id, name: instance.name, cloud: CLOUD, status: "running" });
      t.is(seen?.fault, undefined);
      t.regex(seen?.image ?? "", /^[0-9a-f-]{36}$/, "the image id of cirros-fake");
      t.true(
        Math.abs((seen?.launchedAt ?? 0) - Date.now() / 1000) < 120,
        "created just now by Nova's clock",
      );

      // Nova kept exactly our metadata.
      t.deepEqual((await nova.server(instance.id))?.metadata, {
        "condor-autoscaler:pool": pool,
        "condor-autoscaler:cloud": CLOUD,
        "managed-by": "condor-autoscaler",
      });
      // Another pool's provider on the same cloud does not list it.
      const { provider: other } = novaProvider({ ...current(), pool: `${pool}x`, cloud: CLOUD });
      t.false((await other.list()).some((s) => s.id === instance.id));
    },
  );

  test.serial(
    "a burst past the instance quota: Nova accepts it, then puts the extra servers in ERROR with a quota fault",
    async (t) => {
      t.timeout(120_000);
      // Nova checks the quota at POST time against the servers already in a cell; servers created
      // a moment earlier are not there yet. So a concurrent burst is accepted (202) and the
      // conductor's re-check fails the servers over the quota: the provider must report those
      // as failed with a `quota` fault, a signal the planner backs off on.
      const { pool, nova } = current();
      const prefix = `${pool}-${CLOUD}-`;
      const before = new Set((await nova.servers(prefix)).map((s) => s.id));
      const { provider } = fresh();
      const room = (await provider.headroom()).instances ?? 0;
      t.true(room >= 1, "room for at least one more server");
      const asked = room + 1;
      const result = await provider.launch({ count: asked, avoid: [] });
      const created = result.instances.map((i) => i.id);
      t.log(
        `room ${room}, asked ${asked}: ${created.length} accepted${result.error === undefined ? "" : `, then ${result.error.kind}: ${result.error.message}`}`,
      );
      t.true(result.error === undefined || result.error.kind === "quota", result.error?.message);

      const settled = await until(
        "the burst settled (no server in BUILD)",
        () => fresh().provider.list(),
        (servers) =>
          created.every((id) => {
            const status = servers.find((s) => s.id === id)?.status;
            return status === "running" || status === "failed";
          }),
        60_000,
      );
      const mine = settled.filter((s) => created.includes(s.id));
      const running = mine.filter((s) => s.status === "running");
      const overQuota = mine.filter((s) => s.status === "failed");
      t.log(`after the re-check: ${running.length} running, ${overQuota.length} failed`);
      t.true(running.length <= room, "never more running than the quota allows");
      // A loaded peer may also fail a server that passed the re-check, for its own reasons
      // ("Failure prepping block device" under load): that one is failed without
      // a kind, since backing off would not help. Each fault is classified by what Nova said.
      for (const server of overQuota) {
        const message = server.fault?.message ?? "";
        if (/^Quota exceeded for instances/.test(message)) t.is(server.fault?.kind, "quota");
        else {
          t.log(`failed by the peer, not by the quota: ${message}`);
          t.is(server.fault?.kind, undefined, message);
        }
      }
      // Whichever way Nova said it (403 at POST time, ERROR after the re-check): quota.
      t.true(
        overQuota.some((s) => s.fault?.kind === "quota") || result.error?.kind === "quota",
        "a quota signal for the server that did not fit",
      );
      // The project is full now (failed servers count against the quota too).
      t.is((await provider.headroom()).instances, 0);

      // Back to the one server of the test before: remove the burst's servers, including any
      // the peer made although it answered the POST with an error.
      const burst = (await nova.servers(prefix)).filter((s) => !before.has(s.id));
      await nova.deleteAll(prefix, new Set(burst.map((s) => s.id)));
    },
  );

  test.serial(
    "more servers than the instance quota allows, one after the other: those that fit, then 403 → quota (partial success)",
    async (t) => {
      t.timeout(120_000);
      const { nova, pool } = current();
      // Whatever the tests before left (a server the peer failed to delete, say) would take the
      // room this test needs: start from a project without servers of this run.
      await nova.deleteAll(`${pool}-`);
      await until(
        "Nova no longer counts the deleted servers",
        () => nova.limits(),
        (limits) => (limits.maxTotalInstances ?? 0) - (limits.totalInstancesUsed ?? 0) >= 2,
        30_000,
        200,
      );
      // Each create is followed by a wait until Nova counts the new server (as a cloud with more
      // latency between calls would): then the create past the quota is refused at POST time.
      let counted = (await nova.limits()).totalInstancesUsed ?? 0;
      const { provider } = novaProvider({
        ...current(),
        cloud: CLOUD,
        provider: { concurrency: 1 },
        afterCreate: async () => {
          counted += 1;
          await until(
            "Nova counts the new server",
            () => nova.limits(),
            (limits) => (limits.totalInstancesUsed ?? 0) >= counted,
            30_000,
            200,
          );
        },
      });
      const room = (await provider.headroom()).instances ?? 0;
      t.true(room >= 1, "room for at least one more server");
      const asked = room + 1;
      const result = await provider.launch({ count: asked, avoid: [] });
      t.log(
        `room ${room}, asked ${asked}: ${result.instances.length} created, ${result.error?.message}`,
      );
      t.is(result.error?.kind, "quota");
      t.regex(result.error?.message ?? "", /Quota exceeded for instances/);
      t.is(result.instances.length, room, `partial success: ${room} of ${asked}`);
      t.true(result.instances.every((i) => i.status === "booting"));
      // The launch made the cached limits stale: read again, the quota is used up.
      t.is((await provider.headroom()).instances, 0);
    },
  );

  test.serial(
    "with the instance quota used up, a concurrent batch gets quota and creates nothing",
    async (t) => {
      t.timeout(60_000);
      const { provider } = fresh();
      const result = await provider.launch({ count: 2, avoid: [] });
      t.is(result.error?.kind, "quota");
      t.regex(result.error?.message ?? "", /Quota exceeded for instances/);
      t.deepEqual(result.instances, []);
    },
  );

  test.serial(
    "terminate: the servers are gone within 30 s; terminating them again is done (404)",
    async (t) => {
      t.timeout(120_000);
      const { pool, nova } = current();
      const { provider } = fresh();
      const ours = await provider.list();
      t.true(ours.length >= 1, "servers of the earlier tests to terminate");
      const ids = ours.map((i) => i.id).sort();

      const terminated = await provider.terminate(ids);
      t.is(terminated.error, undefined, terminated.error?.message);
      t.deepEqual([...terminated.terminated].sort(), ids);

      const statuses: InstanceStatus[] = [];
      // A loaded peer may fail a delete half-way: the server goes back to ERROR
      // ("RemoteError"). The daemon terminates failed servers again; so does this test.
      const deletedAgain: string[] = [];
      await until(
        "terminated servers unlisted",
        async () => {
          const servers = await fresh().provider.list();
          for (const s of servers) {
            if (!ids.includes(s.id) || s.status !== "failed" || deletedAgain.includes(s.id))
              continue;
            deletedAgain.push(s.id);
            await provider.terminate([s.id]);
          }
          return servers;
        },
        (servers: Instance[]) => !servers.some((s) => ids.includes(s.id)),
        30_000,
        250,
        (servers) => {
          for (const s of servers) if (ids.includes(s.id)) statuses.push(s.status);
        },
      );
      if (deletedAgain.length > 0)
        t.log(`deleted again after the peer failed the delete: ${deletedAgain.join(", ")}`);
      // While Nova deletes them they show as ACTIVE with task_state "deleting": gone, not running.
      t.true(
        statuses.every((s) => s === "gone" || (s === "failed" && deletedAgain.length > 0)),
        `statuses while deleting: ${statuses.join(", ")}`,
      );
      for (const id of ids) t.is(await nova.server(id), undefined, `GET /servers/${id} is 404`);
      t.deepEqual(await nova.servers(`${pool}-${CLOUD}-`), []);

      // A second terminate finds nothing to delete (404) and counts every one as done.
      const again = fresh();
      const second = await again.provider.terminate(ids);
      t.is(second.error, undefined);
      t.deepEqual([...second.terminated].sort(), ids);
      t.deepEqual(
        again.sent.filter((s) => s.request.method === "DELETE").map((s) => s.status),
        ids.map(() => 404),
      );
    },
  );

  test.serial(
    "a flavor with more vCPUs than the cores quota: quota, nothing created",
    async (t) => {
      t.timeout(60_000);
      const { pool, nova } = current();
      const { provider, sent } = fresh(CLOUD, { flavor: BIG_FLAVOR });
      const result = await provider.launch({ count: 1, avoid: [] });
      t.is(result.error?.kind, "quota");
      t.regex(result.error?.message ?? "", /Quota exceeded for cores/);
      t.deepEqual(result.instances, []);
      t.deepEqual(
        sent
          .filter((s) => s.request.method === "POST" && s.request.url.endsWith("/servers"))
          .map((s) => s.status),
        [403],
      );
      t.deepEqual(await nova.servers(`${pool}-`), []);
    },
  );

  test.serial(
    "daemon: `run --once` launches workers in Nova for idle jobs; a later `run --once` terminates them when idle",
    async (t) => {
      t.timeout(300_000);
      const { pool, env, dir } = current();
      const fakes = await scenario({
        "condor_q.af": condorFixture("01_condor_q_idle_jobs.af.txt"),
        condor_status: condorFixture("01_condor_status_startd_empty.json"),
      });
      const answers = join(fakes.dir, "answers");
      const config = join(dir, "config");
      await writeConfig(config, pool, fakes);
      const lister = fresh(DAEMON_CLOUD).provider;
      const once = ["run", "--once", "--config", config];

      // Six idle 1-cpu jobs waiting since long before now, no workers: two 1-cpu workers (maxWorkers).
      // A loaded peer may fail a call (a 500, or a build that goes ERROR); the daemon's answer
      // is the next tick, here the next `run --once` (at most three): it terminates a failed
      // server and launches another.
      const launches = await runsUntil(t, "launch", once, env, async () => {
        const servers = (await lister.list()).filter((s) => s.status !== "gone");
        // Each run has made its calls by the time it exits: a server missing now never comes.
        if (servers.length < 2 || servers.some((s) => s.status === "failed")) return "next";
        return servers.every((s) => s.status === "running");
      });
      const first = launches[0];
      t.is(first?.code, 0, first?.stderr);
      t.true(
        first?.records.some((r) => /^launch 2 on osd/.test(String(r.msg))) ?? false,
        "the first run launched two workers at once",
      );
      const launched = await until(
        "two workers ACTIVE",
        () => lister.list(),
        (servers) => servers.length === 2 && servers.every((s) => s.status === "running"),
        30_000,
      );
      t.true(launched.every((s) => s.name.startsWith(`${pool}-${DAEMON_CLOUD}-`)));
      t.is(
        (await fakes.callsOf("condor_q")).length,
        launches.length,
        "one condor_q per run: one cloud, one constraint",
      );

      // Both workers joined and sit idle past idleTimeout (71 s on their own clocks); no jobs.
      const ids = launched.map((s) => s.id).sort();
      await writeFile(
        join(answers, "condor_q.af.out"),
        condorFixture("condor_q_global_empty_queue.txt"),
      );
      await writeFile(join(answers, "condor_status.out"), idleStartds(pool, ids));
      // Done when Nova has forgotten them: a delete the peer fails half-way leaves the server in
      // ERROR, which the next run terminates as failed.
      const terminations = await runsUntil(t, "terminate", once, env, async () => {
        const servers = await lister.list();
        // Deleting servers show as gone at once: one still running was not deleted.
        if (servers.some((s) => s.status !== "gone")) return "next";
        return servers.length === 0;
      });
      t.true(
        terminations.every((run) => !run.records.some((r) => /^launch /.test(String(r.msg)))),
        "nothing launched with an empty queue",
      );
      const terminated = terminations.flatMap((run) =>
        run.records.flatMap((r) => {
          const action = r.action as { kind?: string; instanceIds?: string[] } | undefined;
          return action?.kind === "terminate" ? (action.instanceIds ?? []) : [];
        }),
      );
      t.deepEqual([...new Set(terminated)].sort(), ids, "both idle workers terminated");
      t.deepEqual(await lister.list(), []);

      // HTCondor: re-checked before the kill of idle workers (not of servers failed in the
      // cloud, which may never have joined), withdrawn after it.
      const idleKillRuns = terminations.filter((run) =>
        run.records.some((r) => {
          const action = r.action as { kind?: string; cause?: string } | undefined;
          return action?.kind === "terminate" && action.cause === "idle";
        }),
      );
      t.is(
        (await slotQueries(fakes)).length,
        launches.length + terminations.length + idleKillRuns.length,
        "one snapshot per run, and one re-check in each run that kills idle workers",
      );
      const advertised = await fakes.callsOf("condor_advertise");
      t.deepEqual([...new Set(advertised.map((call) => call.argv[0]))].sort(), [
        "INVALIDATE_MASTER_ADS",
        "INVALIDATE_STARTD_ADS",
      ]);
      for (const id of ids)
        t.true(
          advertised.some((call) => call.ad?.includes(`"${id}"`)),
          `${id} withdrawn from the collector`,
        );
    },
  );
}

/**
 * `condor-autoscaler run --once` until `done` (checked for up to 60 s after each run), at most
 * three times; logs each run's duration and its warnings.
 */
async function runsUntil(
  t: ExecutionContext,
  what: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  /** true: done; false: not yet; "next": not going to happen without another tick. */
  done: () => Promise<boolean | "next">,
): Promise<CliRun[]> {
  const runs: CliRun[] = [];
  for (let n = 1; n <= 3; n += 1) {
    const result = await runCli(args, env);
    runs.push(result);
    t.log(`run --once (${what}) #${n}: ${result.ms} ms, exit ${result.code}`);
    const warnings = result.records.filter((r) => typeof r.level === "number" && r.level >= 40);
    for (const r of result.records)
      if (r.action !== undefined || warnings.includes(r)) t.log(`  ${String(r.msg)}`);
    if (result.code !== 0) {
      t.log(result.stderr);
      return runs;
    }
    try {
      if ((await until(what, done, (ok) => ok !== false, 60_000)) === true) return runs;
    } catch {
      // not within a minute
    }
    // the next run is the next tick
  }
  t.fail(`${what}: not done after three runs`);
  return runs;
}

/** autoscaler.yaml and one OpenStack cloud file, with the CernVM user-data template. */
async function writeConfig(config: string, pool: string, fakes: Scenario): Promise<void> {
  await mkdir(join(config, "clouds.d"), { recursive: true });
  await writeFile(
    join(config, "autoscaler.yaml"),
    `pool: ${pool}\ntickInterval: 30s\npersistence: 60s\n` +
      `condor:\n  kind: htcondor\n  binDir: ${JSON.stringify(fakes.binDir)}\n  timeout: 20s\n  retries: 0\n` +
      "  headNode: head.example.org\nlogging:\n  format: json\n",
  );
  await writeFile(
    join(config, "clouds.d", `${DAEMON_CLOUD}.yaml`),
    "provider:\n  kind: openstack\n" +
      `  cloud: ${CLOUD_ENTRY}\n  flavor: ${FLAVOR}\n  image: ${IMAGE}\n  networks: none\n` +
      "maxWorkers: 2\nworker:\n  cpus: 1\n  memoryMb: 512\nidleTimeout: 1m\nbootTimeout: 15m\n" +
      `userData: ${JSON.stringify(join(ROOT, "examples/cernvm/user-data.yaml.mustache"))}\n`,
  );
}

/**
 * The captured idle static slots of worker1 (05_condor_status_idle_static_and_pslot_autoscaler.json,
 * Unclaimed/Idle for 71 s on its own clock), once per server: each copy renamed worker<n> and
 * advertising the server's id, this run's pool and the daemon's cloud.
 */
function idleStartds(pool: string, ids: readonly string[]): string {
  const ads = JSON.parse(
    condorFixture("05_condor_status_idle_static_and_pslot_autoscaler.json"),
  ) as Array<Record<string, unknown>>;
  const staticSlots = ads.filter((ad) => ad.SlotType === "Static");
  if (staticSlots.length !== 2)
    throw new Error("the captured ads changed: expected two static slots");
  const out = ids.flatMap((id, index) =>
    staticSlots.map((ad) => ({
      ...ad,
      Name: String(ad.Name).replace("@worker1@", `@worker${index + 1}@`),
      AutoscalerPool: pool,
      AutoscalerCloud: DAEMON_CLOUD,
      AutoscalerInstanceId: id,
    })),
  );
  return `[\n${out.map((ad) => JSON.stringify(ad, null, 2)).join("\n,\n")}\n]\n`;
}
