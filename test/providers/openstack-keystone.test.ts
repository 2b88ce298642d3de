/**
 * Keystone v3 over HTTP (nock, built from the Keystone api-ref samples): request bodies, the auth
 * URL with or without /v3, token caching and renewal, catalog selection, 401 → one re-auth.
 */
import test from "ava";
import nock from "nock";
import { KEYSTONE_TOKEN_MARGIN } from "../../src/config/defaults.js";
import { ProviderError } from "../../src/model/errors.js";
import type { OpenStackCredentials } from "../../src/providers/openstack/credentials.js";
import { gotSender } from "../../src/providers/openstack/http.js";
import {
  authBody,
  type Catalog,
  KeystoneSession,
  selectEndpoint,
  tokensUrl,
} from "../../src/providers/openstack/keystone.js";
import { ManualClock } from "../../src/sim/clock.js";
import { memoryLog } from "../tick/support.js";
import { isolateNock } from "./nock-hooks.js";
import {
  fixture,
  KEYSTONE,
  keystone,
  NOVA_HOST,
  NOVA_PATH,
  SAMPLE_TOKEN,
  sampleCatalog,
  TOKENS_PATH,
  tokenBody,
} from "./openstack-support.js";
import { START } from "./settings.js";

isolateNock(test);

const PASSWORD: OpenStackCredentials = {
  authUrl: `${KEYSTONE}/v3/`,
  identity: {
    method: "password",
    user: { name: "demo", domain: { id: "default" } },
    password: "s3cret-pw",
    project: { name: "demo", domain: { id: "default" } },
  },
  insecure: false,
  source: "OS_* variables",
};

function session(credentials = PASSWORD, region?: string) {
  const clock = new ManualClock(START);
  const { log, messages } = memoryLog();
  const keystone = new KeystoneSession(credentials, {
    send: gotSender({ timeoutMs: 2000 }),
    clock,
    interface: "public",
    ...(region === undefined ? {} : { region }),
    log,
  });
  return { keystone, clock, messages };
}

// ---- Request shapes ----

test("the auth URL may name /v3 or not, with or without a trailing slash", (t) => {
  for (const url of [
    "http://k:5000",
    "http://k:5000/",
    "http://k:5000/v3",
    "http://k:5000/v3/",
    "http://k:5000/v2.0",
  ]) {
    t.is(tokensUrl(url), "http://k:5000/v3/auth/tokens", url);
  }
  t.is(
    tokensUrl("https://cloud.example/identity/v3"),
    "https://cloud.example/identity/v3/auth/tokens",
  );
  const error = t.throws(() => tokensUrl("keystone:5000"), { instanceOf: ProviderError });
  t.is(error?.kind, "config");
});

test("password by user id and project id: the body of the Keystone sample", (t) => {
  const sample = fixture("keystone_auth_requests_project-id-password.json");
  t.deepEqual(
    authBody({
      method: "password",
      user: { id: "ee4dfb6e5540447cb3741905149d9b6e" },
      password: "devstacker",
      project: { id: "a6944d763bf64ee6a275f1263fae0352" },
    }),
    sample,
  );
});

test("password with a project by name and domain: the body of the Keystone sample", (t) => {
  const sample = fixture("keystone_auth_requests_project-name-password.json");
  t.deepEqual(
    authBody({
      method: "password",
      user: { id: "ee4dfb6e5540447cb3741905149d9b6e" },
      password: "devstacker",
      project: { name: "admin", domain: { id: "default" } },
    }),
    sample,
  );
});

test("application credential by id: the body of the Keystone sample (no scope)", (t) => {
  const sample = fixture("keystone_admin_auth-application-credential-id-request.json");
  t.deepEqual(
    authBody({
      method: "application_credential",
      id: "423f19a4ac1e4f48bbb4180756e6eb6c",
      secret: "rEaqvJka48mpv",
    }),
    sample,
  );
});

// ---- Catalog ----

test("the catalog gives compute and image by interface (sample catalog, RegionOne)", (t) => {
  const catalog = sampleCatalog() as Catalog;
  t.is(
    selectEndpoint(catalog, "compute", "public"),
    "http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352",
  );
  t.is(selectEndpoint(catalog, "image", "internal", "RegionOne"), "http://23.253.248.171:9292");
  // compute_legacy (v2) is another service type and is never taken for compute.
  t.false(selectEndpoint(catalog, "compute", "admin").includes("/v2/"));
});

