/**
 * The Docker provider's small parts: where the hosts are and how to connect (endpoint.ts), the
 * pilot's shutdown_message (shutdown-message.ts), and which host a new container goes to
 * (placement.ts).
 */
import { execFile } from "node:child_process";
import { appendFile, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import test, { type ExecutionContext } from "ava";
import { DEFAULT_DOCKER_SOCKET } from "../../src/config/defaults.js";
import { type ErrorKind, ProviderError } from "../../src/model/errors.js";
import type { WorkerShape } from "../../src/model/policy.js";
import {
  connectionOptions,
  type DockerEndpoint,
  endpoints,
} from "../../src/providers/docker/endpoint.js";
import {
  type HostLoad,
  type HostRoom,
  roomOn,
  spread,
} from "../../src/providers/docker/placement.js";
import {
  backoffKind,
  exitFault,
  parseShutdownMessage,
  readShutdownMessage,
} from "../../src/providers/docker/shutdown-message.js";

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-docker-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// ---- endpoints() ----

test("hosts of the cloud file are named from their url: unix is local, tcp its host name", (t) => {
  const found = endpoints(
    [
      { url: "unix:///var/run/docker.sock" },
      { url: "tcp://docker1.example.org:2376", tls: { certPath: "/etc/docker-certs" } },
      { url: "tcp://10.1.2.3:2375", maxContainers: 6 },
    ],
    {},
  );
  t.deepEqual(found, [
    { name: "local", url: "unix:///var/run/docker.sock" },
    {
      name: "docker1.example.org",
      url: "tcp://docker1.example.org:2376",
      certPath: "/etc/docker-certs",
    },
    { name: "10.1.2.3", url: "tcp://10.1.2.3:2375", maxContainers: 6 },
  ]);
});

test("a host's own name wins over the one its url would give", (t) => {
  const [host] = endpoints([{ url: "tcp://10.1.2.3:2375", name: "gpu-box" }], {});
  t.is(host?.name, "gpu-box");
});

test("hosts that would share a name are made unique with -2, -3", (t) => {
  const names = endpoints(
    [
      { url: "tcp://docker1.example.org:2375" },
      { url: "tcp://docker1.example.org:2376" },
      { url: "unix:///var/run/docker.sock" },
      { url: "tcp://docker1.example.org:2377" },
      { url: "unix:///run/user/1000/docker.sock" },
    ],
    {},
  ).map((host) => host.name);
  t.deepEqual(names, [
    "docker1.example.org",
    "docker1.example.org-2",
    "local",
    "docker1.example.org-3",
    "local-2",
  ]);
});

test("the cloud file's hosts win over DOCKER_HOST", (t) => {
  const found = endpoints([{ url: "tcp://docker1.example.org:2375" }], {
    DOCKER_HOST: "tcp://other.example.org:2375",
  });
  t.deepEqual(
    found.map((host) => host.url),
    ["tcp://docker1.example.org:2375"],
  );
});

test("without hosts or DOCKER_HOST the local socket is used", (t) => {
  t.deepEqual(endpoints(undefined, {}), [{ name: "local", url: "unix:///var/run/docker.sock" }]);
  t.is(DEFAULT_DOCKER_SOCKET, "unix:///var/run/docker.sock");
  t.deepEqual(endpoints(undefined, { DOCKER_HOST: "  " }), [
    { name: "local", url: DEFAULT_DOCKER_SOCKET },
  ]);
});

test("DOCKER_HOST naming a unix socket is the local host", (t) => {
  t.deepEqual(endpoints(undefined, { DOCKER_HOST: "unix:///run/user/1000/docker.sock" }), [
    { name: "local", url: "unix:///run/user/1000/docker.sock" },
  ]);
});

test("DOCKER_HOST tcp://host:port is that host, without TLS unless DOCKER_TLS_VERIFY is set", (t) => {
  t.deepEqual(endpoints(undefined, { DOCKER_HOST: "tcp://build.example.org:2375" }), [
    { name: "build.example.org", url: "tcp://build.example.org:2375" },
  ]);
  t.deepEqual(
    endpoints(undefined, {
      DOCKER_HOST: "tcp://build.example.org:2375",
      DOCKER_CERT_PATH: "/certs",
      DOCKER_TLS_VERIFY: "",
    }),
    [{ name: "build.example.org", url: "tcp://build.example.org:2375" }],
  );
});

test("a bare host:port in DOCKER_HOST is read as tcp://", (t) => {
  t.deepEqual(endpoints(undefined, { DOCKER_HOST: "build.example.org:2375" }), [
    { name: "build.example.org", url: "tcp://build.example.org:2375" },
  ]);
});

test("DOCKER_TLS_VERIFY uses the certificates of DOCKER_CERT_PATH, else of ~/.docker", (t) => {
  t.deepEqual(
    endpoints(undefined, {
      DOCKER_HOST: "tcp://build.example.org:2376",
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: "/etc/docker-certs",
    }),
    [
      {
        name: "build.example.org",
        url: "tcp://build.example.org:2376",
        certPath: "/etc/docker-certs",
      },
    ],
  );
  t.deepEqual(
    endpoints(undefined, {
      DOCKER_HOST: "tcp://build.example.org:2376",
      DOCKER_TLS_VERIFY: "1",
      HOME: "/home/condor",
    }),
    [
      {
        name: "build.example.org",
        url: "tcp://build.example.org:2376",
        certPath: "/home/condor/.docker",
      },
    ],
  );
});

// ---- connectionOptions() ----

const endpoint = (url: string, extra: Partial<DockerEndpoint> = {}): DockerEndpoint => ({
  name: "h",
  url,
  ...extra,
});

test("a unix endpoint connects through its socket path", async (t) => {
  t.deepEqual(await connectionOptions(endpoint("unix:///var/run/docker.sock"), 5000), {
    socketPath: "/var/run/docker.sock",
    timeout: 5000,
  });
});

test("a tcp endpoint without certificates speaks plain http", async (t) => {
  t.deepEqual(await connectionOptions(endpoint("tcp://docker1.example.org:2375"), 30_000), {
    host: "docker1.example.org",
    port: 2375,
    timeout: 30_000,
    protocol: "http",
  });
});

test("an IPv6 tcp endpoint is given to dockerode without brackets", async (t) => {
  const options = await connectionOptions(endpoint("tcp://[::1]:2375"), 1000);
  t.is(options.host, "::1");
  t.is(options.port, 2375);
});

test("a tcp endpoint with a certificate directory speaks https with its ca, cert and key", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "ca.pem"), "CA PEM\n");
  await writeFile(join(dir, "cert.pem"), "CERT PEM\n");
  await writeFile(join(dir, "key.pem"), "KEY PEM\n");
  const options = await connectionOptions(
    endpoint("tcp://docker1.example.org:2376", { certPath: dir }),
    1000,
  );
  t.is(options.protocol, "https");
  t.is(options.host, "docker1.example.org");
  t.is(options.port, 2376);
  t.is(String(options.ca), "CA PEM\n");
  t.is(String(options.cert), "CERT PEM\n");
  t.is(String(options.key), "KEY PEM\n");
});

