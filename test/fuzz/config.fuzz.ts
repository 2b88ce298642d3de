/**
 * The config loader over whole directories: autoscaler.yaml and clouds.d/*.yaml (and the
 * user-data templates the examples use) holding random bytes, YAML dumps of random values, and
 * mutations of valid files (test/config's VALID_GLOBAL and VALID_CLOUD, and examples/). Only a
 * ConfigError may come out, and it must name at least one problem.
 */

import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { CLOUDS_DIR, GLOBAL_FILE, loadConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/model/errors.js";
import { VALID_CLOUD, VALID_GLOBAL } from "../config/config-dir.js";
import {
  applyEdit,
  applyJsonEdits,
  expect,
  type FuzzTarget,
  Input,
  jsonEdit,
  jsonText,
  outcomeOf,
  preview,
  property,
  RUN_FRAGMENTS,
  randomText,
  sabotageError,
  textEdit,
} from "./support.js";

const EXAMPLES = join(import.meta.dirname, "../../examples");
/** The config directory inside each case's root; the templates sit beside it, as in examples/. */
const CONFIG = "cfg";
/** Where the examples' `userData: ../../<dir>/<file>` points from CONFIG/clouds.d. */
const TEMPLATES = ["cernvm/user-data.yaml.mustache", "pilot/user-data.env.mustache"];

/** One file of a case: its path below the case's root and its bytes. */
interface CaseFile {
  path: string;
  content: string | Uint8Array;
}

type ConfigCase = CaseFile[];

function render(files: ConfigCase): string {
  return files
    .map((file) =>
      typeof file.content === "string"
        ? `==> ${file.path} (${file.content.length} chars)\n${file.content}`
        : `==> ${file.path} (${file.content.length} bytes, base64)\n${Buffer.from(file.content).toString("base64")}`,
    )
    .join("\n");
}

function configCase(kind: string, files: ConfigCase): Input<ConfigCase> {
  return new Input(kind, files, render);
}

// ---- valid files to start from ----

interface Example {
  name: string;
  global: string;
  clouds: Array<{ name: string; text: string }>;
}

const EXAMPLE_DIRS: Example[] = readdirSync(EXAMPLES)
  .filter((name) => {
    try {
      readFileSync(join(EXAMPLES, name, GLOBAL_FILE));
      return true;
    } catch {
      return false;
    }
  })
  .sort()
  .map((name) => ({
    name,
    global: readFileSync(join(EXAMPLES, name, GLOBAL_FILE), "utf8"),
    clouds: readdirSync(join(EXAMPLES, name, CLOUDS_DIR))
      .sort()
      .map((file) => ({
        name: file,
        text: readFileSync(join(EXAMPLES, name, CLOUDS_DIR, file), "utf8"),
      })),
  }));

const TEMPLATE_TEXTS = TEMPLATES.map((path) => ({
  path,
  text: readFileSync(join(EXAMPLES, path), "utf8"),
}));

const GLOBALS = [
  { name: "VALID_GLOBAL", text: VALID_GLOBAL },
  ...EXAMPLE_DIRS.map((e) => ({ name: `examples/${e.name}/${GLOBAL_FILE}`, text: e.global })),
];
const CLOUDS = [
  { name: "VALID_CLOUD", text: VALID_CLOUD },
  ...EXAMPLE_DIRS.flatMap((e) =>
    e.clouds.map((c) => ({ name: `examples/${e.name}/${CLOUDS_DIR}/${c.name}`, text: c.text })),
  ),
];
const ALL_YAML = [...GLOBALS, ...CLOUDS].map((sample) => sample.text);

/** Every template as the examples have it. */
function templateFiles(): CaseFile[] {
  return TEMPLATE_TEXTS.map(({ path, text }) => ({ path, content: text }));
}

// ---- file contents ----

/** Pieces of YAML syntax, strung together at random. */
const YAML_TOKENS = [
  "- ",
  ": ",
  "? ",
  "&a ",
  "*a",
  "!!str ",
  "!!binary ",
  "!tag ",
  "<<: *a\n",
  "{",
  "}",
  "[",
  "]",
  ", ",
  "|\n",
  ">-\n",
  "#",
  "\n",
  "  ",
  "\t",
  "---\n",
  "...\n",
  "%YAML 1.2\n",
  '"',
  "'",
  "\\",
  "pool",
  "provider",
  "kind",
  "docker",
  "simulated",
  "condor",
  "worker",
  "30s",
  "1e309",
  "-1",
  "~",
  "null",
  "yes",
  ".nan",
  ".inf",
];

/** Why the value could not be dumped is no concern of the loader: JSON is YAML too. */
function dump(value: unknown): string {
  try {
    return stringifyYaml(value) ?? "";
  } catch {
    return jsonText(value) ?? "";
  }
}

function structural(samples: ReadonlyArray<{ name: string; text: string }>) {
  return fc
    .tuple(fc.constantFrom(...samples), fc.array(jsonEdit, { minLength: 1, maxLength: 3 }))
    .map(([sample, edits]) => ({
      kind: `${sample.name} with ${edits.map((e) => e.op).join(", ")}`,
      content: dump(applyJsonEdits(parseYaml(sample.text) as unknown, edits)) as
        | string
        | Uint8Array,
    }));
}

function textual(samples: ReadonlyArray<{ name: string; text: string }>) {
  return fc
    .tuple(fc.constantFrom(...samples), fc.array(textEdit, { minLength: 1, maxLength: 4 }))
    .map(([sample, edits]) => ({
      kind: `${sample.name} with ${edits.map((e) => e.op).join(", ")}`,
      content: edits.reduce((text, edit) => applyEdit(text, edit, ALL_YAML), sample.text) as
        | string
        | Uint8Array,
    }));
}

/** A file's content and how it was made. */
function content(samples: ReadonlyArray<{ name: string; text: string }>) {
  type Made = { kind: string; content: string | Uint8Array };
  return fc.oneof(
    {
      weight: 2,
      arbitrary: fc.constantFrom(...samples).map((s): Made => ({ kind: s.name, content: s.text })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 600 })
        .map((b): Made => ({ kind: "random bytes", content: b })),
    },
    { weight: 1, arbitrary: randomText.map((t): Made => ({ kind: t.kind, content: t.value })) },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.constantFrom(...YAML_TOKENS, ...RUN_FRAGMENTS), { maxLength: 120 })
        .map((parts): Made => ({ kind: "YAML tokens", content: parts.join("") })),
    },
    {
      weight: 1,
      arbitrary: fc
        .jsonValue({ maxDepth: 4 })
        .map((v): Made => ({ kind: "YAML of a JSON value", content: dump(v) })),
    },
    {
      weight: 1,
      arbitrary: fc
        .anything({
          maxDepth: 3,
          withMap: true,
          withSet: true,
          withDate: true,
          withBigInt: true,
          withNullPrototype: true,
          withBoxedValues: true,
        })
        .map((v): Made => ({ kind: "YAML of any value", content: dump(v) })),
    },
    { weight: 3, arbitrary: structural(samples) },
    { weight: 3, arbitrary: textual(samples) },
  );
}

