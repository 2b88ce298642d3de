/**
 * Sites and policies for the simulator. A comparison is fair only when every policy runs on the
 * same clouds: the site (what the clouds are: provider, boot delays, quota, failures, price,
 * worker shape, maxWorkers) is named once, and each policy only sets knobs on it (how the
 * autoscaler drives those clouds). A policy file that names a cloud the site lacks, or that states
 * a site field differently from the site, is refused, naming the file and the field.
 */
import { readdir, stat } from "node:fs/promises";
import { basename, extname, join, relative, resolve } from "node:path";
import { CLOUDS_DIR, GLOBAL_FILE, issueProblems, readYaml, type YamlFile } from "../config/load.js";
import {
  type AutoscalerConfig,
  type CloudConfig,
  type CloudSettings,
  cloudSchema,
  type GlobalSettings,
  globalSchema,
} from "../config/schema.js";
import { type ConfigProblem, formatConfigProblem } from "../model/errors.js";

/** Fields of a cloud file that describe the cloud itself: they belong to the site. */
export const SITE_CLOUD_FIELDS = [
  "provider",
  "worker",
  "maxWorkers",
  "costPerHour",
  "userData",
] as const satisfies ReadonlyArray<keyof CloudSettings>;

/** Fields of a cloud file that say how the autoscaler drives the cloud: a policy sets them. */
export const POLICY_CLOUD_FIELDS = [
  "priority",
  "share",
  "minWorkers",
  "jobs",
  "idleTimeout",
  "bootTimeout",
  "maxLaunchPerTick",
  "backoff",
  "schedules",
] as const satisfies ReadonlyArray<keyof CloudSettings>;

/**
 * Fields of autoscaler.yaml a policy sets. The others (pool, condor, logging, status) are not
 * simulated: the simulator brings its own pool, so a policy's are ignored.
 */
export const POLICY_GLOBAL_FIELDS = [
  "tickInterval",
  "tickDeadline",
  "persistence",
  "authFailuresToDisable",
] as const satisfies ReadonlyArray<keyof GlobalSettings>;

/** Why a site or a policy cannot be used: one line, naming the argument, file and field. */
export class SiteError extends Error {
  override readonly name = "SiteError";
}

