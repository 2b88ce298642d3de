/**
 * `condor-autoscaler check`, from the built CLI: HTCondor through the fake tools (which print real
 * HTCondor 25 output), a token file, a user-data template and clouds; one line per check.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { cli, ROOT } from "./run-cli.js";

const FAKES = join(ROOT, "test/fakes");
const SLOTS = join(ROOT, "test/fixtures/htcondor/02_condor_status_busy_pslots_autoscaler.json");

interface Site {
  dir: string;
  answers: string;
  token: string;
}

/** A config directory for pool `test` with one simulated cloud rendering a user-data template. */
async function site(condor: string, clouds: Record<string, string>): Promise<Site> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-check-"));
  const answers = join(dir, "answers");
  await mkdir(answers);
  await mkdir(join(dir, "clouds.d"));
  const token = join(dir, "worker.token");
  await writeFile(
    join(dir, "autoscaler.yaml"),
    `pool: test\ncondor:\n  kind: htcondor\n  headNode: cm.example.org\n${condor.replaceAll("TOKEN", token)}`,
  );
  await writeFile(join(dir, "user-data.mustache"), "CONDOR_HOST={{headNode}}\nTOKEN={{token}}\n");
  for (const [name, text] of Object.entries(clouds))
    await writeFile(join(dir, "clouds.d", `${name}.yaml`), text);
  return { dir, answers, token };
}

const SIMULATED_CLOUD =
  "provider:\n  kind: simulated\nmaxWorkers: 4\nworker:\n  cpus: 4\n  memoryMb: 8000\nuserData: ../user-data.mustache\n";

test("check on a working config: every line ok, the token never printed, exit 0", async (t) => {
  const { dir, answers, token } = await site(`  binDir: ${FAKES}\n  tokenFile: TOKEN\n`, {
    batch: SIMULATED_CLOUD,
  });
  await writeFile(token, "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXdvcmtlci10b2tlbg.c2lnbmF0dXJl\n");
  await writeFile(join(answers, "condor_q.af.out"), "All queues are empty\n");
  await writeFile(join(answers, "condor_status.out"), await readFile(SLOTS, "utf8"));
  const log = join(dir, "calls.log");
  const result = await cli(["check", "--config", dir], undefined, {
    FAKE_CONDOR_DIR: answers,
    FAKE_CONDOR_LOG: log,
  });
  t.is(result.code, 0, result.stdout + result.stderr);
  const lines = result.stdout.trimEnd().split("\n");
  t.regex(lines[0] ?? "", /^ok {4}config .* is valid: pool test; clouds: batch$/);
  t.true(
    lines.includes("ok    condor_q -global answers: 0 idle jobs the clouds' constraints select"),
    result.stdout,
  );
  t.regex(
    result.stdout,
    /^ok {4}condor_status -slots answers: \d+ workers? of this pool in the collector$/m,
  );
  t.regex(
    result.stdout,
    /^ok {4}condor_advertise may withdraw worker ads .*: the collector accepted invalidations that match no ad$/m,
  );
  t.regex(result.stdout, /^ok {4}condor\.tokenFile .*worker\.token is readable: 60 characters$/m);
  t.regex(result.stdout, /^ok {4}cloud batch: user-data renders: \d+ bytes$/m);
  t.regex(
    result.stdout,
    /^ok {4}cloud batch: credentials resolve and its instances can be listed: 0 instances/m,
  );
  t.is(lines.at(-1), "8 ok, 0 failed, 1 skipped");
  t.true(
    lines.includes(
      "skip  no instance of pool test is left in a cloud that is not configured: no cloud that can be asked",
    ),
    result.stdout,
  );
  t.false(result.stdout.includes("c2VjcmV0"), "the token is not printed");
  // The withdrawal probe matches no ad: nothing is withdrawn.
  const advertised = (await readFile(log, "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { tool: string; ad?: string })
    .filter((call) => call.tool === "condor_advertise");
  t.is(advertised.length, 3);
  for (const call of advertised) t.regex(call.ad ?? "", /^Requirements = False$/m);
});

test("check on a broken config: a FAIL line with its fix for each problem, exit 1", async (t) => {
  const empty = await mkdtemp(join(tmpdir(), "condor-autoscaler-nobin-"));
  const { dir } = await site(`  binDir: ${empty}\n  tokenFile: TOKEN\n`, {
    batch: SIMULATED_CLOUD,
    pilots:
      "provider:\n  kind: docker\n  image: condor-pilot:25\n  hosts:\n    - url: unix:///nonexistent/docker.sock\nmaxWorkers: 2\nworker:\n  cpus: 1\n  memoryMb: 2000\n",
  });
  const result = await cli(["check", "--config", dir]);
  t.is(result.code, 1, result.stdout + result.stderr);
  const out = result.stdout;
  t.regex(
    out,
    /^FAIL {2}condor_q -global answers: cannot run \S*\/condor_q: not found .*\n {6}fix: condor\.binDir: /m,
  );
  t.regex(out, /^FAIL {2}condor_status -slots answers: cannot run \S*\/condor_status: not found/m);
  t.regex(
    out,
    /^FAIL {2}condor\.tokenFile .*worker\.token is readable: file not found\n {6}fix: condor_token_create/m,
  );
  t.regex(
    out,
    /^FAIL {2}cloud batch: user-data renders: condor\.tokenFile .*worker\.token cannot be read: file not found/m,
  );
  t.regex(
    out,
    /^FAIL {2}cloud pilots: credentials resolve and its instances can be listed: transient: docker local: .*ENOENT.*\n {6}fix: provider\.hosts or DOCKER_HOST/m,
  );
  t.regex(
    out,
    /^skip {2}no instance of pool test is left in a cloud that is not configured: no cloud could be listed$/m,
  );
  t.regex(out, /^3 ok, 6 failed, 2 skipped\n$/m);
});

test("check on an invalid config directory fails on its first line with the problems", async (t) => {
  const { dir } = await site("  timeout: soon\n", { batch: SIMULATED_CLOUD });
  const result = await cli(["check", "--config", dir]);
  t.is(result.code, 1);
  t.regex(result.stdout, /^FAIL {2}config .* is valid: .*autoscaler\.yaml:\d+: condor\.timeout: /);
});
