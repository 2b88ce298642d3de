/**
 * Docker Engine API failures → the error taxonomy, with the rejections dockerode really makes: a
 * local HTTP server answers as the engine does (its status and a `{"message": …}` body), and the
 * socket errors come from real sockets (a closed port, a missing or forbidden unix socket).
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import Docker from "dockerode";
import { type ErrorKind, ProviderError } from "../../src/model/errors.js";
import {
  classifyDockerError,
  engineMessage,
  isNameConflict,
  statusOf,
} from "../../src/providers/docker/errors.js";

/** The host name the provider would give the endpoint (logs, backoff scope `host=<name>`). */
const HOST = "docker1";

interface EngineAnswer {
  status: number;
  /** The engine's error message, sent as `{"message": …}`; a string body is sent as it is. */
  message?: string;
  body?: string;
  contentType?: string;
}

interface FakeEngine {
  docker: Docker;
  /** `METHOD /path` of each request, without the query. */
  requests: string[];
}

/** A Docker Engine stand-in on 127.0.0.1 that gives `answer` to every request. */
async function fakeEngine(t: ExecutionContext, answer: EngineAnswer): Promise<FakeEngine> {
  const requests: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests.push(`${request.method} ${(request.url ?? "").split("?")[0]}`);
    request.resume();
    request.on("end", () => {
      const body =
        answer.body ??
        (answer.message === undefined ? "" : JSON.stringify({ message: answer.message }));
      response.writeHead(answer.status, {
        "Content-Type": answer.contentType ?? "application/json",
        Connection: "close",
      });
      // The engine ends its JSON with a newline, as Go's json.Encoder does.
      response.end(answer.body === undefined ? `${body}\n` : body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { docker: new Docker({ host: "127.0.0.1", port, protocol: "http" }), requests };
}

/** What `promise` rejects with; fails the test if it resolves. */
async function rejectionOf(t: ExecutionContext, promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      t.fail(`expected a rejection, got ${JSON.stringify(value)}`);
      return undefined;
    },
    (error: unknown) => error,
  );
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-docker-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

type Call = readonly [path: string, run: (docker: Docker) => Promise<unknown>];

const INSPECT_IMAGE: Call = ["GET /images/pilot:9/json", (d) => d.getImage("pilot:9").inspect()];
const CREATE: Call = [
  "POST /containers/create",
  (d) =>
    d.createContainer({
      name: "test-alpha-k3x9q2",
      Image: "pilot:1",
      HostConfig: { NanoCpus: 1e9, Memory: 1024 },
    }),
];
const START: Call = [
  "POST /containers/test-alpha-k3x9q2/start",
  (d) => d.getContainer("test-alpha-k3x9q2").start(),
];
const LIST: Call = ["GET /containers/json", (d) => d.listContainers({ all: true })];
const INFO: Call = ["GET /info", (d) => d.info()];

interface EngineCase {
  what: string;
  answer: EngineAnswer;
  call: Call;
  kind: ErrorKind;
}

const ENGINE_CASES: EngineCase[] = [
  {
    what: '404 "No such image" (the image was never pulled or built on the host)',
    answer: { status: 404, message: "No such image: pilot:9" },
    call: INSPECT_IMAGE,
    kind: "config",
  },
  {
    what: "404 on create for an image the host does not have",
    answer: { status: 404, message: "No such image: pilot:1" },
    call: CREATE,
    kind: "config",
  },
  {
    what: "400 a memory limit the engine refuses",
    answer: { status: 400, message: "Minimum memory limit allowed is 6MB" },
    call: CREATE,
    kind: "config",
  },
  {
    what: "400 an invalid image reference",
    answer: { status: 400, message: "invalid reference format" },
    call: CREATE,
    kind: "config",
  },
  {
    what: "401 from an authenticating proxy",
    answer: { status: 401, message: "authentication required" },
    call: LIST,
    kind: "auth",
  },
  {
    what: "403 from an authorization plugin",
    answer: {
      status: 403,
      message:
        "authorization denied by plugin opa-docker-authz: request rejected by administrative policy",
    },
    call: CREATE,
    kind: "auth",
  },
  {
    what: "429 too many requests",
    answer: { status: 429, message: "toomanyrequests: too many requests, slow down" },
    call: LIST,
    kind: "throttled",
  },
  {
    what: "500 a runtime failure on start",
    answer: {
      status: 500,
      message:
        'failed to create task for container: failed to create shim task: OCI runtime create failed: unable to start container process: exec: "/user_data": permission denied: unknown',
    },
    call: START,
    kind: "transient",
  },
  {
    what: "500 a generic engine failure",
    answer: { status: 500, message: "Internal Server Error" },
    call: INFO,
    kind: "transient",
  },
  {
    what: '500 "no space left on device" (the host\'s disk is full)',
    answer: {
      status: 500,
      message: "mkdir /var/lib/docker/overlay2/6f1c0e2a9b7d-init: no space left on device",
    },
    call: CREATE,
    kind: "capacity",
  },
  {
    what: '500 "cannot allocate memory"',
    answer: {
      status: 500,
      message: "fork/exec /usr/bin/runc: cannot allocate memory",
    },
    call: START,
    kind: "capacity",
  },
  {
    what: "503 from a daemon shutting down",
    answer: { status: 503, message: "daemon is shutting down" },
    call: LIST,
    kind: "transient",
  },
];

for (const { what, answer, call, kind } of ENGINE_CASES) {
  const [path, run] = call;
  test(`engine answer ${what} is ${kind}`, async (t) => {
    const engine = await fakeEngine(t, answer);
    const rejection = await rejectionOf(t, run(engine.docker));
    t.deepEqual(engine.requests, [path], "dockerode asked the fake engine, once");

    t.is(statusOf(rejection), answer.status);
    t.is(engineMessage(rejection), answer.message ?? "");
    const error = classifyDockerError(rejection, path, HOST);
    t.true(error instanceof ProviderError);
    t.is(error.kind, kind);
    t.is(error.cause, rejection);
    t.is(error.message, `docker ${HOST}: ${path}: HTTP ${answer.status}: ${answer.message}`);
    if (kind === "transient") t.is(error.scope, `host=${HOST}`);
    else t.is(error.scope, undefined, "only a transient failure is scoped to its host");
    t.false(isNameConflict(rejection));
  });
}

test("a 409 name conflict on create is recognised as one, with the engine's own message", async (t) => {
  const message =
    'Conflict. The container name "/test-alpha-k3x9q2" is already in use by container "0f3c5a8d2b1e". You have to remove (or rename) that container to be able to reuse that name.';
  const engine = await fakeEngine(t, { status: 409, message });
  const rejection = await rejectionOf(t, CREATE[1](engine.docker));
  t.deepEqual(engine.requests, ["POST /containers/create"]);
  t.true(isNameConflict(rejection));
  t.is(statusOf(rejection), 409);
  // The engine's message, not dockerode's "(HTTP code 409) unexpected - …" wrapping of it.
  t.is(engineMessage(rejection), message);
  const error = classifyDockerError(rejection, "POST /containers/create", HOST);
  t.regex(error.message, /already in use by container "0f3c5a8d2b1e"/);
});

test("a 409 that is not about the name (removal in progress) is no name conflict", async (t) => {
  const engine = await fakeEngine(t, {
    status: 409,
    message: "removal of container test-alpha-k3x9q2 is already in progress",
  });
  const rejection = await rejectionOf(
    t,
    engine.docker.getContainer("test-alpha-k3x9q2").remove({ force: true }),
  );
  t.deepEqual(engine.requests, ["DELETE /containers/test-alpha-k3x9q2"]);
  t.is(statusOf(rejection), 409);
  t.false(isNameConflict(rejection));
});

test("a name-conflict message with another status is no name conflict", async (t) => {
  const engine = await fakeEngine(t, {
    status: 500,
    message: 'Conflict. The container name "/x" is already in use by container "abc".',
  });
  const rejection = await rejectionOf(t, CREATE[1](engine.docker));
  t.false(isNameConflict(rejection));
  t.is(classifyDockerError(rejection, "POST /containers/create", HOST).kind, "transient");
});

test("a proxy's HTML error page is transient and keeps dockerode's message", async (t) => {
  const engine = await fakeEngine(t, {
    status: 502,
    body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
    contentType: "text/html",
  });
  const rejection = await rejectionOf(t, LIST[1](engine.docker));
  t.is(statusOf(rejection), 502);
  const error = classifyDockerError(rejection, "GET /containers/json", HOST);
  t.is(error.kind, "transient");
  t.is(error.scope, `host=${HOST}`);
  t.regex(error.message, /^docker docker1: GET \/containers\/json: HTTP 502: .*502 Bad Gateway/);
});

test("a refused connection (nothing listens on the port) is transient for that host", async (t) => {
  const port = await closedPort();
  const docker = new Docker({ host: "127.0.0.1", port, protocol: "http" });
  const rejection = await rejectionOf(t, docker.listContainers({ all: true }));
  t.is(statusOf(rejection), undefined);
  const error = classifyDockerError(rejection, "GET /containers/json", "build.example.org");
  t.is(error.kind, "transient");
  t.is(error.scope, "host=build.example.org");
  t.is(error.cause, rejection);
  t.regex(error.message, /^docker build\.example\.org: GET \/containers\/json: ECONNREFUSED: /);
});

test("a unix socket that does not exist (dockerd not running) is transient for that host", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "docker.sock");
  const docker = new Docker({ socketPath });
  const rejection = await rejectionOf(t, docker.info());
  const error = classifyDockerError(rejection, "GET /info", "local");
  t.is(error.kind, "transient");
  t.is(error.scope, "host=local");
  t.true(error.message.startsWith("docker local: GET /info: ENOENT: "), error.message);
  t.true(error.message.includes(socketPath), "the message names the socket");
});

