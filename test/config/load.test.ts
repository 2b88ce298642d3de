import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import test from "ava";
import * as defaults from "../../src/config/defaults.js";
import { parseDuration } from "../../src/config/duration.js";
import { loadConfig } from "../../src/config/load.js";
import { jsonSchema, jsonSchemas } from "../../src/config/schema.js";
import { SCHEMA_KINDS } from "../../src/config/schema-kinds.js";
import { ConfigError, type ConfigProblem } from "../../src/model/errors.js";
import { configDir, VALID_CLOUD, VALID_GLOBAL } from "./config-dir.js";

async function problemsOf(files: Record<string, string>): Promise<ConfigProblem[]> {
  const dir = await configDir(files);
  const error = await loadConfig(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ConfigError))
    throw new Error(`expected a ConfigError, got ${String(error)}`);
  return [...error.problems];
}

test("persistence and idleTimeout default to auto, and auto may be written", async (t) => {
  const dir = await configDir({
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/a.yaml": VALID_CLOUD.replace("idleTimeout: 10m\n", ""),
    "clouds.d/b.yaml": VALID_CLOUD.replace("idleTimeout: 10m", "idleTimeout: auto"),
  });
  const config = await loadConfig(dir);
  t.is(config.global.persistence, "auto");
  t.deepEqual(
    config.clouds.map((c) => c.idleTimeout),
    ["auto", "auto"],
  );
});

test("a valid directory loads with every default filled in and durations in seconds", async (t) => {
  const dir = await configDir({
    "autoscaler.yaml": VALID_GLOBAL,
    "clouds.d/site-os.yaml": VALID_CLOUD,
  });
  const config = await loadConfig(dir);
  t.is(config.global.pool, "test");
  t.is(config.global.tickInterval, 30);
  t.is(config.global.persistence, defaults.DEFAULT_PERSISTENCE);
  t.is(config.global.status.address, "127.0.0.1");
  t.is(config.clouds.length, 1);
  const [cloud] = config.clouds;
  t.is(cloud?.name, "site-os");
  // Written 10m: an explicit number is honoured as before.
  t.is(cloud?.idleTimeout, 600);
  t.is(cloud?.bootTimeout, defaults.DEFAULT_BOOT_TIMEOUT);
  t.is(cloud?.worker.gpus, 0);
  t.is(cloud?.jobs, "true");
  t.deepEqual(cloud?.backoff, {
    initial: defaults.DEFAULT_BACKOFF_INITIAL,
    max: defaults.DEFAULT_BACKOFF_MAX,
    transient: defaults.DEFAULT_BACKOFF_TRANSIENT,
  });
});

test("the shipped example directories are valid", async (t) => {
  const examples = join(import.meta.dirname, "../../examples");
  const expected: Record<string, string[]> = {
    simulated: ["backup", "competitive"],
    htcondor: ["batch"],
    aws: ["aws"],
    openstack: ["openstack"],
    docker: ["docker-single", "docker"],
  };
  for (const [dir, clouds] of Object.entries(expected)) {
    const config = await loadConfig(join(examples, dir));
    t.deepEqual(
      config.clouds.map((cloud) => cloud.name),
      clouds,
      dir,
    );
  }
});

const durations: Array<[string, number | undefined]> = [
  ["90s", 90],
  ["10m", 600],
  ["2h", 7200],
  ["1h30m", 5400],
  ["1d", 86400],
  ["1.5m", 90],
  ["ten minutes", undefined],
  ["10", undefined],
  ["-5s", undefined],
  ["", undefined],
];
for (const [text, seconds] of durations) {
  test(`duration "${text}" is ${seconds === undefined ? "rejected" : `${seconds} s`}`, (t) => {
    t.is(parseDuration(text), seconds);
  });
}

interface BrokenCase {
  title: string;
  files: Record<string, string>;
  /** Each expected problem: file name ending, line, field and a piece of the message. */
  expect: Array<{ file: string; line?: number; field: string; message: RegExp }>;
}

const cloudWith = (replace: string, by: string) => VALID_CLOUD.replace(replace, by);

