/** OpenStack credentials: clouds.yaml + secure.yaml in the standard places, OS_CLOUD, OS_* variables. */
import test from "ava";
import { ProviderError } from "../../src/model/errors.js";
import {
  type CredentialSources,
  type Environment,
  findCredentials,
  searchPath,
} from "../../src/providers/openstack/credentials.js";
import { OPENRC, virtualFiles } from "./openstack-support.js";

const CWD = "/srv/autoscaler";
const HOME = "/home/condor";

function sources(
  env: Environment,
  files: Readonly<Record<string, string>> = {},
): CredentialSources {
  return { env, readFile: virtualFiles(files), cwd: CWD, home: HOME };
}

const CLOUDS_YAML = `
clouds:
  cern:
    auth:
      auth_url: https://keystone.cern.ch/v3
      username: condor
      project_name: cms-batch
      user_domain_name: Default
      project_domain_id: default
    region_name: cern
    interface: internal
    identity_api_version: 3
  other:
    auth:
      auth_url: https://other.example.org:5000
      user_id: 0f2c
      password: other-pw
      project_id: 8a4f
`;

const SECURE_YAML = `
clouds:
  cern:
    auth:
      password: "top-secret"
`;

async function configError(
  t: import("ava").ExecutionContext,
  promise: Promise<unknown>,
): Promise<ProviderError> {
  const error = await t.throwsAsync(promise, { instanceOf: ProviderError });
  if (!(error instanceof ProviderError)) throw new Error("not a ProviderError");
  t.is(error.kind, "config");
  return error;
}

test("the search path: OS_CLIENT_CONFIG_FILE, ./, $XDG_CONFIG_HOME, ~/.config, /etc", (t) => {
  t.deepEqual(
    searchPath("clouds", sources({ OS_CLIENT_CONFIG_FILE: "/opt/c.yaml", XDG_CONFIG_HOME: "/x" })),
    [
      "/opt/c.yaml",
      `${CWD}/clouds.yaml`,
      `${CWD}/clouds.yml`,
      "/x/openstack/clouds.yaml",
      "/x/openstack/clouds.yml",
      `${HOME}/.config/openstack/clouds.yaml`,
      `${HOME}/.config/openstack/clouds.yml`,
      "/etc/openstack/clouds.yaml",
      "/etc/openstack/clouds.yml",
    ],
  );
  t.is(searchPath("secure", sources({}))[0], `${CWD}/secure.yaml`);
});

test("a clouds.yaml entry merged with secure.yaml: the password comes from secure.yaml", async (t) => {
  const found = await findCredentials(
    "cern",
    sources(
      {},
      {
        [`${HOME}/.config/openstack/clouds.yaml`]: CLOUDS_YAML,
        "/etc/openstack/secure.yaml": SECURE_YAML,
      },
    ),
  );
  t.is(found.authUrl, "https://keystone.cern.ch/v3");
  t.deepEqual(found.identity, {
    method: "password",
    user: { name: "condor", domain: { name: "Default" } },
    password: "top-secret",
    project: { name: "cms-batch", domain: { id: "default" } },
  });
  t.is(found.region, "cern");
  t.is(found.interface, "internal");
  t.false(found.insecure);
  t.regex(found.source, /clouds\.yaml entry "cern"/);
  t.regex(found.source, /\.config\/openstack\/clouds\.yaml \+ \/etc\/openstack\/secure\.yaml/);
});

test("secure.yaml wins over clouds.yaml for the same key", async (t) => {
  const clouds = CLOUDS_YAML.replace(
    "project_name: cms-batch",
    "project_name: cms-batch\n      password: stale",
  );
  const found = await findCredentials(
    "cern",
    sources({}, { [`${CWD}/clouds.yaml`]: clouds, [`${CWD}/secure.yaml`]: SECURE_YAML }),
  );
  t.is(found.identity.method === "password" ? found.identity.password : "", "top-secret");
});

test("the first clouds.yaml found is used: ./clouds.yaml before ~/.config and /etc", async (t) => {
  const local = CLOUDS_YAML.replace("https://keystone.cern.ch/v3", "https://local.example/v3");
  const found = await findCredentials(
    "other",
    sources({}, { [`${CWD}/clouds.yaml`]: local, "/etc/openstack/clouds.yaml": "clouds: {}\n" }),
  );
  t.is(found.authUrl, "https://other.example.org:5000");
  t.deepEqual(found.identity, {
    method: "password",
    user: { id: "0f2c" },
    password: "other-pw",
    project: { id: "8a4f" },
  });
});

test("OS_CLIENT_CONFIG_FILE is read first, and must exist when set", async (t) => {
  const found = await findCredentials(
    "other",
    sources(
      { OS_CLIENT_CONFIG_FILE: "/opt/site/clouds.yaml" },
      { "/opt/site/clouds.yaml": CLOUDS_YAML, [`${CWD}/clouds.yaml`]: "clouds: {}\n" },
    ),
  );
  t.is(found.authUrl, "https://other.example.org:5000");
  const error = await configError(
    t,
    findCredentials("other", sources({ OS_CLIENT_CONFIG_FILE: "/opt/nope.yaml" })),
  );
  t.regex(error.message, /OS_CLIENT_CONFIG_FILE=\/opt\/nope\.yaml: no such file/);
});