test("several regions: the configured one is chosen, none configured is an error", (t) => {
  const catalog = sampleCatalog() as Catalog;
  const compute = catalog.find((service) => service.type === "compute");
  if (compute === undefined) throw new Error("no compute in the sample");
  compute.endpoints.push({
    interface: "public",
    region: "RegionTwo",
    region_id: "RegionTwo",
    url: "http://nova.two.example:8774/v2.1",
  });
  t.is(
    selectEndpoint(catalog, "compute", "public", "RegionTwo"),
    "http://nova.two.example:8774/v2.1",
  );
  t.is(
    selectEndpoint(catalog, "compute", "public", "RegionOne"),
    "http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352",
  );
  const ambiguous = t.throws(() => selectEndpoint(catalog, "compute", "public"), {
    instanceOf: ProviderError,
  });
  t.is(ambiguous?.kind, "config");
  t.regex(ambiguous?.message ?? "", /several regions \(RegionOne, RegionTwo\)/);
  const absent = t.throws(() => selectEndpoint(catalog, "compute", "internal", "RegionTwo"), {
    instanceOf: ProviderError,
  });
  t.regex(absent?.message ?? "", /no compute endpoint with interface internal in region RegionTwo/);
});

// ---- Tokens over HTTP ----

test.serial(
  "a token is issued from X-Subject-Token and kept until the margin before expiry",
  async (t) => {
    const { keystone: session_, clock } = session();
    let body: unknown;
    const scope = nock(KEYSTONE)
      .post(TOKENS_PATH, (sent) => {
        body = sent;
        return true;
      })
      .reply(201, tokenBody(START, 3600), { "X-Subject-Token": SAMPLE_TOKEN });
    const token = await session_.currentToken();
    t.is(token.value, SAMPLE_TOKEN);
    t.is(token.renewAt, START + 3600 - KEYSTONE_TOKEN_MARGIN);
    t.deepEqual(body, authBody(PASSWORD.identity));
    scope.done();

    clock.advance(3600 - KEYSTONE_TOKEN_MARGIN - 1);
    t.is(await session_.currentToken(), token, "still cached: no request made");

    clock.advance(1);
    const renewal = nock(KEYSTONE)
      .post(TOKENS_PATH)
      .reply(201, tokenBody(clock.now(), 3600), { "X-Subject-Token": "second-token" });
    t.is((await session_.currentToken()).value, "second-token");
    renewal.done();
  },
);

test.serial(
  "the lifetime is measured on Keystone's clock: a skewed local clock changes nothing",
  async (t) => {
    const { keystone: session_, clock } = session();
    // Keystone's clock is a day behind ours: its expires_at is in our past.
    keystone(START - 86400, 1, 3600);
    const token = await session_.currentToken();
    t.is(token.renewAt, START + 3600 - KEYSTONE_TOKEN_MARGIN);
    clock.advance(60);
    t.is(await session_.currentToken(), token);
  },
);

test.serial("a short-lived token is renewed halfway, not on every call", async (t) => {
  const { keystone: session_ } = session();
  keystone(START, 1, 120);
  const token = await session_.currentToken();
  t.is(token.renewAt, START + 60);
});

test.serial("concurrent calls share one authentication", async (t) => {
  const { keystone: session_ } = session();
  const scope = keystone(START, 1);
  const tokens = await Promise.all([
    session_.currentToken(),
    session_.currentToken(),
    session_.currentToken(),
  ]);
  t.is(tokens[0], tokens[1]);
  t.is(tokens[1], tokens[2]);
  scope.done();
});

test.serial(
  "wrong credentials: Keystone's 401 is `auth`, naming the source, not the password",
  async (t) => {
    const { keystone: session_ } = session();
    nock(KEYSTONE)
      .post(TOKENS_PATH)
      .reply(401, {
        error: {
          code: 401,
          title: "Unauthorized",
          message: "The request you have made requires authentication.",
        },
      });
    const error = await t.throwsAsync(session_.currentToken(), { instanceOf: ProviderError });
    t.is(error?.kind, "auth");
    t.regex(error?.message ?? "", /requires authentication.*OS_\* variables/);
    t.false((error?.message ?? "").includes("s3cret-pw"));
  },
);