const broken: BrokenCase[] = [
  {
    title: "an unknown key is refused with its line",
    files: { "autoscaler.yaml": VALID_GLOBAL, "clouds.d/a.yaml": `${VALID_CLOUD}maxWorker: 3\n` },
    expect: [{ file: "clouds.d/a.yaml", line: 10, field: "maxWorker", message: /unknown key/ }],
  },
  {
    title: "a nested unknown key is named by its full path",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": cloudWith("  memoryMb: 8000", "  memoryMb: 8000\n  disk: 5"),
    },
    expect: [{ file: "clouds.d/a.yaml", line: 9, field: "worker.disk", message: /unknown key/ }],
  },
  {
    title: "a wrong type names the field and its line",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": cloudWith("cpus: 4", "cpus: four"),
    },
    expect: [{ file: "clouds.d/a.yaml", line: 7, field: "worker.cpus", message: /number/ }],
  },
  {
    title: "a bad duration names the field and its line",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": cloudWith("idleTimeout: 10m", "idleTimeout: 10 minutes"),
    },
    expect: [{ file: "clouds.d/a.yaml", line: 9, field: "idleTimeout", message: /duration/ }],
  },
  {
    title: "idleTimeout is auto or a duration, and an error says so with its line",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": cloudWith("idleTimeout: 10m", "idleTimeout: automatic"),
    },
    expect: [
      { file: "clouds.d/a.yaml", line: 9, field: "idleTimeout", message: /auto, or a duration/ },
    ],
  },
  {
    title: "a missing required field is reported at its parent",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": cloudWith("  memoryMb: 8000\n", ""),
    },
    expect: [{ file: "clouds.d/a.yaml", line: 6, field: "worker.memoryMb", message: /required/ }],
  },
  {
    title: "minWorkers above maxWorkers is refused",
    files: { "autoscaler.yaml": VALID_GLOBAL, "clouds.d/a.yaml": `${VALID_CLOUD}minWorkers: 9\n` },
    expect: [{ file: "clouds.d/a.yaml", line: 10, field: "minWorkers", message: /maxWorkers/ }],
  },
  {
    title: "an unknown provider kind is refused",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": cloudWith("kind: simulated", "kind: vsphere"),
    },
    expect: [{ file: "clouds.d/a.yaml", line: 2, field: "provider.kind", message: /./ }],
  },
  {
    title: "broken YAML is refused with its line",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": cloudWith("priority: 1", "priority: [1"),
    },
    expect: [{ file: "clouds.d/a.yaml", field: "", message: /YAML/ }],
  },
  {
    title: "a duplicate key is refused",
    files: { "autoscaler.yaml": VALID_GLOBAL, "clouds.d/a.yaml": `${VALID_CLOUD}priority: 2\n` },
    expect: [{ file: "clouds.d/a.yaml", field: "", message: /YAML.*unique|YAML/ }],
  },
  {
    title: "a cloud file named against the rules is refused",
    files: { "autoscaler.yaml": VALID_GLOBAL, "clouds.d/My_Cloud.yaml": VALID_CLOUD },
    expect: [{ file: "clouds.d/My_Cloud.yaml", field: "", message: /file name/ }],
  },
  {
    title: "a missing user-data template is refused",
    files: {
      "autoscaler.yaml": VALID_GLOBAL,
      "clouds.d/a.yaml": `${VALID_CLOUD}userData: missing.tmpl\n`,
    },
    expect: [{ file: "clouds.d/a.yaml", line: 10, field: "userData", message: /not found/ }],
  },
  {
    title: "a missing global file and an empty clouds.d are both reported",
    files: { "clouds.d/README": "no clouds here" },
    expect: [
      { file: "autoscaler.yaml", field: "", message: /not found/ },
      { file: "clouds.d", field: "", message: /no cloud policy files/ },
    ],
  },
  {
    title: "problems in several files are all reported at once",
    files: {
      "autoscaler.yaml": VALID_GLOBAL.replace("pool: test", "pool: Test Pool"),
      "clouds.d/a.yaml": cloudWith("maxWorkers: 4", "maxWorkers: -1"),
    },
    expect: [
      { file: "autoscaler.yaml", line: 1, field: "pool", message: /lower-case/ },
      { file: "clouds.d/a.yaml", line: 5, field: "maxWorkers", message: />=0|too small|0/ },
    ],
  },
];

for (const { title, files, expect } of broken) {
  test(`config: ${title}`, async (t) => {
    const problems = await problemsOf(files);
    for (const expected of expect) {
      const found = problems.find(
        (p) => p.file.endsWith(expected.file) && p.field === expected.field,
      );
      if (found === undefined) {
        t.fail(`no problem for ${expected.file} ${expected.field} in ${JSON.stringify(problems)}`);
        continue;
      }
      if (expected.line !== undefined) t.is(found.line, expected.line, JSON.stringify(found));
      else t.true(found.line === undefined || found.line > 0);
      t.regex(found.message, expected.message);
    }
  });
}

test("schema/ holds the root JSON Schema of each file kind, with its $id, as the schema command prints it", async (t) => {
  for (const kind of SCHEMA_KINDS) {
    const file = join(import.meta.dirname, `../../schema/${kind}.schema.json`);
    const committed: unknown = JSON.parse(await readFile(file, "utf8"));
    t.deepEqual(
      committed,
      jsonSchema(kind),
      `${file} is stale: npx tsx src/cli.ts schema ${kind} > ${file}`,
    );
    t.like(committed, {
      $id: `urn:condor-autoscaler:schema:${kind}`,
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      additionalProperties: false,
    });
  }
});

