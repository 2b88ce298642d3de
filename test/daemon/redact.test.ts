import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import test from "ava";
import type Logger from "bunyan";
import { loadConfig } from "../../src/config/load.js";
import { closeLog, createLog, type LogSettings } from "../../src/daemon/log.js";
import { isSecretKey, REDACTED, redact, redactText } from "../../src/daemon/redact.js";
import { ProviderError } from "../../src/model/errors.js";
import { userDataRenderer } from "../../src/providers/user-data.js";
import { act } from "../../src/tick/act.js";
import { configDir } from "../config/config-dir.js";
import { ScriptedProvider } from "../tick/support.js";

/** A JWT shaped like an HTCondor IDTOKEN: {"alg":"HS256","kid":"POOL"}.{"sub":...}.signature */
const IDTOKEN = [
  Buffer.from('{"alg":"HS256","kid":"POOL"}').toString("base64url"),
  Buffer.from('{"sub":"condor@pool","iat":1700000000,"iss":"cm.example.org"}').toString(
    "base64url",
  ),
  "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
].join(".");

/** Every secret value the records below carry; none may appear in any output. */
const SECRETS = [
  "hunter2-password",
  "plain-token-value",
  "s3cret-keystone",
  IDTOKEN,
  // Parts of the JWT: a partly masked token is still a leak.
  IDTOKEN.split(".")[1] ?? "",
  IDTOKEN.split(".")[2] ?? "",
  "gAAAAABkeystone-x-auth-token",
  "gAAAAABsubject-token",
  "opaque-bearer-credential",
  "AKIAEXAMPLEKEY",
  "wJalrXUtnFEMIsecretaccesskey",
  "pool-password-in-user-data",
  "app-cred-secret",
  "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
];

/** The messages logged, in order; each must come out once, unchanged. */
const MESSAGES = [
  "top-level secrets",
  "keystone request",
  "tick 3 failed: authentication refused",
  "launch user-data",
  "nova answered",
  "child logger record",
  "tls options",
  "secrets inside a message: Authorization: Bearer [REDACTED] and password=[REDACTED]",
];

/** Logs one record of each kind of secret, with non-secret fields alongside. */
function logSecrets(log: Logger): void {
  log.info(
    {
      cloud: "site-os",
      password: "hunter2-password",
      token: "plain-token-value",
      authToken: "plain-token-value",
      idToken: IDTOKEN,
      accessKeyId: "AKIAEXAMPLEKEY",
      secretAccessKey: "wJalrXUtnFEMIsecretaccesskey",
      sessionToken: "plain-token-value",
      application_credential_secret: "app-cred-secret",
      tokenFile: "/etc/condor/autoscaler/worker.token",
      any: { nested: { password: "hunter2-password", kept: "visible-1" } },
    },
    MESSAGES[0],
  );
  log.debug(
    {
      body: {
        auth: {
          identity: {
            methods: ["password"],
            password: {
              user: {
                name: "autoscaler",
                domain: { name: "Default" },
                password: "s3cret-keystone",
              },
            },
          },
          scope: { project: { name: "visible-2" } },
        },
      },
    },
    MESSAGES[1],
  );
  const error = new ProviderError("auth", `token ${IDTOKEN} was refused`);
  log.error({ err: error, cloud: "site-os" }, MESSAGES[2]);
  log.info(
    {
      cloud: "site-os",
      user_data: `TOKEN=${IDTOKEN}\nPOOL=mypool\n`,
      launch: { userData: "TOKEN=pool-password-in-user-data", count: 3 },
    },
    MESSAGES[3],
  );
  log.warn(
    {
      status: 401,
      request: {
        method: "GET",
        url: "https://nova.example.org/v2.1/servers/detail",
        headers: {
          "X-Auth-Token": "gAAAAABkeystone-x-auth-token",
          Authorization: "Bearer opaque-bearer-credential",
          "Content-Type": "application/json",
        },
      },
      response: { headers: { "X-Subject-Token": "gAAAAABsubject-token", "x-trace": "visible-4" } },
    },
    MESSAGES[4],
  );
  log
    .child({ component: "openstack" })
    .info({ credentials: { username: "u", password: "hunter2-password" }, n: 5 }, MESSAGES[5]);
  log.info(
    {
      tls: {
        ca: "-----BEGIN CERTIFICATE-----\nvisible-5\n-----END CERTIFICATE-----",
        cert: "-----BEGIN CERTIFICATE-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END CERTIFICATE-----",
        key: "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
      },
      keyName: "visible-6",
    },
    MESSAGES[6],
  );
  log.info(
    "secrets inside a message: Authorization: Bearer %s and password=%s",
    "opaque-bearer-credential",
    "hunter2-password",
  );
}

/** The non-secret values above; each must survive. */
const KEPT = [
  "site-os",
  "visible-1",
  "visible-2",
  "visible-4",
  "visible-5",
  "visible-6",
  "/etc/condor/autoscaler/worker.token",
  "application/json",
  "autoscaler",
];

