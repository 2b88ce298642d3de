import { execFile } from "node:child_process";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import test from "ava";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../src/config/load.js";
import {
  checkUserDataTemplate,
  renderUserData,
  USER_DATA_VARIABLES,
  UserDataError,
  type UserDataValues,
} from "../../src/config/user-data.js";
import { ConfigError } from "../../src/model/errors.js";
import { configDir, VALID_CLOUD, VALID_GLOBAL } from "./config-dir.js";

const run = promisify(execFile);
const examples = join(import.meta.dirname, "../../examples");
const CERNVM = join(examples, "cernvm/user-data.yaml.mustache");
const PILOT_TEMPLATE = join(examples, "pilot/user-data.env.mustache");
const ENTRYPOINT = join(examples, "pilot/entrypoint.sh");

const VALUES: UserDataValues = {
  headNode: "head.example.org:9618",
  pool: "atlas",
  cloud: "site-os",
  token: 'eyJ.a"b&c<d>',
  workerName: "atlas-site-os-1a2b3c",
  jobs: 'RequestCpus <= 4 && Owner =!= "nobody"',
};

test("both example templates pass the check", async (t) => {
  for (const file of [CERNVM, PILOT_TEMPLATE]) {
    t.deepEqual(checkUserDataTemplate(await readFile(file, "utf8"), file), [], file);
  }
});

