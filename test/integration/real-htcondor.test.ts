/**
 * The daemon against a REAL HTCondor 25 pool with real Docker pilots (opt-in: see
 * test/integration/real-htcondor.ts). Nothing here is faked: condor_q, condor_status and
 * condor_advertise are HTCondor's own, the pilots run examples/pilot/entrypoint.sh and join the
 * pool, the negotiator matches the jobs to them, and the daemon terminates them when idle.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "ava";
import { DOCKER_HOST_URL, type RealDockerRun, realDocker, TEST_IMAGE } from "./real-docker.js";
import { PersonalPool, realHTCondorMissing, startDaemon } from "./real-htcondor.js";
import { ROOT } from "./real-nova.js";

const missing = await realHTCondorMissing();
if (missing !== undefined) {
  test.skip(`real-HTCondor integration tests skipped: ${missing}`, () => {});
} else {
  const docker = await realDocker();
  if (docker !== undefined) declareTests(docker, process.env.CONDOR_AUTOSCALER_REAL_HTCONDOR ?? "");
}

/** Two one-second-ish jobs of each kind: with and without request_memory, 1- and 2-cpu. */
const JOBS = `executable = /bin/sleep
arguments = 5
should_transfer_files = YES
request_cpus = 1
request_memory = 128
queue 2
`;
/** No request_memory (an expression), request_cpus an expression: 1 and 2 cpus. */
const EXPRESSION_JOBS = `executable = /bin/sleep
arguments = 5
should_transfer_files = YES
request_cpus = $(Process) % 2 + 1
queue 2
`;

async function writeConfig(
  dir: string,
  pool: string,
  condor: PersonalPool,
  cloud: string,
  provider: Record<string, unknown>,
  policy: string,
): Promise<void> {
  await mkdir(join(dir, "clouds.d"), { recursive: true });
  await writeFile(
    join(dir, "autoscaler.yaml"),
    `pool: ${pool}\ntickInterval: 5s\npersistence: 0s\n` +
      `condor:\n  kind: htcondor\n  binDir: ${JSON.stringify(join(condor.release, "bin"))}\n` +
      `  collector: ${JSON.stringify(condor.collector)}\n  headNode: ${JSON.stringify(condor.collector)}\n` +
      `  tokenFile: ${JSON.stringify(condor.tokenFile)}\n  timeout: 30s\n  collectorWarmup: 20s\n` +
      "logging:\n  level: debug\n  format: json\nstatus:\n  port: 0\n",
  );
  const template = `${await readFile(join(ROOT, "examples/pilot/user-data.env.mustache"), "utf8")}NUM_CPUS=2\nMEMORY_MB=1024\n`;
  await writeFile(join(dir, "clouds.d", "pilot.mustache"), template);
  await writeFile(
    join(dir, "clouds.d", `${cloud}.yaml`),
    `provider:\n  kind: docker\n  hosts:\n    - url: ${JSON.stringify(DOCKER_HOST_URL)}\n` +
      `  image: ${JSON.stringify(TEST_IMAGE)}\n  workDir: ${JSON.stringify(join(dir, "work"))}\n` +
      `  stopGrace: 15s\n${Object.entries(provider)
        .map(([key, value]) => `  ${key}: ${JSON.stringify(value)}\n`)
        .join("")}` +
      `worker:\n  cpus: 2\n  memoryMb: 1024\n${policy}userData: pilot.mustache\n`,
  );
}

