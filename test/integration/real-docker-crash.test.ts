/**
 * Crash safety against a REAL Docker engine: the daemon is killed with SIGKILL in the middle of a
 * launch (as soon as the engine reports the container's create, or its start) and started again.
 * What it owns comes from the containers' labels, so the restarted daemon adopts what the killed
 * one made, launches nothing twice and leaves no orphan (no container it does not list, no
 * directory without a container); a container that never started is reaped by the boot timeout.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { records, startCli } from "../cli/run-cli.js";
import { fixture, removeScenarios, type Scenario, scenario } from "../condor/fake-condor.js";
import { type RealDockerRun, realDocker, writeDaemonConfig } from "./real-docker.js";
import { runCli } from "./real-nova.js";

/** Long enough for a restart on a loaded machine to see the container as booting, not stuck. */
const BOOT_TIMEOUT = 120;
/** What the admin lowers it to before the reaping run, so the test need not wait two minutes. */
const SHORT_BOOT_TIMEOUT = 2;

/** One idle 1-cpu job of the captured queue: demand for exactly one worker. */
/** The first job of the real 01 queue, as `condor_q -af:t` prints it. */
function oneIdleJob(): string {
  return `${fixture("01_condor_q_idle_jobs.af.txt").split("\n")[0]}\n`;
}

function writeConfig(
  config: string,
  pool: string,
  cloud: string,
  fakes: Scenario,
  workDir: string,
  bootTimeout = BOOT_TIMEOUT,
): Promise<void> {
  return writeDaemonConfig(config, {
    pool,
    cloud: cloud,
    binDir: fakes.binDir,
    workDir,
    stopGrace: "2s",
    policy: `maxWorkers: 4\nworker:\n  cpus: 1\n  memoryMb: 128\nidleTimeout: 1m\nbootTimeout: ${bootTimeout}s\n`,
  });
}

/**
 * Starts `run` (the looping daemon) and sends it `signal` when the engine reports `action` on one
 * of our containers; resolves with the daemon's stdout once it has exited.
 */
async function signalAt(
  run: RealDockerRun,
  t: ExecutionContext,
  config: string,
  cloud: string,
  action: "create" | "start",
  signal: NodeJS.Signals,
): Promise<{ stdout: string; code: number | null; signal: NodeJS.Signals | null }> {
  const events = await run.docker.getEvents({
    filters: {
      type: ["container"],
      event: [action],
      label: [`condor-autoscaler:pool=${run.pool}`, `condor-autoscaler:cloud=${cloud}`],
    },
  });
  const child = startCli(["run", "--config", config]);
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const seen = new Promise<void>((resolve) => {
    events.once("data", () => {
      child.kill(signal);
      resolve();
    });
  });
  const outcome = await Promise.race([
    seen.then(() => "killed" as const),
    exited.then(() => "exited" as const),
    new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 60_000)),
  ]);
  (events as unknown as { destroy(): void }).destroy();
  if (outcome !== "killed") {
    child.kill("SIGKILL");
    t.fail(`the daemon was not caught at ${action}: ${outcome}`);
  }
  const ended = await exited;
  return { stdout, ...ended };
}

const run = await realDocker();
if (run !== undefined) declareTests(run);

