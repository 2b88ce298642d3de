/**
 * OpenStack credentials from where OpenStack users already keep them, never from the policy file:
 *
 * - a `clouds.yaml` entry (merged with the same entry of `secure.yaml`, whose values win), chosen by
 *   the policy's `cloud` or else `$OS_CLOUD`. Like openstacksdk, the first clouds.yaml found is
 *   used: `$OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`, `$XDG_CONFIG_HOME/openstack/clouds.yaml`,
 *   `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml` (`.yml` too); secure.yaml is
 *   searched the same way (`$OS_CLIENT_SECURE_FILE` first);
 * - else the `OS_*` variables of an openrc file.
 *
 * Auth types: password (`password`, `v3password`) and application credentials
 * (`v3applicationcredential`). Nothing here ever puts a password or secret into a message.
 */

import { readFile as fsReadFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse, YAMLParseError } from "yaml";
import { z } from "zod";
import { ProviderError } from "../../model/errors.js";
import { registerSecret } from "../../secrets.js";
import type { EndpointInterface } from "./schema.js";

/** The process environment, or a test's. */
export type Environment = Readonly<Record<string, string | undefined>>;
/** Reads a text file; undefined when there is no such file. */
export type ReadFile = (path: string) => Promise<string | undefined>;

export interface CredentialSources {
  env: Environment;
  readFile: ReadFile;
  /** Directory searched first for clouds.yaml (the daemon's working directory). */
  cwd: string;
  home: string;
}

export type DomainRef = { id: string } | { name: string };
export type UserRef = { id: string } | { name: string; domain: DomainRef };
export type ProjectRef = { id: string } | { name: string; domain: DomainRef };

export type Identity =
  | { method: "password"; user: UserRef; password: string; project: ProjectRef }
  | {
      method: "application_credential";
      /** By id, or by name together with its user. */
      id?: string;
      name?: string;
      user?: UserRef;
      secret: string;
    };

export interface OpenStackCredentials {
  /** Keystone's URL as the user wrote it (with or without `/v3`). */
  authUrl: string;
  identity: Identity;
  region?: string;
  interface?: EndpointInterface;
  /** PEM text of the CA bundle named by `cacert` / OS_CACERT. */
  ca?: string;
  /** `verify: false` / OS_INSECURE=true. */
  insecure: boolean;
  /** Where they were found, for logs (`clouds.yaml entry "x" (/etc/openstack/clouds.yaml)`). */
  source: string;
}

/** The real environment, working directory, home directory and file system. */
export function defaultSources(): CredentialSources {
  return { env: process.env, readFile: readIfExists, cwd: process.cwd(), home: homedir() };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await fsReadFile(path, "utf8");
  } catch (error) {
    const code =
      typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new ProviderError("config", `${path}: cannot be read (${String(code ?? error)})`);
  }
}

// ---- clouds.yaml ----

/** A scalar of clouds.yaml: YAML may read an all-digit id or password as a number. */
const text = z.union([z.string(), z.number()]).transform(String);

const authSection = z.object({
  auth_url: text.optional(),
  username: text.optional(),
  user_id: text.optional(),
  password: text.optional(),
  project_name: text.optional(),
  project_id: text.optional(),
  tenant_name: text.optional(),
  tenant_id: text.optional(),
  user_domain_name: text.optional(),
  user_domain_id: text.optional(),
  project_domain_name: text.optional(),
  project_domain_id: text.optional(),
  domain_name: text.optional(),
  domain_id: text.optional(),
  default_domain: text.optional(),
  application_credential_id: text.optional(),
  application_credential_name: text.optional(),
  application_credential_secret: text.optional(),
});
type AuthSection = z.infer<typeof authSection>;

const cloudEntry = z.object({
  auth: authSection.optional(),
  auth_type: z.string().optional(),
  region_name: text.optional(),
  interface: z.string().optional(),
  endpoint_type: z.string().optional(),
  verify: z.boolean().optional(),
  cacert: z.string().optional(),
  identity_api_version: text.optional(),
  profile: z.string().optional(),
});
type CloudEntry = z.infer<typeof cloudEntry>;