test("a missing certificate file is a config error naming the host and the file", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "ca.pem"), "CA PEM\n");
  await writeFile(join(dir, "cert.pem"), "CERT PEM\n");
  const error = await t.throwsAsync(
    connectionOptions(
      endpoint("tcp://docker1.example.org:2376", { name: "docker1", certPath: dir }),
      1000,
    ),
    { instanceOf: ProviderError },
  );
  t.is(error?.kind, "config");
  t.true(error?.message.startsWith("Docker host docker1: cannot read "), error?.message);
  t.true(error?.message.includes(join(dir, "key.pem")), error?.message);
});

test("a url that is neither unix:// nor tcp://host:port is a config error", async (t) => {
  for (const url of [
    "ssh://admin@docker1.example.org",
    "tcp://docker1.example.org",
    "http://x:1",
  ]) {
    const error = await t.throwsAsync(connectionOptions(endpoint(url, { name: "odd" }), 1000), {
      instanceOf: ProviderError,
    });
    t.is(error?.kind, "config", url);
    t.true(error?.message.includes(url), error?.message);
  }
});

// ---- shutdown_message ----

test('"300 No more work" is code 300 with its text', (t) => {
  t.deepEqual(parseShutdownMessage("300 No more work\n"), { code: 300, text: "No more work" });
});

test("only the first line of a shutdown_message counts, trimmed", (t) => {
  t.deepEqual(parseShutdownMessage("  200 Success  \r\n500 ignored\n"), {
    code: 200,
    text: "Success",
  });
  t.deepEqual(parseShutdownMessage("100"), { code: 100, text: "" });
});

test("a shutdown_message that is not NNN text is not understood", (t) => {
  for (const junk of [
    "",
    "\n300 second line",
    "No more work",
    "30 short",
    "3000 long",
    "300-x",
    "abc 300",
  ]) {
    t.is(parseShutdownMessage(junk), undefined, JSON.stringify(junk));
  }
});

test("codes 300 to 699 back off as capacity, 700 to 799 as transient; 100 and 200 do not", (t) => {
  const cases: Array<[number, ErrorKind | undefined]> = [
    [100, undefined],
    [200, undefined],
    [299, undefined],
    [300, "capacity"],
    [500, "capacity"],
    [699, "capacity"],
    [700, "transient"],
    [799, "transient"],
    [800, undefined],
  ];
  for (const [code, expected] of cases)
    t.is(backoffKind({ code, text: "" }), expected, String(code));
});

test("a pilot whose HTCondor failed at start (700) is a transient fault: the cloud backs off, no crash loop", (t) => {
  t.deepEqual(exitFault(1, { code: 700, text: "condor_master exited with status 1" }), {
    message: "exited with code 1; shutdown_message 700 condor_master exited with status 1",
    kind: "transient",
  });
});

test("an exit without a shutdown_message reports its exit code, and no kind", (t) => {
  t.deepEqual(exitFault(137, undefined), { message: "exited with code 137" });
  t.deepEqual(exitFault(undefined, undefined), { message: "exited" });
});