test("an unknown variable is reported with the template file, its line and the field", (t) => {
  const text =
    "#cloud-config\nhost: {{headNode}}\n\nname: {{ nope }}\n{{#pool}}\n  {{zone}}\n{{/pool}}\n";
  const problems = checkUserDataTemplate(text, "/etc/x/t.mustache");
  t.is(problems.length, 2);
  t.like(problems[0], { file: "/etc/x/t.mustache", line: 4, field: "userData" });
  t.like(problems[1], { file: "/etc/x/t.mustache", line: 6, field: "userData" });
  t.regex(problems[0]?.message ?? "", /^unknown template variable "nope" \(known: /);
  for (const name of Object.keys(USER_DATA_VARIABLES)) {
    t.true(problems[0]?.message.includes(name), name);
  }
});

test("unknown section names, triple mustaches and partials are problems too", (t) => {
  const text = "{{#secret}}x{{/secret}}\n{{^other}}y{{/other}}\n{{{raw}}}\n{{> part}}\n";
  const problems = checkUserDataTemplate(text, "t");
  t.deepEqual(
    problems.map((p) => p.line),
    [1, 2, 3, 4],
  );
  t.regex(problems[0]?.message ?? "", /"secret"/);
  t.regex(problems[3]?.message ?? "", /partials are not supported/);
});

test("an unclosed tag is reported at the line where it opens", (t) => {
  const text = "a: {{pool}}\nb: {{cloud\nc: 1\n";
  const problems = checkUserDataTemplate(text, "t.mustache");
  t.is(problems.length, 1);
  t.like(problems[0], { file: "t.mustache", line: 2, field: "userData" });
  t.regex(problems[0]?.message ?? "", /Unclosed tag/);
});

test("an unclosed section is reported at the line where it opens", (t) => {
  const problems = checkUserDataTemplate("a\n{{#token}}\nb\nc\n", "t");
  t.is(problems.length, 1);
  t.like(problems[0], { line: 2, field: "userData" });
  t.regex(problems[0]?.message ?? "", /Unclosed section "token"/);
});

test("render fills every variable and escapes nothing", (t) => {
  const text = "{{headNode}} {{pool}} {{cloud}} {{workerName}} {{token}} {{{token}}} {{&pool}}";
  t.is(
    renderUserData(text, VALUES),
    'head.example.org:9618 atlas site-os atlas-site-os-1a2b3c eyJ.a"b&c<d> eyJ.a"b&c<d> atlas',
  );
});

test("render treats an empty value as a value, and sections work on it", (t) => {
  const text = "{{#token}}token={{token}}{{/token}}{{^token}}no token{{/token}}";
  t.is(renderUserData(text, { ...VALUES, token: "" }), "no token");
  t.is(renderUserData(text, VALUES), 'token=eyJ.a"b&c<d>');
});

test("render throws a UserDataError on a missing value instead of leaving a blank", (t) => {
  const { token: _token, ...withoutToken } = VALUES;
  const error = t.throws(
    () => renderUserData("auth: {{token}}\n", withoutToken as UserDataValues),
    { instanceOf: UserDataError },
  );
  t.deepEqual(error?.variables, ["token"]);
  t.regex(error?.message ?? "", /token/);
  // A value the template does not use may be missing.
  t.is(renderUserData("{{pool}}", withoutToken as UserDataValues), "atlas");
});

test("render refuses unknown variables and syntax errors", (t) => {
  const unknown = t.throws(() => renderUserData("{{constructor}}{{pool.length}}", VALUES), {
    instanceOf: UserDataError,
  });
  t.deepEqual(unknown?.variables, ["constructor", "pool.length"]);
  t.throws(() => renderUserData("{{pool", VALUES), {
    instanceOf: UserDataError,
    message: /line 1.*Unclosed tag/,
  });
});

test("render does not change Mustache's global escaping", async (t) => {
  renderUserData("{{token}}", VALUES);
  const { default: Mustache } = await import("mustache");
  t.is(Mustache.render("{{x}}", { x: "&" }), "&amp;");
});

test("the CernVM template renders to cloud-config YAML with the config, token and id script", async (t) => {
  const rendered = renderUserData(await readFile(CERNVM, "utf8"), VALUES);
  t.true(rendered.startsWith("#cloud-config\n"));
  const doc = parseYaml(rendered) as {
    write_files: Array<{ path: string; permissions: string; content: string }>;
    runcmd: unknown[];
  };
  const byPath = new Map(doc.write_files.map((file) => [file.path, file]));
  const conf = byPath.get("/etc/condor/config.d/50-autoscaler.conf")?.content ?? "";
  t.regex(conf, /^CONDOR_HOST = head\.example\.org:9618$/m);
  t.regex(conf, /^DAEMON_LIST = MASTER, STARTD$/m);
  t.regex(conf, /^SLOT_TYPE_1_PARTITIONABLE = TRUE$/m);
  t.regex(conf, /^SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS, FS$/m);
  t.regex(conf, /^AutoscalerPool = "atlas"$/m);
  t.regex(conf, /^AutoscalerCloud = "site-os"$/m);
  t.regex(conf, /^STARTD_ATTRS = .*AutoscalerInstanceId/m);
  const token = byPath.get("/etc/condor/tokens.d/autoscaler");
  t.is(token?.permissions, "0600");
  t.is(token?.content, 'eyJ.a"b&c<d>\n');
  t.true(byPath.has("/usr/local/sbin/autoscaler-instance-id"));
  t.true(doc.runcmd.length > 0);
});

test("the pilot template renders to the KEY=value lines the entrypoint reads", async (t) => {
  const rendered = renderUserData(await readFile(PILOT_TEMPLATE, "utf8"), VALUES);
  const lines = rendered.split("\n");
  for (const line of [
    "HEAD_NODE=head.example.org:9618",
    "POOL=atlas",
    "CLOUD=site-os",
    "WORKER_NAME=atlas-site-os-1a2b3c",
    'TOKEN=eyJ.a"b&c<d>',
    'JOBS=RequestCpus <= 4 && Owner =!= "nobody"',
  ]) {
    t.true(lines.includes(line), line);
  }
});

test("a cloud whose template uses an unknown variable makes loadConfig fail", async (t) => {
  const dir = await configDir({
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/site-os.yaml": `${VALID_CLOUD}userData: t.mustache\n`,
    "clouds.d/t.mustache": "#cloud-config\nhost: {{headNode}}\nbad: {{nope}}\n",
  });
  const error = await t.throwsAsync(loadConfig(dir), { instanceOf: ConfigError });
  t.deepEqual(error?.problems, [
    {
      file: join(dir, "clouds.d/t.mustache"),
      line: 3,
      field: "userData",
      message: `unknown template variable "nope" (known: ${Object.keys(USER_DATA_VARIABLES).join(", ")})`,
    },
  ]);
});

test("a cloud with a valid template loads and keeps the template's path", async (t) => {
  const dir = await configDir({
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/site-os.yaml": `${VALID_CLOUD}userData: t.mustache\n`,
    "clouds.d/t.mustache": "#cloud-config\nhost: {{headNode}}\n",
  });
  const config = await loadConfig(dir);
  t.is(config.clouds[0]?.userDataPath, join(dir, "clouds.d/t.mustache"));
});

test("the pilot entrypoint is valid POSIX sh and executable", async (t) => {
  await t.notThrowsAsync(run("sh", ["-n", ENTRYPOINT]));
  t.not((await stat(ENTRYPOINT)).mode & 0o111, 0);
});

test("the pilot entrypoint writes the condor config and a shutdown_message", async (t) => {
  const dir = await configDir({
    "bin/condor_master": "#!/bin/sh\nexit $((FAKE_MASTER_EXIT + 0))\n",
    "bin/condor_config_val": '#!/bin/sh\necho "$FAKE_HISTORY"\n',
    user_data: `${renderUserData(await readFile(PILOT_TEMPLATE, "utf8"), VALUES)}NUM_CPUS=4\r\n`,
    hosts: "127.0.0.1\tlocalhost\n",
  });
  await chmod(join(dir, "bin/condor_master"), 0o755);
  await chmod(join(dir, "bin/condor_config_val"), 0o755);
  const env = {
    PATH: `${join(dir, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    USER_DATA: join(dir, "user_data"),
    JOBOUTPUTS: join(dir, "joboutputs"),
    CONDOR_CONFIG_DIR: join(dir, "config.d"),
    CONDOR_TOKENS_DIR: join(dir, "tokens.d"),
    HOSTS_FILE: join(dir, "hosts"),
    FAKE_HISTORY: join(dir, "startd_history"),
  };
  await run("sh", [ENTRYPOINT], { env });
  const conf = await readFile(join(dir, "config.d/50-autoscaler.conf"), "utf8");
  t.regex(conf, /^CONDOR_HOST = head\.example\.org:9618$/m);
  t.regex(conf, /^AutoscalerInstanceId = "atlas-site-os-1a2b3c"$/m);
  t.regex(conf, /^STARTD_NOCLAIM_SHUTDOWN = 3600$/m);
  t.regex(conf, /^NUM_CPUS = 4$/m);
  // Host networking: no shared port clash, no family session with the head node's collector.
  t.regex(conf, /^USE_SHARED_PORT = False$/m);
  t.regex(conf, /^SEC_USE_FAMILY_SESSION = False$/m);
  // Only the jobs of this cloud's constraint.
  t.regex(conf, /^START = \$\(START\) && \(RequestCpus <= 4 && Owner =!= "nobody"\)$/m);
  const hosts = (await readFile(env.HOSTS_FILE, "utf8")).split("\n");
  t.is(hosts.filter((line) => /^127\.0\.1\.1\t\S+$/.test(line)).length, 1, "own name added once");
  t.is(await readFile(join(dir, "tokens.d/autoscaler"), "utf8"), 'eyJ.a"b&c<d>\n');
  t.is((await stat(join(dir, "tokens.d/autoscaler"))).mode & 0o777, 0o600);
  t.is(await readFile(join(dir, "joboutputs/shutdown_message"), "utf8"), "300 No more work\n");

  // A job ran (the startd history is not empty), and a DAEMON_SHUTDOWN ended the master with
  // HTCondor's "do not restart" status 99: success, not a failure.
  await writeFile(env.FAKE_HISTORY, "job\n");
  await run("sh", [ENTRYPOINT], { env: { ...env, FAKE_MASTER_EXIT: "99" } });
  t.is(await readFile(join(dir, "joboutputs/shutdown_message"), "utf8"), "200 Success\n");
  t.is(
    (await readFile(env.HOSTS_FILE, "utf8")).split("\n").filter((l) => l.startsWith("127.0.1.1"))
      .length,
    1,
    "a second start adds no second hosts line",
  );

  // Any other non-zero status is a failed HTCondor: 700, which backs the cloud off.
  const failed = await t.throwsAsync(
    run("sh", [ENTRYPOINT], { env: { ...env, FAKE_MASTER_EXIT: "4" } }),
  );
  t.is((failed as { code?: unknown } | undefined)?.code, 4);
  t.is(
    await readFile(join(dir, "joboutputs/shutdown_message"), "utf8"),
    "700 condor_master exited with status 4\n",
  );

  // A user-data without HEAD_NODE: a site problem, nothing started.
  await writeFile(env.USER_DATA, "POOL=atlas\n");
  const error = await t.throwsAsync(run("sh", [ENTRYPOINT], { env }));
  t.is((error as { code?: unknown } | undefined)?.code, 1);
  t.regex(await readFile(join(dir, "joboutputs/shutdown_message"), "utf8"), /^500 HEAD_NODE/);
});

test("a perJob pilot (CONDOR_AUTOSCALER_PER_JOB=1) is configured to take one job and then shut down", async (t) => {
  const dir = await configDir({
    "bin/condor_master": "#!/bin/sh\nexit 0\n",
    "bin/condor_config_val": '#!/bin/sh\necho "$FAKE_HISTORY"\n',
    user_data: renderUserData(await readFile(PILOT_TEMPLATE, "utf8"), VALUES),
  });
  await chmod(join(dir, "bin/condor_master"), 0o755);
  await chmod(join(dir, "bin/condor_config_val"), 0o755);
  const env = {
    PATH: `${join(dir, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    USER_DATA: join(dir, "user_data"),
    JOBOUTPUTS: join(dir, "joboutputs"),
    CONDOR_CONFIG_DIR: join(dir, "config.d"),
    CONDOR_TOKENS_DIR: join(dir, "tokens.d"),
    HOSTS_FILE: join(dir, "hosts"),
    FAKE_HISTORY: join(dir, "startd_history"),
  };
  const conf = join(dir, "config.d/50-autoscaler.conf");
  await run("sh", [ENTRYPOINT], { env });
  t.notRegex(
    await readFile(conf, "utf8"),
    /JobStarts/,
    "a worker of a shared cloud takes many jobs",
  );

  await run("sh", [ENTRYPOINT], { env: { ...env, CONDOR_AUTOSCALER_PER_JOB: "1" } });
  const perJob = await readFile(conf, "utf8");
  t.regex(perJob, /^SLOT_TYPE_1_PARTITIONABLE = FALSE$/m);
  t.regex(perJob, /^START = \$\(START\) && \(JobStarts =\?= 0\)$/m);
  t.regex(perJob, /^CLAIM_WORKLIFE = 0$/m);
  t.regex(
    perJob,
    /^STARTD\.DAEMON_SHUTDOWN = \(State == "Unclaimed"\) && .*JobStarts > 0.*EnteredCurrentActivity/m,
  );
  // Not before the master has had time to start the startd (STARTD_StartTime is 0 until then).
  t.regex(
    perJob,
    /^MASTER\.DAEMON_SHUTDOWN_FAST = \(STARTD_StartTime =\?= 0\) && \(\(time\(\) - DaemonStartTime\) > \$\(AUTOSCALER_PER_JOB_START_GRACE\)\)$/m,
  );
  t.regex(perJob, /^AUTOSCALER_PER_JOB_START_GRACE = 60$/m);
  t.regex(perJob, /^MASTER_UPDATE_INTERVAL = 10$/m);
  // The idle limit is the user-data's IDLE_SHUTDOWN (3600 in the example template).
  t.regex(perJob, /^AUTOSCALER_PER_JOB_IDLE_LIMIT = 3600$/m);
  // The partitionable setting above it is overridden by the later line.
  t.true(
    perJob.indexOf("SLOT_TYPE_1_PARTITIONABLE = TRUE") <
      perJob.indexOf("SLOT_TYPE_1_PARTITIONABLE = FALSE"),
  );
});

test("each of 150 k unknown variables is reported with its line, in linear time", (t) => {
  const text = `{{#pool}}\n${"{{x}}\n".repeat(150_000)}{{/pool}}\n`;
  const before = process.cpuUsage();
  const problems = checkUserDataTemplate(text, "big.mustache");
  const cpu = process.cpuUsage(before);
  t.is(problems.length, 150_000);
  t.is(problems[0]?.line, 2);
  t.is(problems.at(-1)?.line, 150_001);
  // Counting lines from the start for each tag took minutes here.
  t.true(
    (cpu.user + cpu.system) / 1000 < 5000,
    `${Math.round((cpu.user + cpu.system) / 1000)} ms of CPU`,
  );
});
