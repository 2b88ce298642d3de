/**
 * Shared pieces of the OpenStack tests: the real Keystone/Nova/Glance samples of
 * test/fixtures/openstack (see its PROVENANCE.md), a provider wired to a virtual file system and
 * environment, and nock scopes for the endpoints of the sample catalog.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import nock from "nock";
import type { WorkerShape } from "../../src/model/policy.js";
import type { ProviderContext } from "../../src/providers/context.js";
import type { Environment, ReadFile } from "../../src/providers/openstack/credentials.js";
import type { Send } from "../../src/providers/openstack/http.js";
import { OpenStackProvider } from "../../src/providers/openstack/nova.js";
import { openstackProviderSchema } from "../../src/providers/openstack/schema.js";
import { ManualClock } from "../../src/sim/clock.js";
import { memoryLog } from "../tick/support.js";
import { START } from "./settings.js";

export const FIXTURES = join(import.meta.dirname, "../fixtures/openstack");

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

/** A JSON sample, parsed afresh (callers may change their copy). */
export function fixture(name: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(fixtureText(name));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new Error(`${name}: not a JSON object`);
  return parsed as Record<string, unknown>;
}

/** The token value of the sample raw Keystone answer (its X-Subject-Token header). */
export const SAMPLE_TOKEN = (() => {
  const match = /^X-Subject-Token: (\S+)/m.exec(
    fixtureText("keystone_admin_auth-password-user-name-unscoped-response-HTTP.txt"),
  );
  if (match?.[1] === undefined) throw new Error("no X-Subject-Token in the sample");
  return match[1];
})();

/** Keystone as the test's clouds.yaml / OS_AUTH_URL names it. */
export const KEYSTONE = "http://keystone.test:5000";
export const TOKENS_PATH = "/v3/auth/tokens";
/** Nova and Glance as the sample catalog (project-scoped password token) lists them. */
export const NOVA_HOST = "http://23.253.248.171:8774";
export const NOVA_PATH = "/v2.1/a6944d763bf64ee6a275f1263fae0352";
export const GLANCE_HOST = "http://23.253.248.171:9292";

export const POOL = "cms";
export const CLOUD = "cern";
export const SHAPE: WorkerShape = { cpus: 4, memoryMb: 8000, gpus: 0 };

/** ISO text of epoch seconds, as Keystone writes it (microseconds, Z). */
export function keystoneTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * The sample project-scoped token answer, moved in time: issued at `issuedAt`, valid for
 * `lifetime` seconds. `catalog` replaces the sample catalog when given.
 */
export function tokenBody(
  issuedAt: number,
  lifetime = 3600,
  catalog?: unknown,
): Record<string, unknown> {
  const body = fixture("keystone_admin_auth-password-project-scoped-response.json");
  const token = body.token as Record<string, unknown>;
  token.issued_at = keystoneTime(issuedAt);
  token.expires_at = keystoneTime(issuedAt + lifetime);
  if (catalog !== undefined) token.catalog = catalog;
  return body;
}

/** The sample catalog (13 services, RegionOne, public/internal/admin). */
export function sampleCatalog(): Array<Record<string, unknown>> {
  const token = fixture("keystone_admin_auth-password-project-scoped-response.json").token as {
    catalog: Array<Record<string, unknown>>;
  };
  return token.catalog;
}

/** OS_* variables of an openrc file for the test Keystone. */
export const OPENRC: Environment = {
  OS_AUTH_URL: `${KEYSTONE}/v3`,
  OS_USERNAME: "demo",
  OS_PASSWORD: "s3cret-pw",
  OS_PROJECT_NAME: "demo",
  OS_USER_DOMAIN_NAME: "Default",
  OS_PROJECT_DOMAIN_ID: "default",
  OS_REGION_NAME: "RegionOne",
};

/** A file reader over an in-memory file system. */
export function virtualFiles(files: Readonly<Record<string, string>>): ReadFile {
  return async (path) => files[path];
}

export interface ProviderSetup {
  provider?: Record<string, unknown>;
  pool?: string;
  env?: Environment;
  files?: Readonly<Record<string, string>>;
  userData?: ProviderContext["userData"];
  requestTimeoutMs?: number;
  /** A transport instead of got (for tests that need to watch calls in flight). */
  send?: Send;
}

export function openstack(setup: ProviderSetup = {}) {
  const clock = new ManualClock(START);
  const { log, records, messages } = memoryLog();
  const settings = openstackProviderSchema.parse({
    kind: "openstack",
    flavor: "m1.large",
    image: "cirros-0.3.2-x86_64-disk",
    ...setup.provider,
  });
  const context: ProviderContext = {
    pool: setup.pool ?? POOL,
    cloud: CLOUD,
    shape: SHAPE,
    clock,
    log,
    userData: setup.userData ?? (async (name) => `#!/bin/sh\necho "I am ${name}"\n`),
  };
  let next = 0;
  const provider = new OpenStackProvider(settings, context, {
    env: setup.env ?? OPENRC,
    readFile: virtualFiles(setup.files ?? {}),
    cwd: "/srv/autoscaler",
    home: "/home/condor",
    requestTimeoutMs: setup.requestTimeoutMs ?? 2000,
    ...(setup.send === undefined ? {} : { send: setup.send }),
    shortId: () => {
      next += 1;
      return `0000000${next}`.slice(-8);
    },
  });
  return { provider, clock, log, records, messages, settings };
}

/** Keystone issuing the sample token `times` times (at the clock's time when it is set up). */
export function keystone(issuedAt: number, times = 1, lifetime = 3600): nock.Scope {
  return nock(KEYSTONE)
    .post(TOKENS_PATH)
    .times(times)
    .reply(201, tokenBody(issuedAt, lifetime), { "X-Subject-Token": SAMPLE_TOKEN });
}

export function nova(): nock.Scope {
  return nock(NOVA_HOST);
}

export function glance(): nock.Scope {
  return nock(GLANCE_HOST);
}

/** A server of the GET /servers/detail sample, renamed and marked as ours. */
export function ourServer(
  id: string,
  overrides: Record<string, unknown> = {},
  owner: { pool?: string; cloud?: string } = {},
): Record<string, unknown> {
  const sample = fixture("nova_servers_servers-details-resp.json") as {
    servers: Array<Record<string, unknown>>;
  };
  const server = sample.servers[0];
  if (server === undefined) throw new Error("no server in the sample");
  return {
    ...server,
    id,
    name: `${owner.pool ?? POOL}-${owner.cloud ?? CLOUD}-${id.slice(0, 8)}`,
    metadata: {
      "condor-autoscaler:pool": owner.pool ?? POOL,
      "condor-autoscaler:cloud": owner.cloud ?? CLOUD,
      "managed-by": "condor-autoscaler",
    },
    ...overrides,
  };
}