test("an engine that does not answer within the timeout is transient for that host", async (t) => {
  const server = createServer(() => {
    // Never answers.
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  const docker = new Docker({ host: "127.0.0.1", port, protocol: "http", timeout: 100 });
  const rejection = await rejectionOf(t, docker.info());
  const error = classifyDockerError(rejection, "GET /info", HOST);
  t.is(error.kind, "transient");
  t.is(error.scope, `host=${HOST}`);
});

const isRoot = process.getuid?.() === 0;

// Root ignores file permissions, so a mode-000 socket only refuses a non-root user: as root this
// test is skipped and the next one classifies an error object shaped like the one it would give.
(isRoot ? test.skip : test)(
  "a unix socket we may not use (not in group docker) is auth, not transient",
  async (t) => {
    const dir = await tempDir(t);
    const socketPath = join(dir, "docker.sock");
    const listener = createNetServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener.listen(socketPath, resolve));
    t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())));
    await chmod(socketPath, 0o000);
    const rejection = await rejectionOf(t, new Docker({ socketPath }).info());
    t.is((rejection as { code?: unknown }).code, "EACCES");
    const error = classifyDockerError(rejection, "GET /info", "local");
    t.is(error.kind, "auth");
    t.is(error.scope, undefined);
  },
);

test("EACCES on the socket (as Node reports it to dockerode) is auth", (t) => {
  // Built by hand because these tests may run as root, for whom no socket is forbidden; it has
  // the fields Node's net module gives a refused connect(2) on a unix socket.
  const denied = Object.assign(new Error("connect EACCES /var/run/docker.sock"), {
    errno: -13,
    code: "EACCES",
    syscall: "connect",
    address: "/var/run/docker.sock",
  });
  const error = classifyDockerError(denied, "GET /info", "local");
  t.is(error.kind, "auth");
  t.is(error.scope, undefined);
  t.is(error.message, "docker local: GET /info: EACCES: connect EACCES /var/run/docker.sock");
});