function declareTests(docker: RealDockerRun, release: string): void {
  test.serial(
    "real pool: jobs with and without request_memory, 1 and 2 cpus → pilots join → jobs run → idle pilots terminated, every ad gone",
    async (t) => {
      t.timeout(600_000);
      const condor = await PersonalPool.start(release, await docker.tempDir("htcondor"));
      t.teardown(() => condor.stop());
      const pool = docker.poolOf("htc");
      const config = await docker.tempDir("htc-config");
      const provider = await condor.pilotProvider(await docker.tempDir("one-pilot"));
      await writeConfig(
        config,
        pool,
        condor,
        "htc",
        provider,
        'maxWorkers: 3\njobs: "true"\nidleTimeout: 20s\nbootTimeout: 3m\n',
      );
      const clusters = [await condor.submit(JOBS), await condor.submit(EXPRESSION_JOBS)];
      const started = Date.now();
      const daemon = startDaemon(config, condor.env);
      t.teardown(() => daemon.stop());

      await condor.until(
        "all four jobs completed",
        async () => {
          daemon.alive();
          return (await condor.completed(clusters)).size === 4;
        },
        300_000,
      );
      const ran = await condor.completed(clusters);
      t.log(
        `4 jobs done after ${Math.round((Date.now() - started) / 1000)} s on ${[...new Set(ran.values())].join(", ")}`,
      );
      t.true(
        [...ran.values()].every((slot) => slot.includes(`${pool}-htc-`)),
        "on our pilots",
      );

      await condor.until(
        "every pilot terminated and every ad of the pool gone",
        async () => {
          daemon.alive();
          return (
            (await docker.containers("htc")).length === 0 && (await condor.adsOf(pool)).length === 0
          );
        },
        240_000,
      );
      t.log(`pilots gone, no ad left after ${Math.round((Date.now() - started) / 1000)} s`);
      const said = daemon.messages();
      for (const line of said
        .filter(
          (m) =>
            /^(launch|terminate|spared|withdrawing|removed exited)/.test(m) ||
            m.includes("idle jobs;"),
        )
        .slice(0, 40))
        t.log(`  ${line}`);
      t.true(
        said.some((m) => /^launch \d+ on htc/.test(m)),
        "launched",
      );
      t.true(
        said.some((m) => /^terminate .* on htc: .*idle for/.test(m)),
        "terminated as idle",
      );
      t.false(
        said.some((m) => /stuck booting/.test(m)),
        "no worker was ever taken for stuck",
      );
      t.false(
        said.some((m) => /skipped, a request/.test(m)),
        "no job skipped for its requests",
      );
      await daemon.stop();
    },
  );

  test.serial(
    "real pool: perJob pilots run exactly one job each and end with 200 Success",
    async (t) => {
      t.timeout(600_000);
      const condor = await PersonalPool.start(release, await docker.tempDir("htcondor-perjob"));
      t.teardown(() => condor.stop());
      const pool = docker.poolOf("one");
      const config = await docker.tempDir("one-config");
      const provider = await condor.pilotProvider(await docker.tempDir("one-pilot"));
      await writeConfig(
        config,
        pool,
        condor,
        "one",
        { ...provider, perJob: true },
        'maxWorkers: 2\njobs: "true"\nidleTimeout: 5m\nbootTimeout: 3m\n',
      );
      const clusters = [await condor.submit(JOBS)];
      const started = Date.now();
      const daemon = startDaemon(config, condor.env);
      t.teardown(() => daemon.stop());

      await condor.until(
        "both jobs completed",
        async () => {
          daemon.alive();
          return (await condor.completed(clusters)).size === 2;
        },
        300_000,
      );
      const ran = [...(await condor.completed(clusters)).values()];
      t.is(
        new Set(ran.map((slot) => slot.replace(/^slot\d+(_\d+)?@/, ""))).size,
        2,
        `one pilot per job: ${ran.join(", ")}`,
      );
      await condor.until(
        "both pilots exited with 200 Success and were removed",
        async () =>
          daemon
            .messages()
            .filter((m) => /^removed exited .*shutdown_message 200 Success\)$/.test(m)).length ===
          2,
        240_000,
      );
      t.log(
        `both one-job pilots ended 200 Success after ${Math.round((Date.now() - started) / 1000)} s`,
      );
      for (const line of daemon.messages().filter((m) => /^(launch|removed exited)/.test(m)))
        t.log(`  ${line}`);
      t.false(
        daemon.messages().some((m) => /shutdown_message 7\d\d/.test(m)),
        "no pilot failed",
      );
      await daemon.stop();
    },
  );
}