const cloudsFile = z.object({ clouds: z.record(z.string(), z.unknown()).optional() });

interface FoundFile {
  path: string;
  clouds: Readonly<Record<string, unknown>>;
}

/** Where clouds.yaml (`base` = "clouds") or secure.yaml (`base` = "secure") is looked for, in order. */
export function searchPath(base: "clouds" | "secure", sources: CredentialSources): string[] {
  const { env } = sources;
  const override = nonEmpty(
    base === "clouds" ? env.OS_CLIENT_CONFIG_FILE : env.OS_CLIENT_SECURE_FILE,
  );
  const xdg = nonEmpty(env.XDG_CONFIG_HOME);
  const dirs = [
    sources.cwd,
    ...(xdg === undefined ? [] : [join(xdg, "openstack")]),
    join(sources.home, ".config", "openstack"),
    "/etc/openstack",
  ];
  const files = dirs.flatMap((dir) => [join(dir, `${base}.yaml`), join(dir, `${base}.yml`)]);
  return [...new Set([...(override === undefined ? [] : [override]), ...files])];
}

/** The first file of the search path that exists, parsed; undefined when there is none. */
async function firstFile(
  base: "clouds" | "secure",
  sources: CredentialSources,
): Promise<FoundFile | undefined> {
  const override = nonEmpty(
    base === "clouds" ? sources.env.OS_CLIENT_CONFIG_FILE : sources.env.OS_CLIENT_SECURE_FILE,
  );
  for (const path of searchPath(base, sources)) {
    const content = await sources.readFile(path);
    if (content === undefined) {
      if (path === override) {
        const variable = base === "clouds" ? "OS_CLIENT_CONFIG_FILE" : "OS_CLIENT_SECURE_FILE";
        throw new ProviderError("config", `${variable}=${path}: no such file`);
      }
      continue;
    }
    return { path, clouds: parseCloudsFile(path, content) };
  }
  return undefined;
}

function parseCloudsFile(path: string, content: string): Readonly<Record<string, unknown>> {
  let document: unknown;
  try {
    document = parse(content);
  } catch (error) {
    // The parser's own message quotes the offending line, which may hold a password: keep its place only.
    if (error instanceof YAMLParseError) {
      const line = error.linePos?.[0].line;
      throw new ProviderError(
        "config",
        `${path}${line === undefined ? "" : `:${line}`}: not valid YAML (${error.code})`,
      );
    }
    throw new ProviderError("config", `${path}: not valid YAML`);
  }
  if (document === null || document === undefined) return {};
  const file = cloudsFile.safeParse(document);
  if (!file.success) throw new ProviderError("config", `${path}: \`clouds\` must be a mapping`);
  return file.data.clouds ?? {};
}

function entryOf(file: FoundFile, name: string): CloudEntry | undefined {
  const raw = file.clouds[name];
  if (raw === undefined || raw === null) return undefined;
  const entry = cloudEntry.safeParse(raw);
  if (!entry.success) {
    const problems = entry.error.issues
      .map((issue) => `${issue.path.join(".")}: ${issue.message}`)
      .join("; ");
    throw new ProviderError("config", `${file.path}: clouds.${name}: ${problems}`);
  }
  return entry.data;
}

/** `b` over `a`, one level into `auth` (secure.yaml wins). */
function mergeEntries(a: CloudEntry | undefined, b: CloudEntry | undefined): CloudEntry {
  return { ...a, ...b, auth: { ...a?.auth, ...b?.auth } };
}

// ---- OS_* variables ----

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function truthy(value: string): boolean {
  return /^(1|true|yes|on)$/i.test(value.trim());
}

