/**
 * Shared pieces of the tests against a real OpenStack (Keystone v3, Glance, Placement and Nova with
 * the fake virt driver, as scripts/real-nova/ or ../shared/tools/mini-openstack/ start it on
 * 127.0.0.1). Opt-in: nothing here talks to the network unless CONDOR_AUTOSCALER_REAL_NOVA=1.
 *
 * The tests get their credentials the way a user would give them: a clouds.yaml (entry `it-nova`)
 * with the password in a secure.yaml next to it, found through OS_CLIENT_CONFIG_FILE and
 * OS_CLIENT_SECURE_FILE. Every server they create is named `<pool>-…` with a pool name unique to
 * the run, so `deleteAll(pool)` can remove whatever a failed test left behind.
 */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { wallClock } from "../../src/model/clock.js";
import type { ProviderContext } from "../../src/providers/context.js";
import {
  defaultSources,
  type Environment,
  findCredentials,
} from "../../src/providers/openstack/credentials.js";
import { gotSender, type HttpRequest, type Send } from "../../src/providers/openstack/http.js";
import { KeystoneSession } from "../../src/providers/openstack/keystone.js";
import { OpenStackProvider } from "../../src/providers/openstack/nova.js";
import { openstackProviderSchema } from "../../src/providers/openstack/schema.js";
import { builtCli } from "../cli/run-cli.js";
import { memoryLog } from "../tick/support.js";

export const ENABLED = process.env.CONDOR_AUTOSCALER_REAL_NOVA === "1";
export const HOW_TO_ENABLE =
  "real-Nova integration tests skipped: start a real Nova (scripts/real-nova/README.md) and set CONDOR_AUTOSCALER_REAL_NOVA=1";

/**
 * Where the test peer listens and the demo user's password: the variables scripts/real-nova/up.sh
 * takes, with its defaults. User, project, domain and region are the ones it creates.
 */
export const AUTH_URL = `http://127.0.0.1:${process.env.CA_NOVA_KEYSTONE_PORT ?? "15000"}/v3`;
const PASSWORD = process.env.CA_NOVA_DEMO_PASSWORD ?? "demo";
const USERNAME = "demo";
const PROJECT = "demo";
const REGION = "RegionOne";

/** The clouds.yaml entry the tests write and use. */
export const CLOUD_ENTRY = "it-nova";
export const FLAVOR = "m1.tiny";
export const IMAGE = "cirros-fake";
/** A flavor with more vCPUs than the demo project's whole core quota (4). */
export const BIG_FLAVOR = "m1.xlarge";

/** A pool name of this run: lower-case, short, unique enough (`it` + 6 hex digits). */
export function runPool(): string {
  return `it${randomBytes(3).toString("hex")}`;
}

/**
 * Writes clouds.yaml (no secret in it) and secure.yaml (the password) into `dir`; returns the
 * environment that points OpenStack tools, and this program, at them.
 */