const cloudFileName = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("alpha.yaml", "beta.yaml", "gamma.yml") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "Bad_Name.yaml",
      "-x.yaml",
      `${"a".repeat(40)}.yaml`,
      ".yaml",
      "x.yaml.bak",
      "notes.txt",
    ),
  },
);

/** A directory made of parts: each file valid, or made up, or a valid one mutated. */
const madeUpCase = fc
  .tuple(
    fc.option(content(GLOBALS), { freq: 8, nil: undefined }),
    fc.array(fc.tuple(cloudFileName, content(CLOUDS)), { maxLength: 3 }),
  )
  .map(([global, clouds]) => {
    const files: CaseFile[] = templateFiles();
    const kinds: string[] = [];
    if (global !== undefined) {
      files.push({ path: `${CONFIG}/${GLOBAL_FILE}`, content: global.content });
      kinds.push(`${GLOBAL_FILE}: ${global.kind}`);
    } else kinds.push(`no ${GLOBAL_FILE}`);
    for (const [name, cloud] of clouds) {
      files.push({ path: `${CONFIG}/${CLOUDS_DIR}/${name}`, content: cloud.content });
      kinds.push(`${name}: ${cloud.kind}`);
    }
    return configCase(kinds.join("; "), files);
  });

/** A whole example directory with one of its files (templates included) mutated. */
const mutatedExample = fc
  .tuple(
    fc.constantFrom(...EXAMPLE_DIRS),
    fc.nat(),
    fc.boolean(),
    fc.array(textEdit, { minLength: 1, maxLength: 3 }),
    fc.array(jsonEdit, { minLength: 1, maxLength: 2 }),
  )
  .map(([example, which, textually, edits, jsonEdits]) => {
    const files: CaseFile[] = [
      ...templateFiles(),
      { path: `${CONFIG}/${GLOBAL_FILE}`, content: example.global },
      ...example.clouds.map((c) => ({
        path: `${CONFIG}/${CLOUDS_DIR}/${c.name}`,
        content: c.text,
      })),
    ];
    const victim = files[which % files.length];
    if (victim === undefined || typeof victim.content !== "string")
      return configCase(example.name, files);
    const isTemplate = TEMPLATES.includes(victim.path);
    victim.content =
      textually || isTemplate
        ? edits.reduce((text, edit) => applyEdit(text, edit, ALL_YAML), victim.content)
        : dump(applyJsonEdits(parseYaml(victim.content) as unknown, jsonEdits));
    const how = textually || isTemplate ? edits.map((e) => e.op) : jsonEdits.map((e) => e.op);
    return configCase(`examples/${example.name} with ${victim.path}: ${how.join(", ")}`, files);
  });

