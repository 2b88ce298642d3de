/**
 * Loads a config directory: `autoscaler.yaml` plus `clouds.d/*.yaml`. Every problem of every file
 * is collected and reported with its file, line and field; nothing half-valid is ever returned.
 */
import { access, readdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  type YAMLMap,
} from "yaml";
import type { z } from "zod";
import { readBoundedFile } from "../bounded-file.js";
import { ConfigError, type ConfigProblem } from "../model/errors.js";
import { MAX_CONFIG_FILE_BYTES } from "./defaults.js";
import {
  type AutoscalerConfig,
  CLOUD_NAME_PATTERN,
  type CloudConfig,
  cloudSchema,
  type GlobalSettings,
  globalSchema,
} from "./schema.js";
import { checkUserDataFile } from "./user-data.js";

export const GLOBAL_FILE = "autoscaler.yaml";
export const CLOUDS_DIR = "clouds.d";

/**
 * Aliases a policy file may use. The library resolves each alias by scanning the document, so
 * thousands of them in a 1 MB file take hours; a policy file has no use for more than a few.
 */
const MAX_ALIASES = 100;

type PathKey = string | number;

/** A parsed YAML file that can say on which line a field stands. */
export interface YamlFile {
  file: string;
  value: unknown;
  lineOf(path: readonly PathKey[]): number | undefined;
}

export async function readYaml(
  file: string,
  problems: ConfigProblem[],
): Promise<YamlFile | undefined> {
  let text: string;
  try {
    text = await readBoundedFile(file, { maxBytes: MAX_CONFIG_FILE_BYTES });
  } catch (error) {
    problems.push({
      file,
      field: "",
      message: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  }
  const lineCounter = new LineCounter();
  // uniqueKeys: checked below in one pass (the library's own check is quadratic in the keys).
  let document: ReturnType<typeof parseDocument>;
  try {
    document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  } catch (error) {
    // Thousands of nested collections can overflow the stack in the library's parser, past its
    // own error handling (`- - - …` then a stray `]`: a 6 KB file).
    const why = error instanceof Error ? error.message : String(error);
    problems.push({ file, field: "", message: `YAML: ${why}` });
    return undefined;
  }
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      const line = error.linePos?.[0]?.line ?? lineCounter.linePos(error.pos[0]).line;
      problems.push({ file, line, field: "", message: `YAML: ${error.message.split("\n")[0]}` });
    }
    return undefined;
  }
  const duplicates = duplicateKeys(document.contents);
  if (duplicates.length > 0) {
    for (const offset of duplicates)
      problems.push({
        file,
        line: lineCounter.linePos(offset).line,
        field: "",
        message: "YAML: Map keys must be unique",
      });
    return undefined;
  }
  if (aliasCount(document.contents) > MAX_ALIASES) {
    problems.push({ file, field: "", message: `YAML: more than ${MAX_ALIASES} aliases` });
    return undefined;
  }
  let value: unknown;
  try {
    // An alias bomb ("billion laughs") stops here, with the library's own limit on aliases.
    value = document.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    problems.push({ file, field: "", message: `YAML: ${why}` });
    return undefined;
  }
  // Each mapping's pairs by key, made on first use: a file with many unknown keys asks for the
  // line of every one of them, and a search per key would be quadratic.
  const pairsOf = new WeakMap<YAMLMap, Map<unknown, Pair>>();
  const pairWithKey = (map: YAMLMap, key: PathKey): Pair | undefined => {
    let pairs = pairsOf.get(map);
    if (pairs === undefined) {
      pairs = new Map();
      for (const item of map.items)
        if (isScalar(item.key) && !pairs.has(item.key.value)) pairs.set(item.key.value, item);
      pairsOf.set(map, pairs);
    }
    return pairs.get(key);
  };
  const lineOf = (path: readonly PathKey[]): number | undefined => {
    // Walk down as far as the path exists; a missing field is reported at its parent.
    let node: unknown = document.contents;
    let offset = (document.contents as Node | null)?.range?.[0];
    for (const key of path) {
      if (isMap(node)) {
        const pair = pairWithKey(node, key);
        if (!isPair(pair)) break;
        offset = (pair.key as Node).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof key === "number") {
        const item = node.items[key] as Node | undefined;
        if (item === undefined) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else {
        break;
      }
    }
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  return { file, value, lineOf };
}

/** Docker paths that would hand the config directory (policy files, token) to pilots. */
function configPathsExposed(
  provider: CloudConfig["provider"],
  configDir: string,
): Array<{ field: string; path: string }> {
  if (provider.kind !== "docker") return [];
  const inside = (path: string) => {
    const full = resolve(path);
    return full === configDir || full.startsWith(`${configDir}/`);
  };
  // workDir is not among them: only each container's own directory in it is mounted.
  const paths: Array<{ field: string; path: string | undefined }> = [
    { field: "provider.machineFeatures", path: provider.machineFeatures },
    { field: "provider.jobFeatures", path: provider.jobFeatures },
    ...provider.mounts.map((mount, index) => ({
      field: `provider.mounts.${index}.source`,
      path: mount.source,
    })),
  ];
  return paths.flatMap(({ field, path }) =>
    path !== undefined && inside(path) ? [{ field, path }] : [],
  );
}

/** Where a key repeats in a mapping, at any depth: one pass with a set per mapping. */
function duplicateKeys(root: unknown): number[] {
  const offsets: number[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(key)) offsets.push((pair.key as Node | null)?.range?.[0] ?? 0);
        seen.add(key);
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      // One by one: spreading a sequence of 100 k items overflows the call stack.
      for (const item of node.items) stack.push(item);
    }
  }
  return offsets.sort((a, b) => a - b);
}