test.serial("Keystone's 5xx is transient; a 201 without X-Subject-Token is refused", async (t) => {
  const { keystone: first } = session();
  nock(KEYSTONE).post(TOKENS_PATH).reply(503, "<html><body>Service Unavailable</body></html>");
  const down = await t.throwsAsync(first.currentToken(), { instanceOf: ProviderError });
  t.is(down?.kind, "transient");
  const { keystone: second } = session();
  nock(KEYSTONE).post(TOKENS_PATH).reply(201, tokenBody(START));
  const headless = await t.throwsAsync(second.currentToken(), { instanceOf: ProviderError });
  t.regex(headless?.message ?? "", /no X-Subject-Token/);
});

test.serial(
  "an application credential token (no scope in the request) works the same",
  async (t) => {
    const { keystone: session_ } = session({
      ...PASSWORD,
      identity: {
        method: "application_credential",
        id: "423f19a4ac1e4f48bbb4180756e6eb6c",
        secret: "rEaqvJka48mpv",
      },
    });
    // The sample answer, moved in time and given the compute catalog of the password sample.
    const answer = fixture("keystone_admin_auth-application-credential-response.json");
    const token = answer.token as Record<string, unknown>;
    token.issued_at = "2023-11-14T22:13:20.000000Z";
    token.expires_at = "2023-11-15T22:13:20.000000Z";
    token.catalog = sampleCatalog();
    let body: unknown;
    nock(KEYSTONE)
      .post(TOKENS_PATH, (sent) => {
        body = sent;
        return true;
      })
      .reply(201, answer, { "X-Subject-Token": SAMPLE_TOKEN });
    t.is(await session_.endpoint("compute"), `${NOVA_HOST}${NOVA_PATH}`);
    t.deepEqual(body, fixture("keystone_admin_auth-application-credential-id-request.json"));
  },
);

test.serial(
  "the identity-only catalog of the app-credential sample has no compute: config",
  async (t) => {
    const { keystone: session_ } = session();
    const answer = fixture("keystone_admin_auth-application-credential-response.json");
    (answer.token as Record<string, unknown>).expires_at = "2023-11-15T22:13:20.000000Z";
    nock(KEYSTONE).post(TOKENS_PATH).reply(201, answer, { "X-Subject-Token": SAMPLE_TOKEN });
    const error = await t.throwsAsync(session_.endpoint("compute"), { instanceOf: ProviderError });
    t.is(error?.kind, "config");
    t.regex(error?.message ?? "", /no compute service at all/);
  },
);

test.serial("a 401 from Nova re-authenticates once and retries once", async (t) => {
  const { keystone: session_, messages } = session();
  const auth = nock(KEYSTONE)
    .post(TOKENS_PATH)
    .reply(201, tokenBody(START), { "X-Subject-Token": "old-token" })
    .post(TOKENS_PATH)
    .reply(201, tokenBody(START), { "X-Subject-Token": "new-token" });
  const compute = nock(NOVA_HOST)
    .get(`${NOVA_PATH}/limits`)
    .matchHeader("x-auth-token", "old-token")
    .reply(401, {
      error: { code: 401, message: "The request you have made requires authentication." },
    })
    .get(`${NOVA_PATH}/limits`)
    .matchHeader("x-auth-token", "new-token")
    .reply(200, fixture("nova_limits_limit-get-resp.json"));
  const answer = await session_.request("compute", { method: "GET", path: "/limits" });
  t.is(answer.status, 200);
  auth.done();
  compute.done();
  t.true(messages().some((m) => m.includes("token rejected (401), authenticating again")));
  t.false(messages().some((m) => m.includes("new-token") || m.includes("old-token")));
});

test.serial(
  "a second 401 after re-authentication is `auth`, and nothing is tried a third time",
  async (t) => {
    const { keystone: session_ } = session();
    const auth = keystone(START, 2);
    const compute = nock(NOVA_HOST)
      .get(`${NOVA_PATH}/servers/detail`)
      .times(2)
      .reply(401, {
        error: { code: 401, message: "The request you have made requires authentication." },
      });
    const error = await t.throwsAsync(
      session_.request("compute", { method: "GET", path: "/servers/detail" }),
      { instanceOf: ProviderError },
    );
    t.is(error?.kind, "auth");
    t.regex(error?.message ?? "", /nova GET \/servers\/detail: HTTP 401/);
    auth.done();
    compute.done();
  },
);
