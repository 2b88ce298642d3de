/** The `provider: {kind: docker}` section of a cloud file, as loadConfig reads and checks it. */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "ava";
import * as defaults from "../../src/config/defaults.js";
import { loadConfig } from "../../src/config/load.js";
import { cloudPolicy } from "../../src/config/policies.js";
import type { CloudConfig } from "../../src/config/schema.js";
import { ConfigError, type ConfigProblem, formatConfigProblem } from "../../src/model/errors.js";
import type { DockerProviderSettings } from "../../src/providers/docker/schema.js";
import { configDir, VALID_CLOUD, VALID_GLOBAL } from "./config-dir.js";

/** A Docker cloud file: the provider section (indented two spaces) plus a worker shape. */
function dockerCloud(provider: string, rest = ""): string {
  return `provider:
  kind: docker
${provider}maxWorkers: 8
worker:
  cpus: 1
  memoryMb: 2000
${rest}`;
}

async function loadCloud(file: string): Promise<CloudConfig> {
  const dir = await configDir({ "autoscaler.yaml": VALID_GLOBAL, "clouds.d/pilots.yaml": file });
  const config = await loadConfig(dir);
  const [cloud] = config.clouds;
  if (cloud === undefined) throw new Error("no cloud loaded");
  return cloud;
}

function dockerSettings(cloud: CloudConfig): DockerProviderSettings {
  if (cloud.provider.kind !== "docker") throw new Error(`a ${cloud.provider.kind} cloud`);
  return cloud.provider;
}

async function problemsOf(file: string): Promise<ConfigProblem[]> {
  const dir = await configDir({ "autoscaler.yaml": VALID_GLOBAL, "clouds.d/pilots.yaml": file });
  const error = await loadConfig(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConfigError))
    throw new Error(`expected a ConfigError, got ${String(error)}`);
  return [...error.problems];
}

test("a docker provider with only an image loads with every default filled in", async (t) => {
  const cloud = await loadCloud(dockerCloud('  image: "pilot:1"\n'));
  t.deepEqual(dockerSettings(cloud), {
    kind: "docker",
    image: "pilot:1",
    environment: {},
    perJob: false,
    cpuLimit: "nanoCpus",
    workDir: defaults.DEFAULT_DOCKER_WORK_DIR,
    cvmfs: false,
    cvmfsPropagation: "rslave",
    mounts: [],
    stopGrace: 10,
    concurrency: defaults.DEFAULT_DOCKER_CONCURRENCY,
    requestTimeout: defaults.DEFAULT_DOCKER_REQUEST_TIMEOUT,
  });
  t.is(defaults.DEFAULT_DOCKER_STOP_GRACE, 10);
  t.is(defaults.DEFAULT_DOCKER_WORK_DIR, "/var/lib/condor-autoscaler/docker");
});

test("a docker provider with every field set loads them, durations in seconds", async (t) => {
  const cloud = await loadCloud(
    dockerCloud(`  image: registry.example.org/pilots/condor:24.0
  hosts:
    - url: unix:///var/run/docker.sock
    - url: tcp://docker1.example.org:2376
      name: docker1
      tls:
        certPath: /etc/condor-autoscaler/docker1
      maxContainers: 12
  command: ["/usr/local/bin/pilot", "--once"]
  environment:
    CONDOR_HOST: cm.example.org
  perJob: true
  cpuLimit: cpuShares
  workDir: /srv/pilots
  machineFeatures: /etc/machinefeatures
  jobFeatures: /var/run/jobfeatures
  cvmfs: true
  network: host
  stopGrace: 2m
  concurrency: 8
  requestTimeout: 45s
`),
  );
  const settings = dockerSettings(cloud);
  t.deepEqual(settings.hosts, [
    { url: "unix:///var/run/docker.sock" },
    {
      url: "tcp://docker1.example.org:2376",
      name: "docker1",
      tls: { certPath: "/etc/condor-autoscaler/docker1" },
      maxContainers: 12,
    },
  ]);
  t.deepEqual(settings.command, ["/usr/local/bin/pilot", "--once"]);
  t.deepEqual(settings.environment, { CONDOR_HOST: "cm.example.org" });
  t.true(settings.perJob);
  t.is(settings.cpuLimit, "cpuShares");
  t.is(settings.workDir, "/srv/pilots");
  t.true(settings.cvmfs);
  t.is(settings.network, "host");
  t.is(settings.stopGrace, 120);
  t.is(settings.concurrency, 8);
  t.is(settings.requestTimeout, 45);
});

interface BrokenCase {
  title: string;
  file: string;
  line?: number;
  field: string;
  message: RegExp;
}

