/**
 * The daemon with a Docker cloud against a REAL Docker engine (scripts/real-docker/up.sh) and the
 * fake HTCondor tools: `condor-autoscaler run --once` as a child process, as a cron job or a
 * person would run it. Without an engine the file registers one skipped test saying how to start
 * it (one failing test when CI=true).
 */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "ava";
import { MANAGED_BY, OWNER_TAGS } from "../../src/providers/context.js";
import {
  fixture,
  removeScenarios,
  type Scenario,
  scenario,
  slotQueries,
} from "../condor/fake-condor.js";
import { idleStartds, type RealDockerRun, realDocker, writeDaemonConfig } from "./real-docker.js";
import { type CliRun, runCli } from "./real-nova.js";

const CLOUD = "dock";

function writeConfig(
  config: string,
  pool: string,
  fakes: Scenario,
  workDir: string,
): Promise<void> {
  return writeDaemonConfig(config, {
    pool,
    cloud: CLOUD,
    binDir: fakes.binDir,
    workDir,
    stopGrace: "5s",
    policy: "maxWorkers: 2\nworker:\n  cpus: 1\n  memoryMb: 128\nidleTimeout: 1m\n",
  });
}

/** The action records of a run, of one kind. */
function actions(result: CliRun, kind: "launch" | "terminate") {
  return result.records.flatMap((r) => {
    const action = r.action as
      | { kind?: string; count?: number; cause?: string; instanceIds?: string[] }
      | undefined;
    return action?.kind === kind ? [action] : [];
  });
}

function logRun(t: { log: (...values: unknown[]) => void }, what: string, result: CliRun): void {
  t.log(`run --once (${what}): ${result.ms} ms, exit ${result.code}`);
  for (const r of result.records)
    if (r.action !== undefined || (typeof r.level === "number" && r.level >= 40))
      t.log(`  ${String(r.msg)}`);
  if (result.code !== 0) t.log(result.stderr);
}

const run = await realDocker();
if (run !== undefined) declareTests(run);

function declareTests(run: RealDockerRun): void {
  test.after.always(removeScenarios);

  test.serial(
    "daemon: `run --once` starts pilot containers for idle jobs; a later `run --once` stops and removes them when idle",
    async (t) => {
      t.timeout(180_000);
      const fakes = await scenario({
        "condor_q.af": fixture("01_condor_q_idle_jobs.af.txt"),
        condor_status: fixture("01_condor_status_startd_empty.json"),
      });
      const config = await run.tempDir("config");
      const workDir = await run.tempDir("work");
      await writeConfig(config, run.pool, fakes, workDir);
      const once = ["run", "--once", "--config", config];

      // Six idle 1-cpu jobs waiting since long before now, no workers: two workers (maxWorkers).
      const first = await runCli(once, {});
      logRun(t, "launch", first);
      t.is(first.code, 0, first.stderr);
      t.deepEqual(
        actions(first, "launch").map((a) => a.count),
        [2],
        "one launch of two workers",
      );
      const started = await run.containers(CLOUD);
      const names = started.map((c) => (c.Names[0] ?? "").replace(/^\//, "")).sort();
      t.is(started.length, 2);
      for (const container of started) {
        t.is(container.State, "running");
        t.like(container.Labels, {
          [OWNER_TAGS.pool]: run.pool,
          [OWNER_TAGS.cloud]: CLOUD,
          [OWNER_TAGS.managedBy]: MANAGED_BY,
        });
      }
      for (const name of names) {
        t.regex(name, new RegExp(`^${run.pool}-${CLOUD}-[0-9a-f]{8}$`));
        // The pilot's user-data, rendered for this container.
        const userData = await readFile(join(workDir, name, "user_data"), "utf8");
        t.true(userData.includes(`\nWORKER_NAME=${name}\n`), userData);
        t.true(userData.includes(`\nPOOL=${run.pool}\n`));
        t.true(userData.includes(`\nCLOUD=${CLOUD}\n`));
        t.true(userData.includes("\nHEAD_NODE=head.example.org\n"));
      }
      const reported = first.records.find((r) => String(r.msg).startsWith(`${CLOUD}: launched `));
      t.deepEqual(
        [...((reported?.instanceIds as string[] | undefined) ?? [])].sort(),
        names,
        "the daemon reports the containers it launched by name",
      );

      // Both workers joined (host name = container name = instance id) and sit idle past
      // idleTimeout (71 s on their own clocks); no jobs left.
      const answers = join(fakes.dir, "answers");
      await writeFile(join(answers, "condor_q.af.out"), fixture("condor_q_global_empty_queue.txt"));
      await writeFile(
        join(answers, "condor_status.out"),
        idleStartds(
          run.pool,
          CLOUD,
          names.map((name) => ({ instanceId: name, machine: name })),
        ),
      );
      const second = await runCli(once, {});
      logRun(t, "terminate", second);
      t.is(second.code, 0, second.stderr);
      t.deepEqual(actions(second, "launch"), [], "nothing launched with an empty queue");
      const terminated = actions(second, "terminate");
      t.true(terminated.every((a) => a.cause === "idle"));
      t.deepEqual(terminated.flatMap((a) => a.instanceIds ?? []).sort(), names);
      t.deepEqual(await run.containers(CLOUD), [], "stopped and removed: gone from docker ps -a");
      t.deepEqual(await readdir(workDir), [], "their directories removed");

      // HTCondor: one snapshot per run and a re-check before the kill; ads withdrawn after it.
      t.is((await fakes.callsOf("condor_q")).length, 2);
      t.is((await slotQueries(fakes)).length, 3);
      const advertised = await fakes.withdrawals();
      t.deepEqual(advertised.map((call) => call.argv[0]).sort(), [
        "INVALIDATE_MASTER_ADS",
        "INVALIDATE_STARTD_ADS",
        "INVALIDATE_STARTD_ADS",
      ]);
      for (const name of names)
        t.true(
          advertised.every((call) => call.ad?.includes(`"${name}"`)),
          `${name} withdrawn from the collector`,
        );
    },
  );
}