function memoryOut(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { out, text: () => chunks.join("") };
}

function assertNoSecret(t: import("ava").ExecutionContext, output: string): void {
  for (const secret of SECRETS) t.false(output.includes(secret), `leaked: ${secret}`);
}

test("JSON logs carry no secret, keep every other field, and every record and message", (t) => {
  const { out, text } = memoryOut();
  logSecrets(createLog({ level: "trace", format: "json" }, out));
  const output = text();
  assertNoSecret(t, output);
  for (const kept of KEPT) t.true(output.includes(kept), `kept: ${kept}`);

  const records = output
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.deepEqual(
    records.map((r) => r.msg),
    MESSAGES,
  );
  const [top, keystone, failed, launch, nova, child, tls] = records;
  t.like(top, {
    cloud: "site-os",
    password: REDACTED,
    token: REDACTED,
    idToken: REDACTED,
    accessKeyId: REDACTED,
    secretAccessKey: REDACTED,
    application_credential_secret: REDACTED,
    any: { nested: { password: REDACTED, kept: "visible-1" } },
  });
  t.like(keystone, {
    body: { auth: { identity: { methods: ["password"], password: REDACTED } } },
  });
  // The error keeps its name, kind and (masked) message; the stack is there, masked too.
  t.like(failed, {
    err: { name: "ProviderError", kind: "auth", message: `token ${REDACTED} was refused` },
  });
  const stack = (failed?.err as { stack?: unknown } | undefined)?.stack;
  t.regex(String(stack), /^ProviderError: token \[REDACTED\] was refused\n/);
  t.like(launch, { user_data: REDACTED, launch: { userData: REDACTED, count: 3 } });
  t.like(nova, {
    status: 401,
    request: {
      headers: {
        "X-Auth-Token": REDACTED,
        Authorization: REDACTED,
        "Content-Type": "application/json",
      },
    },
    response: { headers: { "X-Subject-Token": REDACTED } },
  });
  t.like(child, { component: "openstack", credentials: REDACTED, n: 5 });
  t.like(tls, { tls: { cert: REDACTED, key: REDACTED }, keyName: "visible-6" });
});

test("pretty logs carry no secret and keep every message", (t) => {
  const { out, text } = memoryOut();
  logSecrets(createLog({ level: "trace", format: "pretty" }, out));
  const lines = text().trimEnd().split("\n");
  assertNoSecret(t, text());
  t.is(lines.length, MESSAGES.length);
  MESSAGES.forEach((message, i) => {
    t.true(lines[i]?.endsWith(message), `line ${i}: ${lines[i]}`);
  });
  t.regex(lines[5] ?? "", /\[openstack\] child logger record$/);
});

for (const format of ["json", "pretty"] as const) {
  test(`a ${format} log file carries no secret and every record`, async (t) => {
    const file = join(await mkdtemp(join(tmpdir(), "condor-autoscaler-log-")), "autoscaler.log");
    const settings: LogSettings = { level: "trace", format, file };
    const log = createLog(settings);
    logSecrets(log);
    await closeLog(log);
    const output = await readFile(file, "utf8");
    assertNoSecret(t, output);
    t.is(output.trimEnd().split("\n").length, MESSAGES.length);
    t.true(output.includes(MESSAGES[2] ?? "?"));
  });
}

test("the log level still filters: records below it are not written", (t) => {
  const { out, text } = memoryOut();
  logSecrets(createLog({ level: "info", format: "json" }, out));
  const messages = text()
    .trimEnd()
    .split("\n")
    .map((line) => (JSON.parse(line) as { msg: string }).msg);
  t.deepEqual(
    messages,
    MESSAGES.filter((m) => m !== MESSAGES[1]),
  );
});

test("secret-looking keys are recognised in every spelling; paths and idempotency tokens are not secrets", (t) => {
  for (const key of [
    "password",
    "Passwd",
    "OS_PASSWORD",
    "client_secret",
    "token",
    "X-Auth-Token",
    "x-subject-token",
    "authToken",
    "idToken",
    "authorization",
    "credential",
    "credentials",
    "access_key",
    "accessKeyId",
    "aws_secret_access_key",
    "sessionToken",
    "application_credential_secret",
    "private_key",
    "user_data",
    "UserData",
  ]) {
    t.true(isSecretKey(key), key);
  }
  for (const key of ["tokenFile", "certPath", "ClientToken", "cloud", "kind", "auth", "ca"]) {
    t.false(isSecretKey(key), key);
  }
});