test("an exit with a backing-off shutdown_message is a capacity fault", (t) => {
  t.deepEqual(exitFault(0, { code: 300, text: "No more work" }), {
    message: "exited with code 0; shutdown_message 300 No more work",
    kind: "capacity",
  });
});

test("an exit with a normal shutdown_message carries it without a kind", (t) => {
  t.deepEqual(exitFault(0, { code: 200, text: "Success" }), {
    message: "exited with code 0; shutdown_message 200 Success",
  });
  t.deepEqual(exitFault(undefined, { code: 100, text: "" }), {
    message: "exited; shutdown_message 100",
  });
});

// ---- placement ----

const shape: WorkerShape = { cpus: 2, memoryMb: 4000, gpus: 0 };

const load = (host: string, overrides: Partial<HostLoad> = {}): HostLoad => ({
  host,
  cpus: 16,
  memoryMb: 64_000,
  reservedCpus: 0,
  reservedMemoryMb: 0,
  containers: 0,
  ...overrides,
});

const room = (host: string, fits: number): HostRoom => ({
  host,
  fits,
  freeCpus: fits * shape.cpus,
  freeMemoryMb: fits * shape.memoryMb,
});

test("room on a host is limited by its free cpus", (t) => {
  t.deepEqual(roomOn(load("a", { cpus: 16, reservedCpus: 11 }), shape), {
    host: "a",
    fits: 2,
    freeCpus: 5,
    freeMemoryMb: 64_000,
  });
});

test("room on a host is limited by its free memory", (t) => {
  const found = roomOn(load("a", { memoryMb: 16_000, reservedMemoryMb: 4500 }), shape);
  t.is(found.fits, 2);
  t.is(found.freeMemoryMb, 11_500);
});

test("room on a host is limited by maxContainers", (t) => {
  t.is(roomOn(load("a", { maxContainers: 5, containers: 2 }), shape).fits, 3);
  t.is(roomOn(load("a", { maxContainers: 2, containers: 4 }), shape).fits, 0);
  t.is(roomOn(load("a", { maxContainers: 0 }), shape).fits, 0);
});

test("an over-committed host has no room, never a negative one", (t) => {
  t.deepEqual(roomOn(load("a", { cpus: 4, reservedCpus: 8, reservedMemoryMb: 70_000 }), shape), {
    host: "a",
    fits: 0,
    freeCpus: 0,
    freeMemoryMb: 0,
  });
});

test("a new container goes to the host with the most room", (t) => {
  t.deepEqual(spread([room("a", 1), room("b", 5), room("c", 2)], 1), ["b"]);
});

test("a launch spreads over hosts instead of filling the first", (t) => {
  const chosen = spread([room("a", 3), room("b", 3), room("c", 3)], 6);
  t.deepEqual(chosen, ["a", "b", "c", "a", "b", "c"]);
});

test("a launch levels hosts of unequal room before it spreads evenly", (t) => {
  t.deepEqual(spread([room("a", 1), room("b", 4)], 4), ["b", "b", "b", "a"]);
});

test("a launch stops when no host has room left", (t) => {
  t.deepEqual(spread([room("a", 1), room("b", 2), room("c", 0)], 10), ["b", "a", "b"]);
  t.deepEqual(spread([room("a", 0)], 3), []);
  t.deepEqual(spread([], 3), []);
});

test("ties go to the host whose name sorts first, whatever the order of the rooms", (t) => {
  const forward = spread([room("alpha", 2), room("beta", 2), room("gamma", 2)], 4);
  const backward = spread([room("gamma", 2), room("beta", 2), room("alpha", 2)], 4);
  t.deepEqual(forward, ["alpha", "beta", "gamma", "alpha"]);
  t.deepEqual(backward, forward);
});

// ---- a pilot's shutdown_message is the job's to write: read it as hostile ----

test("a shutdown_message that is a named pipe, a link or huge is read without waiting, following or filling memory", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-joboutputs-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const plain = join(dir, "plain");
  await writeFile(plain, "300 No more work\n");
  t.deepEqual(await readShutdownMessage(plain), { code: 300, text: "No more work" });

  const pipe = join(dir, "pipe");
  await promisify(execFile)("mkfifo", [pipe]);
  t.is(await readShutdownMessage(pipe), undefined, "a pipe: no message, and no wait for a writer");

  const link = join(dir, "link");
  await symlink("/dev/zero", link);
  t.is(await readShutdownMessage(link), undefined, "a link is not followed");
  await symlink(plain, join(dir, "link-to-plain"));
  t.is(await readShutdownMessage(join(dir, "link-to-plain")), undefined);

  const huge = join(dir, "huge");
  await writeFile(huge, `500 ${"x".repeat(50)}\n`);
  await appendFile(huge, Buffer.alloc(32 * 1024 * 1024, 0x61));
  t.deepEqual(await readShutdownMessage(huge), { code: 500, text: "x".repeat(50) });

  t.is(await readShutdownMessage(join(dir, "absent")), undefined);
});