/** The OS_* variables as a clouds.yaml entry. */
export function entryFromEnvironment(env: Environment): CloudEntry {
  const v = (name: string) => nonEmpty(env[name]);
  const auth: AuthSection = {};
  const fields: ReadonlyArray<[keyof AuthSection, string | undefined]> = [
    ["auth_url", v("OS_AUTH_URL")],
    ["username", v("OS_USERNAME")],
    ["user_id", v("OS_USER_ID")],
    ["password", v("OS_PASSWORD")],
    ["project_name", v("OS_PROJECT_NAME") ?? v("OS_TENANT_NAME")],
    ["project_id", v("OS_PROJECT_ID") ?? v("OS_TENANT_ID")],
    ["user_domain_name", v("OS_USER_DOMAIN_NAME")],
    ["user_domain_id", v("OS_USER_DOMAIN_ID")],
    ["project_domain_name", v("OS_PROJECT_DOMAIN_NAME")],
    ["project_domain_id", v("OS_PROJECT_DOMAIN_ID")],
    ["domain_name", v("OS_DOMAIN_NAME")],
    ["domain_id", v("OS_DOMAIN_ID")],
    ["default_domain", v("OS_DEFAULT_DOMAIN")],
    ["application_credential_id", v("OS_APPLICATION_CREDENTIAL_ID")],
    ["application_credential_name", v("OS_APPLICATION_CREDENTIAL_NAME")],
    ["application_credential_secret", v("OS_APPLICATION_CREDENTIAL_SECRET")],
  ];
  for (const [key, value] of fields) if (value !== undefined) auth[key] = value;
  const entry: CloudEntry = { auth };
  const authType = v("OS_AUTH_TYPE");
  if (authType !== undefined) entry.auth_type = authType;
  const region = v("OS_REGION_NAME");
  if (region !== undefined) entry.region_name = region;
  const endpointInterface = v("OS_INTERFACE") ?? v("OS_ENDPOINT_TYPE");
  if (endpointInterface !== undefined) entry.interface = endpointInterface;
  const cacert = v("OS_CACERT");
  if (cacert !== undefined) entry.cacert = cacert;
  const insecure = v("OS_INSECURE");
  if (insecure !== undefined) entry.verify = !truthy(insecure);
  const identityVersion = v("OS_IDENTITY_API_VERSION");
  if (identityVersion !== undefined) entry.identity_api_version = identityVersion;
  return entry;
}

/** OS_* names of the clouds.yaml keys, for messages about the environment. */
const ENV_NAME: Readonly<Record<string, string>> = {
  auth_url: "OS_AUTH_URL",
  username: "OS_USERNAME",
  user_id: "OS_USER_ID",
  password: "OS_PASSWORD",
  project_name: "OS_PROJECT_NAME",
  project_id: "OS_PROJECT_ID",
  user_domain_name: "OS_USER_DOMAIN_NAME",
  user_domain_id: "OS_USER_DOMAIN_ID",
  project_domain_name: "OS_PROJECT_DOMAIN_NAME",
  project_domain_id: "OS_PROJECT_DOMAIN_ID",
  application_credential_id: "OS_APPLICATION_CREDENTIAL_ID",
  application_credential_name: "OS_APPLICATION_CREDENTIAL_NAME",
  application_credential_secret: "OS_APPLICATION_CREDENTIAL_SECRET",
  auth_type: "OS_AUTH_TYPE",
  interface: "OS_INTERFACE",
  cacert: "OS_CACERT",
};

// ---- entry → credentials ----

const PASSWORD_TYPES = new Set(["password", "v3password"]);
const APPLICATION_CREDENTIAL_TYPES = new Set([
  "v3applicationcredential",
  "applicationcredential",
  "application_credential",
  "v3_application_credential",
]);

interface Naming {
  /** How the user finds the field `key` (`auth.password` / `OS_PASSWORD`). */
  field(key: string): string;
  /** Where the entry came from, for messages. */
  where: string;
}

function oneOf(naming: Naming, ...keys: string[]): string {
  return keys.map((key) => naming.field(key)).join(" or ");
}

function domainOf(auth: AuthSection, kind: "user" | "project"): DomainRef | undefined {
  const id = kind === "user" ? auth.user_domain_id : auth.project_domain_id;
  const name = kind === "user" ? auth.user_domain_name : auth.project_domain_name;
  if (id !== undefined) return { id };
  if (name !== undefined) return { name };
  if (auth.domain_id !== undefined) return { id: auth.domain_id };
  if (auth.domain_name !== undefined) return { name: auth.domain_name };
  if (auth.default_domain !== undefined) return { id: auth.default_domain };
  return undefined;
}