const broken: BrokenCase[] = [
  {
    title: "a docker provider without an image is refused at the provider",
    file: dockerCloud("  perJob: true\n"),
    line: 1,
    field: "provider.image",
    message: /required/,
  },
  {
    title: "an http:// host url is refused with its line",
    file: dockerCloud(`  image: pilot:1
  hosts:
    - url: unix:///var/run/docker.sock
    - url: http://docker1.example.org:2375
`),
    line: 6,
    field: "provider.hosts.1.url",
    message: /tcp:\/\/host:port/,
  },
  {
    title: "a tcp:// host url without a port is refused with its line",
    file: dockerCloud(`  image: pilot:1
  hosts:
    - url: tcp://docker1.example.org
`),
    line: 5,
    field: "provider.hosts.0.url",
    message: /unix:\/\/\/path/,
  },
  {
    title: "a unix:// host url without a path is refused",
    file: dockerCloud(`  image: pilot:1
  hosts:
    - url: unix://
`),
    line: 5,
    field: "provider.hosts.0.url",
    message: /unix:\/\/\//,
  },
  {
    title: "an unknown key of a host is refused by its full path",
    file: dockerCloud(`  image: pilot:1
  hosts:
    - url: tcp://docker1.example.org:2376
      tsl:
        certPath: /certs
`),
    line: 6,
    field: "provider.hosts.0.tsl",
    message: /unknown key/,
  },
  {
    title: "a host name with a space is refused",
    file: dockerCloud(`  image: pilot:1
  hosts:
    - url: tcp://docker1.example.org:2376
      name: docker one
`),
    line: 6,
    field: "provider.hosts.0.name",
    message: /letters, digits/,
  },
  {
    title: "an empty host list is refused",
    file: dockerCloud("  image: pilot:1\n  hosts: []\n"),
    line: 4,
    field: "provider.hosts",
    message: /./,
  },
  {
    title: "an environment variable with an invalid name is refused",
    file: dockerCloud("  image: pilot:1\n  environment:\n    1BAD: x\n"),
    line: 5,
    field: "provider.environment.1BAD",
    message: /./,
  },
  {
    title: "an unknown cpuLimit is refused",
    file: dockerCloud("  image: pilot:1\n  cpuLimit: cpuQuota\n"),
    line: 4,
    field: "provider.cpuLimit",
    message: /nanoCpus|cpuShares/,
  },
  {
    title: "a request timeout under a second is refused",
    file: dockerCloud("  image: pilot:1\n  requestTimeout: 0s\n"),
    line: 4,
    field: "provider.requestTimeout",
    message: /at least 1s/,
  },
  {
    title: "an unknown docker provider key is refused",
    file: dockerCloud("  image: pilot:1\n  pull: always\n"),
    line: 4,
    field: "provider.pull",
    message: /unknown key/,
  },
];

for (const c of broken) {
  test(`docker config: ${c.title}`, async (t) => {
    const problems = await problemsOf(c.file);
    const found = problems.find((p) => p.field === c.field);
    if (found === undefined) {
      t.fail(`no problem for ${c.field} in ${JSON.stringify(problems)}`);
      return;
    }
    t.true(found.file.endsWith("clouds.d/pilots.yaml"), found.file);
    t.regex(found.message, c.message);
    if (c.line !== undefined) {
      t.is(found.line, c.line, JSON.stringify(found));
      // As a person reads it: file:line: field: message.
      t.true(formatConfigProblem(found).includes(`pilots.yaml:${c.line}: ${c.field}: `));
    }
  });
}

test("perJob: true makes the cloud's policy put one job on each worker", async (t) => {
  const cloud = await loadCloud(dockerCloud("  image: pilot:1\n  perJob: true\n"));
  t.is(cloudPolicy(cloud).jobsPerWorker, 1);
});

test("a docker cloud without perJob leaves jobs per worker unlimited", async (t) => {
  const implicit = cloudPolicy(await loadCloud(dockerCloud("  image: pilot:1\n")));
  const explicit = cloudPolicy(await loadCloud(dockerCloud("  image: pilot:1\n  perJob: false\n")));
  t.is(implicit.jobsPerWorker, undefined);
  t.false("jobsPerWorker" in implicit);
  t.is(explicit.jobsPerWorker, undefined);
});

test("a cloud of another kind has no jobs-per-worker limit", async (t) => {
  const policy = cloudPolicy(await loadCloud(VALID_CLOUD));
  t.false("jobsPerWorker" in policy);
});

test("perJob is a docker setting: another provider kind refuses it", async (t) => {
  const problems = await problemsOf(VALID_CLOUD.replace("  bootDelay: 2m", "  perJob: true"));
  t.true(
    problems.some((p) => p.field === "provider.perJob" && /unknown key/.test(p.message)),
    JSON.stringify(problems),
  );
});

test("host paths that would expose the head node to pilots are refused: /, /etc, .. and the config directory", async (t) => {
  for (const [yaml, field, message] of [
    [
      "  machineFeatures: /\n",
      "provider.machineFeatures",
      "the head node's whole file system: refused",
    ],
    [
      "  jobFeatures: /etc\n",
      "provider.jobFeatures",
      "all of /etc: refused (name the directory meant)",
    ],
    [
      "  jobFeatures: /etc/condor/tokens.d\n",
      "provider.jobFeatures",
      "/etc/condor is the head node's own: refused",
    ],
    [
      "  workDir: /var/lib/../../etc\n",
      "provider.workDir",
      "must not contain . or .. (write the path it means)",
    ],
    [
      "  mounts:\n    - source: /root/.ssh\n      target: /x\n",
      "provider.mounts.0.source",
      "/root is the head node's own: refused",
    ],
  ] as const) {
    const error = await t.throwsAsync(loadCloud(dockerCloud(`  image: "pilot:1"\n${yaml}`)), {
      instanceOf: ConfigError,
    });
    t.like(error?.problems[0], { field, message }, yaml);
  }
});

test("a mount of the config directory itself (policy files, the token) is refused", async (t) => {
  const dir = await configDir({
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/site-os.yaml":
      "provider:\n  kind: docker\n  image: pilot:1\n  mounts:\n    - source: PLACEHOLDER\n      target: /cfg\nmaxWorkers: 2\nworker:\n  cpus: 1\n  memoryMb: 1000\n",
  });
  const file = join(dir, "clouds.d/site-os.yaml");
  await writeFile(file, (await readFile(file, "utf8")).replace("PLACEHOLDER", dir));
  const error = await t.throwsAsync(loadConfig(dir), { instanceOf: ConfigError });
  t.like(error?.problems[0], {
    field: "provider.mounts.0.source",
    message: `${dir} is inside the config directory (it holds the policy and the token): refused`,
  });
});