/** Where two parsed values first differ, as a dotted path below `path`; undefined if equal. */
export function firstDifference(
  a: unknown,
  b: unknown,
  path: string,
): { path: string; a: unknown; b: unknown } | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    if (Array.isArray(a) !== Array.isArray(b)) return { path, a, b };
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort() as Array<
      keyof typeof a & keyof typeof b
    >;
    for (const key of keys) {
      const found = firstDifference(a[key], b[key], path === "" ? String(key) : `${path}.${key}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  return { path, a, b };
}

function shown(value: unknown): string {
  return value === undefined ? "absent" : JSON.stringify(value);
}

function oneLine(argument: string, problems: readonly ConfigProblem[]): SiteError {
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : "";
  return new SiteError(
    `${argument}: ${first === undefined ? "invalid" : formatConfigProblem(first)}${more}`,
  );
}

async function kind(path: string): Promise<"file" | "dir" | undefined> {
  const found = await stat(path).catch(() => undefined);
  if (found === undefined) return undefined;
  return found.isDirectory() ? "dir" : "file";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A cloud's settings as a policy file's input, without where they came from. */
function settingsOf(cloud: CloudConfig): Record<string, unknown> {
  const { name: _name, file: _file, userDataPath: _path, ...settings } = cloud;
  return settings;
}

/** A policy's autoscaler.yaml knobs, or none when it has no such file. */
async function policyGlobal(
  argument: string,
  root: string,
  site: GlobalSettings,
): Promise<GlobalSettings> {
  const file = join(root, GLOBAL_FILE);
  if ((await kind(file)) !== "file") return site;
  const problems: ConfigProblem[] = [];
  const source = await readYaml(file, problems);
  if (source === undefined) throw oneLine(argument, problems);
  // pool and condor may be left out: a policy needs neither.
  const result = globalSchema.partial({ pool: true, condor: true }).safeParse(source.value);
  if (!result.success) throw oneLine(argument, issueProblems(source, result.error.issues));
  const given = isRecord(source.value) ? source.value : {};
  const knobs: Partial<GlobalSettings> = {};
  for (const field of POLICY_GLOBAL_FIELDS)
    if (field in given) Object.assign(knobs, { [field]: result.data[field] });
  return { ...site, ...knobs };
}

/** A site cloud with one policy file's knobs applied; refuses a changed site field. */
function applyCloud(
  argument: string,
  source: YamlFile,
  cloud: CloudConfig,
  siteDir: string,
): CloudConfig {
  const given = isRecord(source.value) ? source.value : {};
  const base = settingsOf(cloud);
  // backoff is set field by field: a policy giving only backoff.max keeps the site's others.
  const input = {
    ...base,
    ...given,
    ...(isRecord(given.backoff) ? { backoff: { ...cloud.backoff, ...given.backoff } } : {}),
  };
  const result = cloudSchema.safeParse(input);
  if (!result.success) throw oneLine(argument, issueProblems(source, result.error.issues));
  for (const field of SITE_CLOUD_FIELDS) {
    if (!(field in given)) continue;
    const differs = firstDifference(result.data[field], cloud[field], field);
    if (differs === undefined) continue;
    const line = source.lineOf(differs.path.split("."));
    const where = line === undefined ? source.file : `${source.file}:${line}`;
    throw new SiteError(
      `${argument}: ${where}: ${differs.path}: is a site field (the site ${siteDir} has ${shown(differs.b)}, this file ${shown(differs.a)}): change it in the site, not in a policy`,
    );
  }
  const applied: CloudConfig = { ...cloud, file: source.file };
  for (const field of POLICY_CLOUD_FIELDS) Object.assign(applied, { [field]: result.data[field] });
  return applied;
}

/**
 * The site's clouds driven by the policy in `dir`: its autoscaler.yaml's policy knobs and its
 * clouds.d files' policy fields; whatever it leaves out is the site directory's own setting.
 */
export async function applyPolicy(site: AutoscalerConfig, dir: string): Promise<AutoscalerConfig> {
  const argument = `--policy ${dir}`;
  const root = resolve(dir);
  const cloudsDir = join(root, CLOUDS_DIR);
  const hasGlobal = (await kind(join(root, GLOBAL_FILE))) === "file";
  const hasClouds = (await kind(cloudsDir)) === "dir";
  if (!hasGlobal && !hasClouds)
    throw new SiteError(`${argument}: neither ${GLOBAL_FILE} nor ${CLOUDS_DIR}/ found there`);
  const global = await policyGlobal(argument, root, site.global);
  const files = hasClouds
    ? (await readdir(cloudsDir))
        .filter((entry) => entry.endsWith(".yaml") || entry.endsWith(".yml"))
        .sort()
    : [];
  const near = relative(process.cwd(), site.dir);
  const siteDir = near === "" ? "." : near.startsWith("..") ? site.dir : near;
  const clouds = [...site.clouds];
  for (const entry of files) {
    // Named as the argument gave it: the message points at what the person typed.
    const file = join(dir, CLOUDS_DIR, entry);
    const name = basename(entry, extname(entry));
    const index = clouds.findIndex((cloud) => cloud.name === name);
    const cloud = clouds[index];
    if (cloud === undefined)
      throw new SiteError(
        `${argument}: ${file}: cloud "${name}" is not in the site ${siteDir} (its clouds: ${site.clouds.map((c) => c.name).join(", ")})`,
      );
    const problems: ConfigProblem[] = [];
    const source = await readYaml(file, problems);
    if (source === undefined) throw oneLine(argument, problems);
    clouds[index] = applyCloud(argument, source, cloud, siteDir);
  }
  return { dir: root, global, clouds };
}

/**
 * Where `other`'s site (its clouds and their site fields) differs from `site`'s, as one line, or
 * undefined when they are the same site.
 */
export function siteDifference(
  site: AutoscalerConfig,
  other: AutoscalerConfig,
): string | undefined {
  const names = (config: AutoscalerConfig) => config.clouds.map((cloud) => cloud.name).join(", ");
  if (names(site) !== names(other))
    return `its clouds (${names(other)}) are not those of ${site.dir} (${names(site)})`;
  for (const cloud of other.clouds) {
    const mine = site.clouds.find((c) => c.name === cloud.name);
    if (mine === undefined) continue;
    for (const field of SITE_CLOUD_FIELDS) {
      const differs = firstDifference(cloud[field], mine[field], field);
      if (differs !== undefined)
        return `${cloud.file}: ${differs.path} is ${shown(differs.a)}, ${mine.file} has ${shown(differs.b)}`;
    }
  }
  return undefined;
}