export async function writeCloudsYaml(dir: string): Promise<Record<string, string>> {
  const clouds = join(dir, "clouds.yaml");
  const secure = join(dir, "secure.yaml");
  await writeFile(
    clouds,
    [
      "clouds:",
      `  ${CLOUD_ENTRY}:`,
      "    auth:",
      `      auth_url: ${JSON.stringify(AUTH_URL)}`,
      `      username: ${JSON.stringify(USERNAME)}`,
      `      project_name: ${JSON.stringify(PROJECT)}`,
      "      user_domain_name: Default",
      "      project_domain_name: Default",
      `    region_name: ${JSON.stringify(REGION)}`,
      "    interface: public",
      "    identity_api_version: 3",
      "",
    ].join("\n"),
  );
  await writeFile(
    secure,
    [
      "clouds:",
      `  ${CLOUD_ENTRY}:`,
      "    auth:",
      `      password: ${JSON.stringify(PASSWORD)}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return { OS_CLIENT_CONFIG_FILE: clouds, OS_CLIENT_SECURE_FILE: secure };
}

/** Every request the provider sent, with its status (the body of a POST included). */
export interface SentRequest {
  request: HttpRequest;
  status?: number;
}

export interface NovaProviderSetup {
  pool: string;
  cloud: string;
  /** OS_CLIENT_CONFIG_FILE / OS_CLIENT_SECURE_FILE; nothing else of the process's environment. */
  env: Environment;
  /** Working and home directory: the test's temp dir, so no stray clouds.yaml is found. */
  dir: string;
  provider?: Record<string, unknown>;
  userData?: ProviderContext["userData"];
  /** Awaited after each server Nova accepted (202), before the provider sees the answer. */
  afterCreate?: () => Promise<void>;
}

/** Calls the test transport resent after the peer's SQLite said "database is locked". */
export const peerLocks: string[] = [];

function isPeerLock(request: HttpRequest, answer: { status: number; body: string }): boolean {
  return (
    (request.method === "GET" || request.method === "DELETE") &&
    answer.status === 500 &&
    answer.body.includes("OperationalError")
  );
}

/** An OpenStackProvider on the wall clock and the real network, with its log and requests kept. */
export function novaProvider(setup: NovaProviderSetup) {
  const { log, records, messages } = memoryLog();
  const settings = openstackProviderSchema.parse({
    kind: "openstack",
    cloud: CLOUD_ENTRY,
    flavor: FLAVOR,
    image: IMAGE,
    networks: "none",
    ...setup.provider,
  });
  const context: ProviderContext = {
    pool: setup.pool,
    cloud: setup.cloud,
    shape: { cpus: 1, memoryMb: 512, gpus: 0 },
    clock: wallClock,
    log,
    userData: setup.userData ?? (async () => undefined),
  };
  const sent: SentRequest[] = [];
  const network = gotSender({ timeoutMs: 30_000 });
  const send: Send = async (request) => {
    const entry: SentRequest = { request };
    sent.push(entry);
    let answer = await network(request);
    // The peer's own fault, not Nova's behaviour: a peer on SQLite (a developer's older
    // scripts/real-nova state) answers 500 "database is locked" now and then. A GET or DELETE is
    // resent (POST never is).
    for (let again = 1; again <= 3 && isPeerLock(request, answer); again += 1) {
      peerLocks.push(`${request.method} ${new URL(request.url).pathname}`);
      await new Promise((resolve) => setTimeout(resolve, 500 * again));
      answer = await network(request);
    }
    entry.status = answer.status;
    const create = request.method === "POST" && new URL(request.url).pathname.endsWith("/servers");
    if (create && answer.status === 202) await setup.afterCreate?.();
    return answer;
  };
  const provider = new OpenStackProvider(settings, context, {
    env: setup.env,
    cwd: setup.dir,
    home: setup.dir,
    send,
  });
  return { provider, records, messages, sent };
}

/** A server as GET /servers/detail shows it (what the tests look at). */
export interface RawServer {
  id: string;
  name: string;
  status: string;
  metadata?: Record<string, string>;
  "OS-EXT-STS:task_state"?: string | null;
}

/**
 * Nova without the adapter: the tests' own view, to check what the provider did and to clean up.
 * Uses the same credentials (clouds.yaml) and Keystone session code.
 */
export class RawNova {
  private session: Promise<KeystoneSession> | undefined;
  private static readonly HEADERS = { "openstack-api-version": "compute 2.79" };

  constructor(
    private readonly env: Environment,
    private readonly dir: string,
  ) {}

  /** Forgets the token (and its catalog): the next call authenticates again. */
  reset(): void {
    this.session = undefined;
  }

  private keystone(): Promise<KeystoneSession> {
    this.session ??= (async () => {
      const credentials = await findCredentials(CLOUD_ENTRY, {
        ...defaultSources(),
        env: this.env,
        cwd: this.dir,
        home: this.dir,
      });
      return new KeystoneSession(credentials, {
        send: gotSender({ timeoutMs: 30_000 }),
        clock: wallClock,
        interface: credentials.interface ?? "public",
        ...(credentials.region === undefined ? {} : { region: credentials.region }),
      });
    })();
    return this.session;
  }

  private async call(method: "GET" | "DELETE", path: string) {
    const session = await this.keystone();
    return session.request("compute", { method, path, headers: RawNova.HEADERS });
  }

  /** GET /limits → limits.absolute. */
  async limits(): Promise<Record<string, number>> {
    const answer = await this.call("GET", "/limits");
    if (answer.status !== 200) throw new Error(`GET /limits: HTTP ${answer.status}`);
    return (JSON.parse(answer.body) as { limits: { absolute: Record<string, number> } }).limits
      .absolute;
  }

  /** Every server of the project whose name starts with `prefix`. */
  async servers(prefix: string): Promise<RawServer[]> {
    const name = encodeURIComponent(`^${prefix}`);
    const answer = await this.call("GET", `/servers/detail?name=${name}&limit=1000`);
    if (answer.status !== 200) throw new Error(`GET /servers/detail: HTTP ${answer.status}`);
    const servers = (JSON.parse(answer.body) as { servers: RawServer[] }).servers;
    return servers.filter((server) => server.name.startsWith(prefix));
  }

  /** One server, or undefined when Nova answers 404. */
  async server(id: string): Promise<RawServer | undefined> {
    const answer = await this.call("GET", `/servers/${encodeURIComponent(id)}`);
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw new Error(`GET /servers/${id}: HTTP ${answer.status}`);
    return (JSON.parse(answer.body) as { server: RawServer }).server;
  }

  /**
   * Deletes every server whose name starts with `prefix` (and whose id is in `only`, when given),
   * one at a time, and waits until Nova forgets them. A loaded peer may fail a delete (a 500,
   * or the server back in ERROR): up to three rounds.
   */
  async deleteAll(prefix: string, only?: ReadonlySet<string>): Promise<string[]> {
    const names = new Set<string>();
    const mine = async () =>
      (await this.servers(prefix)).filter((server) => only === undefined || only.has(server.id));
    for (let round = 1; ; round += 1) {
      const servers = await mine();
      if (servers.length === 0) return [...names];
      const failed: string[] = [];
      for (const server of servers) {
        names.add(server.name);
        if (server["OS-EXT-STS:task_state"] === "deleting") continue;
        const answer = await this.call("DELETE", `/servers/${encodeURIComponent(server.id)}`);
        if (![202, 204, 404].includes(answer.status))
          failed.push(`DELETE ${server.name}: HTTP ${answer.status}`);
      }
      try {
        await until(`servers ${prefix}* gone`, mine, (left) => left.length === 0, 20_000);
        return [...names];
      } catch (error) {
        if (round === 3) {
          const why = error instanceof Error ? error.message : String(error);
          throw new Error([why, ...failed].join("; "));
        }
      }
    }
  }
}

/**
 * Calls `probe` every `intervalMs` until `done` accepts what it returns; throws after `timeoutMs`
 * with the last value seen. Every value seen is passed to `seen` (to record a progression).
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 500,
  seen?: (value: T) => void,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    seen?.(value);
    if (done(value)) return value;
    if (Date.now() >= deadline)
      throw new Error(`${what}: not within ${timeoutMs / 1000} s (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until Keystone and Nova answer (a restart of the peer takes a while); throws if not. */
export async function waitForNova(nova: RawNova, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      await nova.limits();
      return;
    } catch (error) {
      last = error;
      // A token issued while the peer was starting may have a catalog without Nova yet.
      nova.reset();
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? last.message : String(last);
      throw new Error(
        `no real Nova answering at ${AUTH_URL} (${why}); start it or unset CONDOR_AUTOSCALER_REAL_NOVA`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export const ROOT = join(import.meta.dirname, "../..");

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  records: Array<Record<string, unknown>>;
  ms: number;
}

/** `condor-autoscaler <args>` in a child process (the built code), with `env` added to ours. */
export function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 90_000,
): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [builtCli(), ...args],
      { cwd: ROOT, timeout: timeoutMs, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        const records = stdout
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        resolve({ code, stdout, stderr, records, ms: Date.now() - started });
      },
    );
  });
}