/** Aliases anywhere in a document, keys included: one pass. */
function aliasCount(root: unknown): number {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isAlias(node)) count += 1;
    else if (isMap(node)) for (const pair of node.items) stack.push(pair.key, pair.value);
    else if (isSeq(node)) for (const item of node.items) stack.push(item);
  }
  return count;
}

function valueAt(value: unknown, path: readonly PathKey[]): unknown {
  let node = value;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PathKey, unknown>)[key];
  }
  return node;
}

export function issueProblems(
  source: YamlFile,
  issues: readonly z.core.$ZodIssue[],
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((key): key is PathKey => typeof key !== "symbol");
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const field = [...path, key];
        problems.push({
          file: source.file,
          line: source.lineOf(field),
          field: field.join("."),
          message: "unknown key",
        });
      }
      continue;
    }
    const missing = issue.code === "invalid_type" && valueAt(source.value, path) === undefined;
    const message = missing ? "required" : issue.message;
    problems.push({ file: source.file, line: source.lineOf(path), field: path.join("."), message });
  }
  return problems;
}

function validate<S extends z.ZodType>(
  schema: S,
  source: YamlFile,
  problems: ConfigProblem[],
): z.output<S> | undefined {
  const result = schema.safeParse(source.value);
  if (result.success) return result.data;
  // One by one: spreading 100 k problems (a file of unknown keys) overflows the call stack.
  for (const problem of issueProblems(source, result.error.issues)) problems.push(problem);
  return undefined;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function loadCloud(
  file: string,
  problems: ConfigProblem[],
): Promise<CloudConfig | undefined> {
  const name = basename(file, extname(file));
  const before = problems.length;
  if (!CLOUD_NAME_PATTERN.test(name)) {
    problems.push({
      file,
      field: "",
      message: `file name must be the cloud's name: lower-case letters, digits and '-' (got "${name}")`,
    });
  }
  const source = await readYaml(file, problems);
  if (source === undefined) return undefined;
  const settings = validate(cloudSchema, source, problems);
  if (settings === undefined || problems.length > before) return undefined;
  const cloud: CloudConfig = { ...settings, name, file };
  const exposed = configPathsExposed(settings.provider, dirname(dirname(file)));
  for (const { field, path } of exposed)
    problems.push({
      file,
      line: source.lineOf(["provider", ...field.split(".").slice(1)]),
      field,
      message: `${path} is inside the config directory (it holds the policy and the token): refused`,
    });
  if (exposed.length > 0) return undefined;
  if (settings.userData !== undefined) {
    const path = resolve(dirname(file), settings.userData);
    if (await exists(path)) {
      cloud.userDataPath = path;
      const templateProblems = await checkUserDataFile(path);
      if (templateProblems.length > 0) {
        for (const problem of templateProblems) problems.push(problem);
        return undefined;
      }
    } else {
      problems.push({
        file,
        line: source.lineOf(["userData"]),
        field: "userData",
        message: `template not found: ${path}`,
      });
      return undefined;
    }
  }
  return cloud;
}

/** Loads and validates a whole config directory, or throws a ConfigError listing every problem. */
export async function loadConfig(dir: string): Promise<AutoscalerConfig> {
  const root = resolve(dir);
  const problems: ConfigProblem[] = [];

  const globalSource = await readYaml(join(root, GLOBAL_FILE), problems);
  const global: GlobalSettings | undefined =
    globalSource === undefined ? undefined : validate(globalSchema, globalSource, problems);
  const logFile = global?.logging.file;
  if (
    globalSource !== undefined &&
    logFile !== undefined &&
    !(await isDirectory(dirname(resolve(logFile))))
  )
    problems.push({
      file: globalSource.file,
      line: globalSource.lineOf(["logging", "file"]),
      field: "logging.file",
      message: `its directory ${dirname(resolve(logFile))} does not exist`,
    });

  const cloudsDir = join(root, CLOUDS_DIR);
  let cloudFiles: string[] = [];
  try {
    cloudFiles = (await readdir(cloudsDir))
      .filter((entry) => entry.endsWith(".yaml") || entry.endsWith(".yml"))
      .sort()
      .map((entry) => join(cloudsDir, entry));
  } catch {
    problems.push({ file: cloudsDir, field: "", message: "directory not found" });
  }
  if (cloudFiles.length === 0 && problems.every((p) => p.file !== cloudsDir)) {
    problems.push({ file: cloudsDir, field: "", message: "no cloud policy files (*.yaml)" });
  }

  const clouds: CloudConfig[] = [];
  const seen = new Map<string, string>();
  for (const file of cloudFiles) {
    const cloud = await loadCloud(file, problems);
    if (cloud === undefined) continue;
    const earlier = seen.get(cloud.name);
    if (earlier !== undefined) {
      problems.push({
        file,
        field: "",
        message: `cloud "${cloud.name}" is also defined by ${earlier}`,
      });
      continue;
    }
    seen.set(cloud.name, file);
    clouds.push(cloud);
  }

  if (problems.length > 0 || global === undefined) throw new ConfigError(problems);
  return { dir: root, global, clouds };
}