// ---- large inputs ----

const MAX_FILE = 1024 * 1024;

/** `head` followed by numbered lines from `line(i)` up to just under the loader's file limit. */
function upTo(limit: number, head: string, line: (i: number) => string): string {
  const parts = [head];
  let size = head.length;
  for (let i = 0; ; i += 1) {
    const next = line(i);
    if (size + next.length > limit) break;
    parts.push(next);
    size += next.length;
  }
  return parts.join("");
}

function withGlobal(kind: string, global: string, cloud = VALID_CLOUD): Input<ConfigCase> {
  return configCase(kind, [
    { path: `${CONFIG}/${GLOBAL_FILE}`, content: global },
    { path: `${CONFIG}/${CLOUDS_DIR}/alpha.yaml`, content: cloud },
  ]);
}

function largeCases(): Input<ConfigCase>[] {
  const limit = MAX_FILE - 64;
  return [
    withGlobal(
      "a global file of 150 k unknown keys, just under 1 MB",
      upTo(limit, VALID_GLOBAL, (i) => `k${i.toString(36)}:\n`),
    ),
    withGlobal(
      "a global file of 90 k duplicate keys",
      upTo(limit, VALID_GLOBAL, () => "pool: test\n"),
    ),
    withGlobal("a flow sequence of 200 k items", `${VALID_GLOBAL}x: [${"1,".repeat(200_000)}]\n`),
    withGlobal(
      "an alias chain of 40 k anchors, just under 1 MB",
      upTo(limit, VALID_GLOBAL, (i) => `k${i}: &a${i} [*a${Math.max(0, i - 1)}]\n`),
    ),
    withGlobal(
      "an alias fan-out: 100 k aliases of one anchor",
      upTo(limit, `${VALID_GLOBAL}x: &a [1, 2]\ny:\n`, () => "  - *a\n"),
    ),
    withGlobal("500 k nested flow sequences", `${"[".repeat(500_000)}${"]".repeat(500_000)}`),
    withGlobal(
      "300 k nested block sequences",
      upTo(limit, "", () => "- "),
    ),
    withGlobal(
      "3000 nested block sequences, then a stray bracket",
      `${"- ".repeat(3000)}\n]]]]]]]]]]${VALID_GLOBAL}`,
    ),
    withGlobal(
      "a 2 MB global file (over the limit)",
      `${VALID_GLOBAL}# ${"x".repeat(2 * MAX_FILE)}\n`,
    ),
    withGlobal("a 1 MB string value", `${VALID_GLOBAL}pool: "${"a".repeat(limit - 100)}"\n`),
    configCase("a 1 MB template of 170 k unknown variables", [
      { path: `${CONFIG}/${GLOBAL_FILE}`, content: VALID_GLOBAL },
      {
        path: `${CONFIG}/${CLOUDS_DIR}/alpha.yaml`,
        content: `${VALID_CLOUD}userData: ../../cernvm/user-data.yaml.mustache\n`,
      },
      { path: TEMPLATES[0] ?? "", content: upTo(limit, "", () => "{{x}}\n") },
    ]),
    configCase("a 1 MB template of nested sections", [
      { path: `${CONFIG}/${GLOBAL_FILE}`, content: VALID_GLOBAL },
      {
        path: `${CONFIG}/${CLOUDS_DIR}/alpha.yaml`,
        content: `${VALID_CLOUD}userData: ../../cernvm/user-data.yaml.mustache\n`,
      },
      {
        path: TEMPLATES[0] ?? "",
        content: `${"{{#pool}}".repeat(50_000)}${"{{/pool}}".repeat(50_000)}`,
      },
    ]),
  ];
}