function userOf(auth: AuthSection, naming: Naming, missing: string[]): UserRef | undefined {
  if (auth.user_id !== undefined) return { id: auth.user_id };
  if (auth.username === undefined) {
    missing.push(oneOf(naming, "username", "user_id"));
    return undefined;
  }
  const domain = domainOf(auth, "user");
  if (domain === undefined) {
    missing.push(`${oneOf(naming, "user_domain_name", "user_domain_id")} (the user's domain)`);
    return undefined;
  }
  return { name: auth.username, domain };
}

function projectOf(auth: AuthSection, naming: Naming, missing: string[]): ProjectRef | undefined {
  const id = auth.project_id ?? auth.tenant_id;
  if (id !== undefined) return { id };
  const name = auth.project_name ?? auth.tenant_name;
  if (name === undefined) {
    missing.push(oneOf(naming, "project_name", "project_id"));
    return undefined;
  }
  const domain = domainOf(auth, "project");
  if (domain === undefined) {
    missing.push(
      `${oneOf(naming, "project_domain_name", "project_domain_id")} (the project's domain)`,
    );
    return undefined;
  }
  return { name, domain };
}

function normaliseInterface(value: string, naming: Naming): EndpointInterface {
  const plain = value.replace(/URL$/, "").toLowerCase();
  if (plain === "public" || plain === "internal" || plain === "admin") return plain;
  throw new ProviderError(
    "config",
    `${naming.where}: ${naming.field("interface")} must be public, internal or admin, not "${value}"`,
  );
}

/** Credentials from one (merged) entry; every missing field is named at once. */
export async function credentialsOf(
  entry: CloudEntry,
  naming: Naming,
  readFile: ReadFile,
): Promise<OpenStackCredentials> {
  const auth = entry.auth ?? {};
  const missing: string[] = [];
  if (auth.auth_url === undefined) {
    if (entry.profile !== undefined) {
      throw new ProviderError(
        "config",
        `${naming.where}: vendor profiles (profile: ${entry.profile}) are not supported; give ${naming.field("auth_url")}`,
      );
    }
    missing.push(naming.field("auth_url"));
  }
  if (entry.identity_api_version !== undefined && !/^3(\.\d+)?$/.test(entry.identity_api_version))
    throw new ProviderError(
      "config",
      `${naming.where}: only Keystone v3 is supported (identity_api_version ${entry.identity_api_version})`,
    );

  const declared = entry.auth_type?.toLowerCase();
  const method =
    declared === undefined
      ? auth.application_credential_secret !== undefined ||
        auth.application_credential_id !== undefined
        ? "application_credential"
        : "password"
      : PASSWORD_TYPES.has(declared)
        ? "password"
        : APPLICATION_CREDENTIAL_TYPES.has(declared)
          ? "application_credential"
          : undefined;
  if (method === undefined) {
    throw new ProviderError(
      "config",
      `${naming.where}: ${naming.field("auth_type")} "${entry.auth_type}" is not supported (password, v3password, v3applicationcredential)`,
    );
  }

  let identity: Identity | undefined;
  if (method === "password") {
    const user = userOf(auth, naming, missing);
    if (auth.password === undefined) missing.push(naming.field("password"));
    const project = projectOf(auth, naming, missing);
    registerSecret(auth.password);
    if (user !== undefined && auth.password !== undefined && project !== undefined)
      identity = { method, user, password: auth.password, project };
  } else {
    if (auth.application_credential_secret === undefined)
      missing.push(naming.field("application_credential_secret"));
    let reference: { id: string } | { name: string; user: UserRef } | undefined;
    if (auth.application_credential_id !== undefined) {
      reference = { id: auth.application_credential_id };
    } else if (auth.application_credential_name !== undefined) {
      const user = userOf(auth, naming, missing);
      if (user !== undefined) reference = { name: auth.application_credential_name, user };
    } else {
      missing.push(oneOf(naming, "application_credential_id", "application_credential_name"));
    }
    registerSecret(auth.application_credential_secret);
    if (reference !== undefined && auth.application_credential_secret !== undefined)
      identity = { method, ...reference, secret: auth.application_credential_secret };
  }

  if (missing.length > 0 || identity === undefined || auth.auth_url === undefined) {
    throw new ProviderError("config", `${naming.where}: missing ${missing.join(", ")}`);
  }

  const credentials: OpenStackCredentials = {
    authUrl: auth.auth_url,
    identity,
    insecure: entry.verify === false,
    source: naming.where,
  };
  if (entry.region_name !== undefined) credentials.region = entry.region_name;
  const endpointInterface = entry.interface ?? entry.endpoint_type;
  if (endpointInterface !== undefined)
    credentials.interface = normaliseInterface(endpointInterface, naming);
  if (entry.cacert !== undefined) {
    const pem = await readFile(entry.cacert);
    if (pem === undefined)
      throw new ProviderError(
        "config",
        `${naming.where}: ${naming.field("cacert")} ${entry.cacert}: no such file`,
      );
    credentials.ca = pem;
  }
  return credentials;
}