test("XDG_CONFIG_HOME is searched before ~/.config", async (t) => {
  const found = await findCredentials(
    "other",
    sources({ XDG_CONFIG_HOME: "/xdg" }, { "/xdg/openstack/clouds.yml": CLOUDS_YAML }),
  );
  t.is(found.authUrl, "https://other.example.org:5000");
});

test("without `cloud` in the policy, OS_CLOUD chooses the entry; the policy's choice wins", async (t) => {
  const files = {
    "/etc/openstack/clouds.yaml": CLOUDS_YAML,
    "/etc/openstack/secure.yaml": SECURE_YAML,
  };
  const byEnv = await findCredentials(undefined, sources({ OS_CLOUD: "other" }, files));
  t.is(byEnv.authUrl, "https://other.example.org:5000");
  const byPolicy = await findCredentials("cern", sources({ OS_CLOUD: "other" }, files));
  t.is(byPolicy.authUrl, "https://keystone.cern.ch/v3");
});

test("an unknown cloud names the file and the entries it has", async (t) => {
  const error = await configError(
    t,
    findCredentials("nope", sources({}, { "/etc/openstack/clouds.yaml": CLOUDS_YAML })),
  );
  t.is(
    error.message,
    'OpenStack cloud "nope": not in /etc/openstack/clouds.yaml (it has: cern, other)',
  );
  const none = await configError(t, findCredentials("nope", sources({})));
  t.regex(none.message, /no clouds\.yaml found \(searched \/srv\/autoscaler\/clouds\.yaml, /);
});

test("a missing password is named, and OS_PASSWORD may fill it (as openstackclient does)", async (t) => {
  const files = { "/etc/openstack/clouds.yaml": CLOUDS_YAML };
  const error = await configError(t, findCredentials("cern", sources({}, files)));
  t.is(
    error.message,
    'clouds.yaml entry "cern" (/etc/openstack/clouds.yaml): missing auth.password',
  );
  const filled = await findCredentials("cern", sources({ OS_PASSWORD: "from-env" }, files));
  t.is(filled.identity.method === "password" ? filled.identity.password : "", "from-env");
});

test("the OS_* variables of an openrc file", async (t) => {
  const found = await findCredentials(
    undefined,
    sources({ ...OPENRC, OS_INTERFACE: "internalURL" }),
  );
  t.is(found.authUrl, "http://keystone.test:5000/v3");
  t.deepEqual(found.identity, {
    method: "password",
    user: { name: "demo", domain: { name: "Default" } },
    password: "s3cret-pw",
    project: { name: "demo", domain: { id: "default" } },
  });
  t.is(found.region, "RegionOne");
  t.is(found.interface, "internal");
  t.is(found.source, "OS_* variables");
});

test("OS_* variables: ids instead of names, and legacy OS_TENANT_NAME", async (t) => {
  const byId = await findCredentials(
    undefined,
    sources({
      OS_AUTH_URL: "http://k:5000",
      OS_USER_ID: "u1",
      OS_PASSWORD: "p",
      OS_PROJECT_ID: "p1",
    }),
  );
  t.deepEqual(byId.identity, {
    method: "password",
    user: { id: "u1" },
    password: "p",
    project: { id: "p1" },
  });
  const legacy = await findCredentials(
    undefined,
    sources({
      OS_AUTH_URL: "http://k:5000",
      OS_USERNAME: "u",
      OS_PASSWORD: "p",
      OS_TENANT_NAME: "t",
      OS_USER_DOMAIN_ID: "default",
      OS_PROJECT_DOMAIN_NAME: "Default",
    }),
  );
  t.deepEqual(legacy.identity, {
    method: "password",
    user: { name: "u", domain: { id: "default" } },
    password: "p",
    project: { name: "t", domain: { name: "Default" } },
  });
});

test("everything missing is named at once, by variable, and no secret is printed", async (t) => {
  const error = await configError(
    t,
    findCredentials(
      undefined,
      sources({ OS_AUTH_URL: "http://k:5000", OS_USERNAME: "demo", OS_PASSWORD: "hunter2" }),
    ),
  );
  t.is(
    error.message,
    "OS_* variables: missing OS_USER_DOMAIN_NAME or OS_USER_DOMAIN_ID (the user's domain), OS_PROJECT_NAME or OS_PROJECT_ID",
  );
  t.false(error.message.includes("hunter2"));
});

test("no cloud, no OS_CLOUD and no OS_AUTH_URL: auth (no credentials), saying where they are looked for", async (t) => {
  const error = await t.throwsAsync(findCredentials(undefined, sources({})), {
    instanceOf: ProviderError,
  });
  t.is(error?.kind, "auth");
  if (error === undefined) return;
  t.regex(error.message, /set `cloud` in the policy file or OS_CLOUD/);
  t.regex(error.message, /OS_AUTH_URL is not set/);
});

test("application credentials from OS_* variables (v3applicationcredential, no project scope)", async (t) => {
  const found = await findCredentials(
    undefined,
    sources({
      OS_AUTH_TYPE: "v3applicationcredential",
      OS_AUTH_URL: "https://keystone.example.org:5000/v3",
      OS_APPLICATION_CREDENTIAL_ID: "423f19a4ac1e4f48bbb4180756e6eb6c",
      OS_APPLICATION_CREDENTIAL_SECRET: "rEaqvJka48mpv",
      OS_REGION_NAME: "RegionOne",
    }),
  );
  t.deepEqual(found.identity, {
    method: "application_credential",
    id: "423f19a4ac1e4f48bbb4180756e6eb6c",
    secret: "rEaqvJka48mpv",
  });
});

test("application credentials from clouds.yaml: by name with its user; the secret in secure.yaml", async (t) => {
  const clouds = `
clouds:
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.org:5000
      application_credential_name: monitoring
      username: demo
      user_domain_id: default
`;
  const secure =
    "clouds:\n  appcred:\n    auth:\n      application_credential_secret: rEaqvJka48mpv\n";
  const found = await findCredentials(
    "appcred",
    sources({}, { [`${CWD}/clouds.yaml`]: clouds, [`${CWD}/secure.yaml`]: secure }),
  );
  t.deepEqual(found.identity, {
    method: "application_credential",
    name: "monitoring",
    user: { name: "demo", domain: { id: "default" } },
    secret: "rEaqvJka48mpv",
  });
  // The auth type may be left out when a secret is given.
  const inferred = await findCredentials(
    "appcred",
    sources(
      {},
      {
        [`${CWD}/clouds.yaml`]: clouds.replace("    auth_type: v3applicationcredential\n", ""),
        [`${CWD}/secure.yaml`]: secure,
      },
    ),
  );
  t.is(inferred.identity.method, "application_credential");
});

test("application credential by name without its user is refused, naming the user fields", async (t) => {
  const error = await configError(
    t,
    findCredentials(
      undefined,
      sources({
        OS_AUTH_TYPE: "v3applicationcredential",
        OS_AUTH_URL: "http://k:5000",
        OS_APPLICATION_CREDENTIAL_NAME: "monitoring",
        OS_APPLICATION_CREDENTIAL_SECRET: "xyz-secret",
      }),
    ),
  );
  t.regex(error.message, /missing OS_USERNAME or OS_USER_ID/);
  t.false(error.message.includes("xyz-secret"));
});

test("unsupported auth types and Keystone v2 are refused", async (t) => {
  const token = await configError(
    t,
    findCredentials(undefined, sources({ ...OPENRC, OS_AUTH_TYPE: "v3oidcpassword" })),
  );
  t.regex(token.message, /OS_AUTH_TYPE "v3oidcpassword" is not supported/);
  const v2 = await configError(
    t,
    findCredentials(undefined, sources({ ...OPENRC, OS_IDENTITY_API_VERSION: "2" })),
  );
  t.regex(v2.message, /only Keystone v3/);
});

test("invalid YAML names the file and line but never quotes it (it may hold a password)", async (t) => {
  const broken = "clouds:\n  cern:\n    auth:\n      password: a: b: hunter2\n";
  const error = await configError(
    t,
    findCredentials("cern", sources({}, { [`${CWD}/clouds.yaml`]: broken })),
  );
  t.regex(error.message, /^\/srv\/autoscaler\/clouds\.yaml:4: not valid YAML/);
  t.false(error.message.includes("hunter2"));
});

test("a wrongly typed field names the entry and the field", async (t) => {
  const error = await configError(
    t,
    findCredentials(
      "cern",
      sources({}, { [`${CWD}/clouds.yaml`]: "clouds:\n  cern:\n    auth: [1, 2]\n" }),
    ),
  );
  t.regex(error.message, /clouds\.cern: auth: /);
});

test("cacert is read; verify: false and OS_INSECURE turn verification off", async (t) => {
  const clouds = `${CLOUDS_YAML.replace("    region_name: cern", "    region_name: cern\n    cacert: /etc/pki/cern-ca.pem\n    verify: false")}`;
  const found = await findCredentials(
    "cern",
    sources(
      { OS_PASSWORD: "x" },
      { [`${CWD}/clouds.yaml`]: clouds, "/etc/pki/cern-ca.pem": "-----BEGIN CERTIFICATE-----\n" },
    ),
  );
  t.is(found.ca, "-----BEGIN CERTIFICATE-----\n");
  t.true(found.insecure);
  const env = await findCredentials(undefined, sources({ ...OPENRC, OS_INSECURE: "true" }));
  t.true(env.insecure);
  const missing = await configError(
    t,
    findCredentials(undefined, sources({ ...OPENRC, OS_CACERT: "/nope.pem" })),
  );
  t.regex(missing.message, /OS_CACERT \/nope\.pem: no such file/);
});