test("the JSON Schema describes both file kinds and forbids unknown keys", (t) => {
  const schema = jsonSchemas() as {
    $defs: Record<string, { additionalProperties?: boolean; required?: string[] }>;
  };
  t.false(schema.$defs.global?.additionalProperties);
  t.false(schema.$defs.cloud?.additionalProperties);
  t.deepEqual(schema.$defs.cloud?.required?.sort(), ["maxWorkers", "provider", "worker"]);
  t.deepEqual(schema.$defs.global?.required?.sort(), ["condor", "pool"]);
});

test("a duration of more than 20 days is refused with its file, line and field: timers cannot wait that long", async (t) => {
  const dir = await configDir({
    "autoscaler.yaml": `${VALID_GLOBAL}tickDeadline: 25d\n`,
    "clouds.d/site-os.yaml": VALID_CLOUD,
  });
  const error = await t.throwsAsync(loadConfig(dir), { instanceOf: ConfigError });
  t.is(error?.problems.length, 1);
  t.like(error?.problems[0], {
    file: join(dir, "autoscaler.yaml"),
    field: "tickDeadline",
    message: "at most 20d (longer cannot be timed)",
  });
  t.true(typeof error?.problems[0]?.line === "number");
});

test("hostile policy files: an alias bomb, a named pipe, a huge file and duplicate keys are problems with their file, never a crash or a hang", async (t) => {
  const bomb = [
    "pool: x",
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ...Array.from(
      { length: 8 },
      (_, i) =>
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(",")}]`,
    ),
    "",
  ].join("\n");
  const dir = await configDir({
    "autoscaler.yaml": bomb,
    "clouds.d/site-os.yaml": `${VALID_CLOUD}maxWorkers: 3\n`,
    "clouds.d/big.yaml": `# ${"x".repeat(2 * 1024 * 1024)}\n`,
  });
  await promisify(execFile)("mkfifo", [join(dir, "clouds.d", "pipe.yaml")]);
  const error = await t.throwsAsync(loadConfig(dir), { instanceOf: ConfigError });
  const byFile = (name: string) =>
    (error?.problems ?? []).filter((p) => p.file.endsWith(name)).map((p) => [p.line, p.message]);
  t.deepEqual(byFile("autoscaler.yaml"), [
    [undefined, "YAML: Excessive alias count indicates a resource exhaustion attack"],
  ]);
  t.deepEqual(byFile("pipe.yaml"), [[undefined, "not a regular file (a pipe, a device?)"]]);
  t.deepEqual(byFile("big.yaml"), [[undefined, "larger than 1048576 bytes"]]);
  t.deepEqual(byFile("site-os.yaml")[0], [
    VALID_CLOUD.split("\n").length,
    "YAML: Map keys must be unique",
  ]);
});

test("a mapping of 40,000 keys is checked in one pass (each unknown key named)", async (t) => {
  const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: ${i}`).join("\n");
  const dir = await configDir({
    "autoscaler.yaml": `${VALID_GLOBAL}${keys}\n`,
    "clouds.d/site-os.yaml": VALID_CLOUD,
  });
  const error = await t.throwsAsync(loadConfig(dir), { instanceOf: ConfigError });
  t.is(error?.problems.filter((p) => p.message === "unknown key").length, 40_000);
});

test("a status address reachable from other hosts is refused without status.tokenFile, and taken with one", async (t) => {
  for (const address of ["0.0.0.0", "::", "192.0.2.10", "head.example.org"]) {
    const problems = await problemsOf({
      "autoscaler.yaml": `${VALID_GLOBAL}status:\n  address: "${address}"\n`,
      "clouds.d/site-os.yaml": VALID_CLOUD,
    });
    t.is(problems.length, 1, address);
    t.is(problems[0]?.field, "status.address");
    t.is(problems[0]?.line, 6);
    t.regex(problems[0]?.message ?? "", /reachable from other hosts.*status\.tokenFile/);
  }
  for (const address of ["127.0.0.1", "127.0.1.1", "::1", "localhost"]) {
    const dir = await configDir({
      "autoscaler.yaml": `${VALID_GLOBAL}status:\n  address: "${address}"\n`,
      "clouds.d/site-os.yaml": VALID_CLOUD,
    });
    t.is((await loadConfig(dir)).global.status.address, address);
  }
  const dir = await configDir({
    "autoscaler.yaml": `${VALID_GLOBAL}status:\n  address: 0.0.0.0\n  tokenFile: /etc/condor-autoscaler/status.token\n`,
    "clouds.d/site-os.yaml": VALID_CLOUD,
  });
  t.is((await loadConfig(dir)).global.status.tokenFile, "/etc/condor-autoscaler/status.token");
});