test("a ProviderError is passed through as it is", (t) => {
  const original = new ProviderError("config", "docker local: cannot read /certs/ca.pem");
  t.is(classifyDockerError(original, "GET /info", "local"), original);
});

test("engineMessage and statusOf cope with things that are not dockerode errors", (t) => {
  t.is(engineMessage("a string"), "a string");
  t.is(engineMessage(undefined), "undefined");
  t.is(engineMessage({ json: { message: "" }, message: "dockerode's" }), "dockerode's");
  t.is(statusOf({ statusCode: "404" }), undefined);
  t.is(statusOf(null), undefined);
  t.is(classifyDockerError("boom", "GET /info", "local").kind, "transient");
});

test("rslave propagation refused at start (the host's /cvmfs is a private mount) is config, with the fix", async (t) => {
  const message =
    "error while creating mount source path '/cvmfs': path /cvmfs is mounted on / but it is not a shared or slave mount";
  const engine = await fakeEngine(t, { status: 500, message });
  const error = classifyDockerError(
    await rejectionOf(t, engine.docker.getContainer("c1").start()),
    "POST /containers/c1/start",
    HOST,
  );
  t.is(error.kind, "config");
  t.is(error.scope, undefined);
  t.is(
    error.message,
    `docker docker1: POST /containers/c1/start: HTTP 500: ${message} (make the host's mount shared, or set cvmfsPropagation: none)`,
  );
});

test("a 409 is a name conflict by the engine's words, and a 1 MB 409 message is searched in linear time", (t) => {
  const conflict = (message: string) =>
    Object.assign(new Error("(HTTP code 409) unexpected"), { statusCode: 409, json: { message } });
  t.true(
    isNameConflict(
      conflict(
        'Conflict. The container name "/test-alpha-k3x9q2" is already in use by container "0b1f". You have to remove (or rename) that container to be able to reuse that name.',
      ),
    ),
  );
  t.true(isNameConflict(conflict('the name "/x" is already in use')));
  t.false(isNameConflict(conflict("the image is in use")));
  const before = process.cpuUsage();
  // `name .*` scanned to the end from every "name ": over a minute of CPU.
  t.false(isNameConflict(conflict("name ".repeat(200_000))));
  const cpu = process.cpuUsage(before);
  t.true(
    (cpu.user + cpu.system) / 1000 < 5000,
    `${Math.round((cpu.user + cpu.system) / 1000)} ms of CPU`,
  );
});