test("strings are masked: bearer tokens, JWTs, private keys, key=value pairs naming a secret", (t) => {
  t.is(redactText("Authorization: Bearer abc.def-ghi"), `Authorization: Bearer ${REDACTED}`);
  t.is(redactText(`CONDOR_TOKEN=${IDTOKEN}\nPOOL=p`), `CONDOR_TOKEN=${REDACTED}\nPOOL=p`);
  t.is(redactText(`got ${IDTOKEN}.`), `got ${REDACTED}.`);
  t.is(
    redactText('{"user": "u", "password": "p\\"w", "x": 1}'),
    `{"user": "u", "password": "${REDACTED}", "x": 1}`,
  );
  t.is(redactText("https://h/v3?token=abc&limit=5"), `https://h/v3?token=${REDACTED}&limit=5`);
  t.is(
    redactText("k: -----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY----- end"),
    `k: ${REDACTED} end`,
  );
  // Look-alikes stay: three dotted parts whose first is not JSON, a URL's scheme, a name.
  t.is(redactText("eyJunk.not.json"), "eyJunk.not.json");
  t.is(redactText("see https://h:5000/v3"), "see https://h:5000/v3");
  t.is(redactText("RunInstances ClientToken=ab12"), "RunInstances ClientToken=ab12");
});

test("redact copies: cycles are cut, errors become objects with their cause, the input is untouched", (t) => {
  const input: Record<string, unknown> = { password: "x", list: [{ token: "y" }, "ok"] };
  input.self = input;
  const cause = new Error(`inner ${IDTOKEN}`);
  input.error = new Error("outer", { cause });
  const output = redact(input) as Record<string, unknown>;
  t.like(output, { password: REDACTED, list: [{ token: REDACTED }, "ok"], self: "[Circular]" });
  t.like(output.error, { message: "outer", cause: { message: `inner ${REDACTED}` } });
  t.is(input.password, "x");
  t.deepEqual(input.list, [{ token: "y" }, "ok"]);
});

test("end to end: an IDTOKEN rendered into user-data is not logged when the cloud echoes the request back", async (t) => {
  const tokenDir = await mkdtemp(join(tmpdir(), "condor-autoscaler-token-"));
  const tokenFile = join(tokenDir, "worker.token");
  await writeFile(tokenFile, `${IDTOKEN}\n`);
  const pilot = await readFile(
    join(import.meta.dirname, "../../examples/pilot/user-data.env.mustache"),
    "utf8",
  );
  const dir = await configDir({
    "autoscaler.yaml": `pool: mypool\ncondor:\n  kind: htcondor\n  headNode: cm.example.org\n  tokenFile: ${tokenFile}\n`,
    "clouds.d/site.yaml": `provider:\n  kind: simulated\nmaxWorkers: 4\nworker:\n  cpus: 4\n  memoryMb: 8000\nuserData: pilot.mustache\n`,
    "clouds.d/pilot.mustache": pilot,
  });
  const config = await loadConfig(dir);
  const cloud = config.clouds[0];
  if (cloud === undefined) return t.fail("no cloud");
  const render = userDataRenderer(config, cloud);
  const rendered = (await render("mypool-site-1a2b3c")) ?? "";
  t.true(rendered.includes(IDTOKEN), "the worker does get the token");

  // A cloud that refuses the launch quoting the request, as some APIs' error messages do.
  const provider = new ScriptedProvider("site", {
    launch: async () => {
      const body = JSON.stringify({ name: "mypool-site-1a2b3c", user_data: rendered });
      throw new ProviderError("config", `invalid request ${body}; user data was:\n${rendered}`);
    },
  });
  for (const format of ["json", "pretty"] as const) {
    const { out, text } = memoryOut();
    const log = createLog({ level: "trace", format }, out);
    const outcomes = await act(
      [{ kind: "launch", cloud: "site", count: 1, reason: "2 idle jobs" }],
      new Map([["site", provider]]),
      { dryRun: false, concurrency: 2 },
      log,
    );
    t.is(outcomes[0]?.error?.kind, "config");
    t.regex(text(), /site: launch answered config: invalid request/);
    t.true(text().includes("mypool-site-1a2b3c"), "the rest of the message is kept");
    assertNoSecret(t, text());
  }
});

test("log format auto is pretty on a terminal and JSON on a pipe or in a file", async (t) => {
  const terminal = memoryOut();
  Object.assign(terminal.out, { isTTY: true });
  createLog({ level: "info", format: "auto" }, terminal.out).info("hello terminal");
  t.regex(terminal.text(), /^\S+ INFO +hello terminal\n$/m);
  t.false(terminal.text().startsWith("{"));

  const pipe = memoryOut();
  createLog({ level: "info", format: "auto" }, pipe.out).info("hello pipe");
  t.is((JSON.parse(pipe.text()) as { msg: string }).msg, "hello pipe");

  const file = join(await mkdtemp(join(tmpdir(), "condor-autoscaler-log-")), "daemon.log");
  const toFile = createLog({ level: "info", format: "auto", file }, terminal.out);
  toFile.info("hello file");
  await closeLog(toFile);
  t.is((JSON.parse(await readFile(file, "utf8")) as { msg: string }).msg, "hello file");
});