function declareTests(run: RealDockerRun): void {
  test.after.always(removeScenarios);

  for (const action of ["create", "start"] as const) {
    test.serial(
      `SIGKILL right after the engine's container ${action}, then a restart: the worker is adopted, nothing launched twice, no orphan`,
      async (t) => {
        t.timeout(120_000);
        const cloud = `crash${action}`;
        const fakes = await scenario({
          "condor_q.af": oneIdleJob(),
          condor_status: fixture("01_condor_status_startd_empty.json"),
        });
        const config = await run.tempDir("config");
        const workDir = await run.tempDir("work");
        await writeConfig(config, run.pool, cloud, fakes, workDir);

        const killed = await signalAt(run, t, config, cloud, action, "SIGKILL");
        t.is(killed.signal, "SIGKILL");
        const afterKill = await run.containers(cloud);
        t.is(afterKill.length, 1, "the killed daemon had made one container");
        const [made] = afterKill.map((c) => (c.Names[0] ?? "").replace(/^\//, ""));
        t.log(`after SIGKILL at ${action}: ${made} is ${afterKill[0]?.State}`);

        // Restarted: the job still waits, the container has not joined the pool.
        const restart = await runCli(["run", "--once", "--config", config], {});
        t.is(restart.code, 0, restart.stderr);
        const launches = restart.records.filter(
          (r) => (r.action as { kind?: string } | undefined)?.kind === "launch",
        );
        t.deepEqual(launches, [], "the booting container absorbs the job: no second launch");
        const containers = await run.containers(cloud);
        t.deepEqual(
          containers.map((c) => (c.Names[0] ?? "").replace(/^\//, "")),
          [made],
          "exactly the one container, adopted",
        );
        t.deepEqual(await readdir(workDir), [made], "one directory, the container's");
        const summary = restart.records.find((r) => r.summary === true);
        t.regex(String(summary?.msg), /workers: 1 booting/);

        // Never joined: past the boot timeout it is terminated as stuck, like any other.
        await writeConfig(config, run.pool, cloud, fakes, workDir, SHORT_BOOT_TIMEOUT);
        await new Promise((resolve) => setTimeout(resolve, (SHORT_BOOT_TIMEOUT + 1) * 1000));
        await writeFile(
          join(fakes.dir, "answers", "condor_q.af.out"),
          fixture("condor_q_global_empty_queue.txt"),
        );
        const reap = await runCli(["run", "--once", "--config", config], {});
        t.is(reap.code, 0, reap.stderr);
        const terminated = reap.records.flatMap((r) => {
          const a = r.action as
            | { kind?: string; cause?: string; instanceIds?: string[] }
            | undefined;
          return a?.kind === "terminate" ? [a] : [];
        });
        t.deepEqual(
          terminated.map((a) => [a.cause, a.instanceIds]),
          [["stuck", [made]]],
        );
        t.deepEqual(await run.containers(cloud), [], "reaped");
        t.deepEqual(await readdir(workDir), [], "its directory too");
      },
    );
  }

  test.serial(
    "SIGTERM in the middle of a launch: the tick finishes (the container is started), then the daemon exits 0",
    async (t) => {
      t.timeout(120_000);
      const cloud = "crashterm";
      const fakes = await scenario({
        "condor_q.af": oneIdleJob(),
        condor_status: fixture("01_condor_status_startd_empty.json"),
      });
      const config = await run.tempDir("config");
      const workDir = await run.tempDir("work");
      await writeConfig(config, run.pool, cloud, fakes, workDir);
      const stopped = await signalAt(run, t, config, cloud, "create", "SIGTERM");
      t.is(stopped.code, 0);
      const messages = records(stopped.stdout).map((r) => String(r.msg));
      const signalled = messages.indexOf("SIGTERM: stopping after the current tick");
      const summary = messages.findIndex((m) => /^tick 1: .*launched 1 of 1/.test(m));
      t.true(signalled >= 0 && summary > signalled, messages.join("\n"));
      t.is(messages.at(-1), "stopped");
      const containers = await run.containers(cloud);
      t.deepEqual(
        containers.map((c) => c.State),
        ["running"],
        "the launch was completed, not left half-made",
      );
    },
  );

  test.serial(
    "a per-container directory left without a container (killed between the two) is removed by the next list",
    async (t) => {
      const cloud = "crashdir";
      const workDir = await run.tempDir("work");
      const { provider, messages } = run.provider({ cloud }, workDir);
      const orphan = `${run.poolOf(cloud)}-${cloud}-0badc0de`;
      const foreign = `${run.poolOf(cloud)}-other-0badc0de`;
      await mkdir(join(workDir, orphan, "joboutputs"), { recursive: true });
      await mkdir(join(workDir, foreign), { recursive: true });
      t.deepEqual(await provider.list(), []);
      t.deepEqual(await readdir(workDir), [foreign], "another cloud's directory is left alone");
      t.true(messages().some((m) => m.startsWith(`removed ${orphan}'s directory`)));
    },
  );
}