/**
 * The credentials of cloud `cloud` (the policy's setting), else of `$OS_CLOUD`, else of the OS_*
 * variables. Throws a `config` ProviderError naming what is missing.
 */
export async function findCredentials(
  cloud: string | undefined,
  sources: CredentialSources,
): Promise<OpenStackCredentials> {
  const name = cloud ?? nonEmpty(sources.env.OS_CLOUD);
  if (name === undefined) {
    const entry = entryFromEnvironment(sources.env);
    if (entry.auth?.auth_url === undefined) {
      // No credentials at all is `auth`, like expired or refused ones: the cloud is disabled after
      // a few ticks of it and said so, rather than retried for ever.
      throw new ProviderError(
        "auth",
        "no OpenStack credentials: set `cloud` in the policy file or OS_CLOUD (an entry of clouds.yaml), or the OS_* variables of an openrc file (OS_AUTH_URL is not set)",
      );
    }
    const naming: Naming = {
      field: (key) => ENV_NAME[key] ?? `OS_${key.toUpperCase()}`,
      where: "OS_* variables",
    };
    return credentialsOf(entry, naming, sources.readFile);
  }

  const clouds = await firstFile("clouds", sources);
  const secure = await firstFile("secure", sources);
  const fromClouds = clouds === undefined ? undefined : entryOf(clouds, name);
  const fromSecure = secure === undefined ? undefined : entryOf(secure, name);
  if (fromClouds === undefined && fromSecure === undefined) {
    const why =
      clouds === undefined
        ? `no clouds.yaml found (searched ${searchPath("clouds", sources).join(", ")})`
        : `not in ${clouds.path} (it has: ${Object.keys(clouds.clouds).join(", ") || "none"})`;
    throw new ProviderError("config", `OpenStack cloud "${name}": ${why}`);
  }
  const entry = mergeEntries(fromClouds, fromSecure);
  // openstackclient lets a password stay out of the file: OS_PASSWORD / the secret fill the gap.
  const password = nonEmpty(sources.env.OS_PASSWORD);
  const secret = nonEmpty(sources.env.OS_APPLICATION_CREDENTIAL_SECRET);
  if (entry.auth !== undefined) {
    if (entry.auth.password === undefined && password !== undefined) entry.auth.password = password;
    if (entry.auth.application_credential_secret === undefined && secret !== undefined)
      entry.auth.application_credential_secret = secret;
  }
  const files = [clouds, secure]
    .filter((file): file is FoundFile => file !== undefined)
    .map((file) => file.path)
    .join(" + ");
  const naming: Naming = {
    field: (key) =>
      ["auth_type", "region_name", "interface", "cacert", "verify"].includes(key)
        ? key
        : `auth.${key}`,
    where: `clouds.yaml entry "${name}" (${files})`,
  };
  return credentialsOf(entry, naming, sources.readFile);
}