// ---- the check ----

/** Called through this object, so that sabotage can replace it. */
const subjects = { loadConfig };

let base: string | undefined;

async function checkCase(input: Input<ConfigCase>): Promise<string> {
  if (base === undefined) throw new Error("setup has not run");
  const root = await mkdtemp(join(base, "case-"));
  try {
    await mkdir(join(root, CONFIG, CLOUDS_DIR), { recursive: true });
    for (const file of input.value) {
      await mkdir(dirname(join(root, file.path)), { recursive: true });
      await writeFile(join(root, file.path), file.content);
    }
    return await outcomeOf(() => subjects.loadConfig(join(root, CONFIG)), ConfigError, {
      value: (config) => {
        expect(config.clouds.length > 0, "loaded a config without clouds");
        expect(typeof config.global.pool === "string", "loaded a config without a pool");
        return "loaded";
      },
      error: (error) => {
        expect(error.problems.length > 0, "a ConfigError that names no problem");
        for (const problem of error.problems)
          expect(
            typeof problem.message === "string" &&
              (problem.line === undefined ||
                (Number.isSafeInteger(problem.line) && problem.line > 0)),
            `a problem without a message or with line ${problem.line}: ${preview(JSON.stringify(problem))}`,
          );
      },
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export const target: FuzzTarget = {
  properties: [
    property({
      name: "the config loader reads any directory of policy files as a config or refuses it with a ConfigError",
      runs: 600,
      input: fc.oneof(
        { weight: 3, arbitrary: madeUpCase },
        { weight: 2, arbitrary: mutatedExample },
      ),
      examples: largeCases,
      check: checkCase,
    }),
  ],
  async setup() {
    base = await mkdtemp(join(tmpdir(), "condor-autoscaler-fuzz-config-"));
  },
  async teardown() {
    if (base !== undefined) await rm(base, { recursive: true, force: true });
  },
  sabotage() {
    subjects.loadConfig = () => {
      throw sabotageError("loadConfig");
    };
  },
};
