/**
 * Docker: the error classification (classifyDockerError, engineMessage, isNameConflict) on any
 * rejection dockerode makes, the shutdown_message reader on any file a pilot leaves, and the
 * provider's list, headroom, launch and terminate against engines on 127.0.0.1 that answer from a
 * script: answers in the Engine API's documented shapes, with edits at random places. Only a
 * ProviderError may come out, in the result or thrown, and none may hide a TypeError or
 * RangeError of the adapter.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { ERROR_KINDS, ProviderError } from "../../src/model/errors.js";
import type { ProviderContext } from "../../src/providers/context.js";
import { DockerProvider } from "../../src/providers/docker/docker.js";
import {
  classifyDockerError,
  engineMessage,
  isNameConflict,
  statusOf,
} from "../../src/providers/docker/errors.js";
import { dockerProviderSchema } from "../../src/providers/docker/schema.js";
import {
  exitFault,
  parseShutdownMessage,
  readShutdownMessage,
  SHUTDOWN_MESSAGE_MAX_BYTES,
} from "../../src/providers/docker/shutdown-message.js";
import { ManualClock } from "../../src/sim/clock.js";
import { START } from "../providers/settings.js";
import { memoryLog } from "../tick/support.js";
import {
  applyEdit,
  checkInstances,
  describeEdits,
  editedScript,
  expect,
  type FuzzTarget,
  hiddenCrash,
  Input,
  launchOutcome,
  mutatedSample,
  ODD_NUMBERS,
  outcomeOf,
  PROTOTYPE_WORDS,
  property,
  type Reply,
  type ReplyEdit,
  randomJson,
  randomText,
  renderReplies,
  replyEdit,
  sabotageError,
  terminateOutcome,
  textEdit,
  textInput,
  Violation,
} from "./support.js";

const POOL = "test";
const CLOUD = "alpha";
const PREFIX = `${POOL}-${CLOUD}-`;

/** Called through this object, so that sabotage can replace them. */
const subjects = { classifyDockerError, engineMessage, isNameConflict, parseShutdownMessage };

function checkError(error: ProviderError): void {
  expect(ERROR_KINDS.includes(error.kind), `a ProviderError of kind ${String(error.kind)}`);
  const crash = hiddenCrash(error);
  if (crash !== undefined)
    throw new Violation(
      `a ${crash.name} of the adapter, passed off as a ${error.kind} ProviderError: ${crash.stack ?? crash.message}`,
    );
}

// ---- what dockerode rejects with ----

/**
 * dockerode's rejections: docker-modem's Error with the engine's status and parsed body (or the
 * raw Buffer when it is not JSON), or a socket's Error with its code.
 */
const rejection = fc.oneof(
  fc
    .record({
      message: fc.string(),
      statusCode: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.constantFrom(304, 404, 409, 500)),
      json: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.record({ message: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 2 })) }),
        fc.string().map((text) => Buffer.from(text)),
      ),
      reason: fc.option(fc.string(), { nil: undefined }),
    })
    .map(({ message, ...fields }) => Object.assign(new Error(message), fields)),
  fc
    .record({
      message: fc.oneof(
        fc.string(),
        fc.constantFrom("socket hang up", "connect ECONNREFUSED 127.0.0.1:2375"),
      ),
      code: fc.oneof(
        fc.constantFrom(
          "ECONNREFUSED",
          "ECONNRESET",
          "ENOENT",
          "EACCES",
          "EPERM",
          "CERT_HAS_EXPIRED",
          "ETIMEDOUT",
        ),
        fc.string(),
      ),
    })
    .map(({ message, code }) => Object.assign(new Error(message), { code })),
  fc
    .record({ message: fc.string({ maxLength: 200 }), times: fc.integer({ min: 1, max: 20_000 }) })
    .map(({ message, times }) =>
      Object.assign(new Error("(HTTP code 409) unexpected"), {
        statusCode: 409,
        json: { message: message.repeat(times) },
      }),
    ),
);

async function checkRejection(input: Input<Error>): Promise<string> {
  const error = input.value;
  const message = subjects.engineMessage(error);
  expect(typeof message === "string", "engineMessage gave no string");
  expect(typeof subjects.isNameConflict(error) === "boolean", "isNameConflict gave no boolean");
  const status = statusOf(error);
  expect(status === undefined || typeof status === "number", `statusOf gave ${String(status)}`);
  const classified = subjects.classifyDockerError(error, "POST /containers/create", "h1");
  expect(classified instanceof ProviderError, "classifyDockerError gave no ProviderError");
  checkError(classified);
  return classified.kind;
}

// ---- shutdown_message ----

const SHUTDOWN_SAMPLES = [
  "100 Shutdown as requested\n",
  "200 Success\n",
  "300 No more work\n",
  "400 Site/host/VM is currently banned/disabled\n",
  "500 Missing requirements\n",
  "600 Grid error\n",
  "700 Job failed\r\n",
  "701 HTCondor failed to start\n",
].map((text) => ({ name: JSON.stringify(text), text }));

let scratch: string | undefined;

async function checkShutdownMessage(input: Input<string>): Promise<string> {
  const parsed = subjects.parseShutdownMessage(input.value);
  if (parsed !== undefined) {
    expect(
      Number.isInteger(parsed.code) && parsed.code >= 0 && parsed.code <= 999,
      `code ${parsed.code}`,
    );
    expect(typeof parsed.text === "string", "no text");
  }
  const fault = exitFault(137, parsed);
  expect(typeof fault.message === "string", "a fault without a message");
  // And as the file a pilot leaves, read the way the provider reads it.
  if (scratch === undefined) throw new Error("setup has not run");
  const file = join(scratch, "shutdown_message");
  await writeFile(file, input.value);
  const read = await readShutdownMessage(file);
  await rm(file, { force: true });
  if (read !== undefined)
    expect(read.text.length <= SHUTDOWN_MESSAGE_MAX_BYTES, "read past the bound");
  return parsed === undefined ? "no message" : `code ${Math.floor(parsed.code / 100)}xx`;
}

// ---- the provider against scripted engines ----

type Route = "info" | "list" | "image" | "create" | "start" | "stop" | "remove" | "inspect";
const ROUTES: Route[] = ["info", "list", "image", "create", "start", "stop", "remove", "inspect"];

function routeOf(method: string, path: string): Route | undefined {
  if (method === "GET" && path === "/info") return "info";
  if (method === "GET" && path === "/containers/json") return "list";
  if (method === "GET" && /^\/images\/.+\/json$/.test(path)) return "image";
  if (method === "POST" && path === "/containers/create") return "create";
  if (method === "POST" && /^\/containers\/[^/]+\/start$/.test(path)) return "start";
  if (method === "POST" && /^\/containers\/[^/]+\/stop$/.test(path)) return "stop";
  if (method === "DELETE" && /^\/containers\/[^/]+$/.test(path)) return "remove";
  if (method === "GET" && /^\/containers\/[^/]+\/json$/.test(path)) return "inspect";
  return undefined;
}

function json(status: number, body: unknown): Reply {
  return {
    status,
    headers: { "content-type": "application/json" },
    body: `${JSON.stringify(body)}\n`,
  };
}

const NO_CONTENT: Reply = { status: 204, headers: {}, body: "" };

/** A container of GET /containers/json, as the Engine API documents it. */
function summary(n: number, state: string, status: string, cloud = CLOUD): Record<string, unknown> {
  const name = `${PREFIX}${String(n).padStart(8, "0")}`;
  return {
    Id: `${String(n).padStart(4, "0")}e34656806b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b`,
    Names: [`/${name}`],
    Image: "pilot:1",
    ImageID: "sha256:7e11a3b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    Command: "/user_data",
    Created: START - 3600,
    State: state,
    Status: status,
    Labels: {
      "condor-autoscaler:pool": POOL,
      "condor-autoscaler:cloud": cloud,
      "managed-by": "condor-autoscaler",
      "condor-autoscaler:cpus": "1",
      "condor-autoscaler:memory-mb": "1000",
      "condor-autoscaler:image": "pilot:1",
    },
    NetworkSettings: {
      Networks: { bridge: { IPAddress: `172.17.0.${n}`, Gateway: "172.17.0.1" } },
    },
    Mounts: [],
  };
}

const CONTAINERS = [
  summary(1, "running", "Up 2 hours"),
  summary(2, "exited", "Exited (0) 5 minutes ago"),
  summary(3, "created", "Created"),
  summary(4, "dead", "Dead"),
  summary(5, "running", "Up 1 minute", "beta"),
];
/** Containers whose per-container directory holds a shutdown_message. */
const EXITED = [`${PREFIX}00000002`];

const INFO = {
  ID: "7TRN:IPZB:QYBB:VPBQ:UWYJ:KYQ4:VMIJ:YJPE:T5BE:ZSAM:BSVX:UCAL",
  Containers: 5,
  ContainersRunning: 2,
  Images: 3,
  NCPU: 8,
  MemTotal: 16_777_216_000,
  ServerVersion: "24.0.7",
  OperatingSystem: "Debian GNU/Linux 12 (bookworm)",
};
const IMAGE = {
  Id: "sha256:7e11a3b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
  RepoTags: ["pilot:1"],
  Created: "2024-01-01T00:00:00Z",
};
const INSPECT = {
  Id: "0001e34656806",
  Name: `/${PREFIX}00000001`,
  State: { Status: "running", Running: true },
};

const ANSWER_SAMPLES = [
  { name: "info", text: JSON.stringify(INFO) },
  { name: "containers", text: JSON.stringify(CONTAINERS) },
  { name: "image", text: JSON.stringify(IMAGE) },
  { name: "inspect", text: JSON.stringify(INSPECT) },
  { name: "create", text: JSON.stringify({ Id: "0009e34656806", Warnings: [] }) },
  { name: "no such image", text: JSON.stringify({ message: "No such image: pilot:1" }) },
  {
    name: "name in use",
    text: JSON.stringify({
      message: `Conflict. The container name "/${PREFIX}00000009" is already in use by container "0001e34656806". You have to remove (or rename) that container to be able to reuse that name.`,
    }),
  },
  {
    name: "private mount",
    text: JSON.stringify({
      message: "path /cvmfs is mounted on / but it is not a shared or slave mount",
    }),
  },
  {
    name: "no space",
    text: JSON.stringify({ message: "write /var/lib/docker: no space left on device" }),
  },
];

type Operation = "list" | "headroom" | "launch" | "terminate";

/** One engine's answers per route, in order; the last of each repeats. */
type Engine = Partial<Record<Route, Reply[]>>;

interface DockerCase {
  operation: Operation;
  count: number;
  readOnly: boolean;
  engines: Engine[];
  /** What the exited containers' pilots left in joboutputs/shutdown_message. */
  shutdownMessage: string;
}

function baseEngine(operation: Operation, count: number): Engine {
  const survey: Engine = {
    info: [json(200, INFO)],
    list: [json(200, CONTAINERS)],
    remove: [NO_CONTENT],
  };
  switch (operation) {
    case "list":
    case "headroom":
      return survey;
    case "launch":
      return {
        ...survey,
        image: [json(200, IMAGE)],
        create: Array.from({ length: count }, (_, i) =>
          json(201, { Id: `000${i}e34656806`, Warnings: [] }),
        ),
        start: [NO_CONTENT],
      };
    case "terminate":
      return { inspect: [json(200, INSPECT)], stop: [NO_CONTENT], remove: [NO_CONTENT] };
  }
}

const HEADERS = ["content-type", "api-version", "docker-experimental", "ostype"];

const engineEdits = fc.array(
  fc.record({
    route: fc.constantFrom(...ROUTES),
    at: fc.nat(),
    edit: replyEdit(ANSWER_SAMPLES, HEADERS),
  }),
  { maxLength: 3 },
);

function applyEngineEdits(
  engine: Engine,
  edits: ReadonlyArray<{ route: Route; at: number; edit: ReplyEdit }>,
): Engine {
  const edited: Engine = { ...engine };
  const samples = ANSWER_SAMPLES.map((s) => s.text);
  for (const { route, at, edit } of edits)
    edited[route] = editedScript(
      edited[route] ?? [json(404, { message: "page not found" })],
      [{ at, edit }],
      samples,
    );
  return edited;
}

/**
 * docker-modem (5.0.7, modem.js buildPayload) builds its error message with `'' + cause`, where
 * cause is the body's `message`, else its `error`, else the body itself: an object with a
 * `toString` key that is not a function makes that throw a TypeError inside a socket callback,
 * where no caller can catch it, and the daemon dies. Not this project's code; such bodies are
 * kept out of the inputs (the key is renamed), and the crash is reported instead.
 */
function withoutModemCrash(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body;
  }
  const pick = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return undefined;
    const record = value as Record<string, unknown>;
    return record.message || record.error || value;
  };
  const cause = pick(parsed);
  if (
    typeof cause === "object" &&
    cause !== null &&
    !Array.isArray(cause) &&
    Object.hasOwn(cause, "toString")
  ) {
    const record = cause as Record<string, unknown>;
    record.toString_ = record.toString;
    Reflect.deleteProperty(record, "toString");
    return JSON.stringify(parsed);
  }
  return body;
}

function renderCase(value: DockerCase): string {
  const engines = value.engines.map((engine, index) =>
    ROUTES.filter((route) => engine[route] !== undefined)
      .map((route) => `=== engine ${index} ${route}\n${renderReplies(engine[route] ?? [])}`)
      .join("\n"),
  );
  return `${value.operation} x${value.count}${value.readOnly ? " (read-only)" : ""}\n=== shutdown_message\n${value.shutdownMessage}\n${engines.join("\n")}`;
}

function dockerCase(kind: string, value: DockerCase): Input<DockerCase> {
  return new Input(kind, value, renderCase);
}

const providerCase = fc
  .record({
    operation: fc.constantFrom<Operation>("list", "headroom", "launch", "terminate"),
    count: fc.integer({ min: 1, max: 3 }),
    readOnly: fc.boolean(),
    engines: fc.array(engineEdits, { minLength: 1, maxLength: 2 }),
    shutdownEdits: fc.array(textEdit, { maxLength: 2 }),
  })
  .map(({ operation, count, readOnly, engines, shutdownEdits }) =>
    dockerCase(
      `${operation} x${count} on ${engines.length} engines, answers ${engines.map((e) => describeEdits(e)).join(" / ")}`,
      {
        operation,
        count,
        readOnly,
        engines: engines.map((edits) => applyEngineEdits(baseEngine(operation, count), edits)),
        shutdownMessage: shutdownEdits.reduce(
          (text, edit) =>
            applyEdit(
              text,
              edit,
              SHUTDOWN_SAMPLES.map((s) => s.text),
            ),
          "300 No more work\n",
        ),
      },
    ),
  );

/** Requests one case may make of an engine: a loop that keeps asking is a hang too. */
const MAX_CALLS = 500;

/** An engine on 127.0.0.1 that answers from the case set for it. */
class FakeEngine {
  private script: Engine = {};
  private served = new Map<Route, number>();
  private calls = 0;
  private readonly server: Server;

  constructor() {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      request.on("end", () => this.answer(request, response));
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  play(script: Engine): void {
    this.script = script;
    this.served = new Map();
    this.calls = 0;
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    this.calls += 1;
    const path = (request.url ?? "").split("?")[0] ?? "";
    const route = routeOf(request.method ?? "", path);
    const replies = route === undefined ? undefined : this.script[route];
    const index = route === undefined ? 0 : (this.served.get(route) ?? 0);
    if (route !== undefined) this.served.set(route, index + 1);
    const reply =
      this.calls > MAX_CALLS
        ? json(500, { message: `more than ${MAX_CALLS} requests: a loop` })
        : (replies?.[Math.min(index, replies.length - 1)] ??
          json(404, { message: "page not found" }));
    if (reply.fail === true) {
      request.socket.destroy();
      return;
    }
    const headers: Record<string, string> = { Connection: "close" };
    for (const [name, value] of Object.entries(reply.headers))
      if (/^[A-Za-z0-9-]+$/.test(name) && !/[^\t\x20-\x7e]/.test(value)) headers[name] = value;
    try {
      response.writeHead(reply.status, headers);
    } catch {
      response.writeHead(500, { Connection: "close" });
    }
    response.end(withoutModemCrash(reply.body));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const engines = [new FakeEngine(), new FakeEngine()];
const ports: number[] = [];

async function checkProvider(input: Input<DockerCase>): Promise<string> {
  if (scratch === undefined) throw new Error("setup has not run");
  const value = input.value;
  const workDir = await mkdtemp(join(scratch, "work-"));
  try {
    for (const name of EXITED) {
      await mkdir(join(workDir, name, "joboutputs"), { recursive: true });
      await writeFile(join(workDir, name, "joboutputs", "shutdown_message"), value.shutdownMessage);
    }
    for (const [index, engine] of value.engines.entries()) engines[index]?.play(engine);
    const settings = dockerProviderSchema.parse({
      kind: "docker",
      hosts: value.engines.map((_, index) => ({
        url: `tcp://127.0.0.1:${ports[index]}`,
        name: `h${index + 1}`,
      })),
      image: "pilot:1",
      workDir,
      requestTimeout: "2s",
      stopGrace: "1s",
    });
    let next = 0;
    const context: ProviderContext = {
      pool: POOL,
      cloud: CLOUD,
      shape: { cpus: 1, memoryMb: 1000, gpus: 0 },
      clock: new ManualClock(START),
      log: memoryLog().log,
      readOnly: value.readOnly,
      userData: async (name) => `#!/bin/sh\necho ${name}\n`,
    };
    const provider = new DockerProvider(settings, context, {
      env: {},
      shortId: () => {
        next += 1;
        return String(next).padStart(8, "0");
      },
    });
    const error = { error: checkError };
    switch (value.operation) {
      case "list":
        return await outcomeOf(() => provider.list(), ProviderError, {
          ...error,
          value: checkInstances,
        });
      case "headroom":
        return await outcomeOf(() => provider.headroom(), ProviderError, {
          ...error,
          value: (headroom) => {
            for (const [key, amount] of Object.entries(headroom))
              expect(typeof amount === "number" && amount >= 0, `headroom ${key} is ${amount}`);
            return "headroom";
          },
        });
      case "launch":
        return await launchOutcome(provider, value.count, checkError);
      case "terminate": {
        const ids = CONTAINERS.slice(0, value.count).map((c) =>
          String((c.Names as string[])[0]).slice(1),
        );
        return await terminateOutcome(provider, ids, checkError);
      }
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

// ---- large inputs ----

const MB = 1024 * 1024;

function largeCases(): Input<DockerCase>[] {
  const base = (operation: Operation): DockerCase => ({
    operation,
    count: 1,
    readOnly: true,
    engines: [baseEngine(operation, 1)],
    shutdownMessage: "300 No more work\n",
  });
  const withAnswer = (operation: Operation, route: Route, reply: Reply): DockerCase => {
    const value = base(operation);
    value.engines = [{ ...baseEngine(operation, 1), [route]: [reply] }];
    return value;
  };
  const many = Array.from({ length: 6000 }, (_, i) => summary(i + 10, "running", "Up 1 hour"));
  const labels = { "condor-autoscaler:cloud": CLOUD };
  const tiny = Array.from({ length: 130_000 }, (_, i) => ({
    Names: [`/${i}`],
    Created: 1,
    State: "x",
    Labels: labels,
  }));
  return [
    dockerCase("list: 6000 containers (4 MB)", withAnswer("list", "list", json(200, many))),
    dockerCase(
      "list: 130 k bare containers of ours (11 MB)",
      withAnswer("list", "list", json(200, tiny)),
    ),
    dockerCase(
      "launch: a 1 MB 409 of 'name ' again and again",
      withAnswer("launch", "create", json(409, { message: "name ".repeat(200_000) })),
    ),
    dockerCase(
      "list: a 3 MB error message",
      withAnswer(
        "list",
        "list",
        json(500, { message: "no space left on device ".repeat(130_000) }),
      ),
    ),
    dockerCase(
      "list: a 3 MB body that is not JSON",
      withAnswer("list", "list", { status: 200, headers: {}, body: "[".repeat(3 * MB) }),
    ),
    dockerCase(
      "list: container states that are names every object has",
      withAnswer(
        "list",
        "list",
        json(
          200,
          PROTOTYPE_WORDS.map((word, i) => summary(i + 20, word, "Up 1 hour")),
        ),
      ),
    ),
    dockerCase("list: a 64 KB shutdown_message", {
      ...base("list"),
      readOnly: false,
      shutdownMessage: `300 ${"x".repeat(64 * 1024)}`,
    }),
    dockerCase(
      "headroom: an engine of 1e308 CPUs",
      withAnswer("headroom", "info", json(200, { ...INFO, NCPU: 1e308, MemTotal: 1e308 })),
    ),
  ];
}

export const target: FuzzTarget = {
  properties: [
    property({
      name: "Docker error classification takes any rejection dockerode makes to a ProviderError, never a throw",
      runs: 1000,
      input: rejection.map(
        (error): Input<Error> =>
          new Input<Error>(
            "rejection",
            error,
            (e) => `${e.stack ?? e.message}\n${JSON.stringify(e)}`,
          ),
      ),
      check: checkRejection,
    }),
    property({
      name: "parseShutdownMessage and readShutdownMessage read any shutdown_message a pilot leaves without a throw",
      runs: 800,
      input: fc.oneof(randomText, randomJson, mutatedSample("shutdown_message", SHUTDOWN_SAMPLES)),
      examples: () => [
        textInput("4 MB of digits", "3".repeat(4 * MB)),
        textInput("4 MB without a newline", `300 ${"x".repeat(4 * MB)}`),
        textInput("odd numbers", ODD_NUMBERS.join("\n")),
      ],
      check: checkShutdownMessage,
    }),
    property({
      name: "the Docker provider ends list, headroom, launch and terminate in a result or a ProviderError for any engine answers",
      runs: 200,
      input: providerCase,
      examples: largeCases,
      check: checkProvider,
    }),
  ],
  async setup() {
    scratch = await mkdtemp(join(tmpdir(), "condor-autoscaler-fuzz-docker-"));
    for (const engine of engines) ports.push(await engine.start());
  },
  async teardown() {
    for (const engine of engines) await engine.stop();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  },
  sabotage() {
    subjects.classifyDockerError = () => {
      throw sabotageError("classifyDockerError");
    };
    subjects.parseShutdownMessage = () => {
      throw sabotageError("parseShutdownMessage");
    };
    // Inside the adapter: list lets it out, launch classifies it and must not hide it.
    const raise = () => {
      throw sabotageError("DockerProvider");
    };
    Reflect.set(DockerProvider.prototype, "instanceOf", raise);
    Reflect.set(DockerProvider.prototype, "createAndStart", raise);
  },
};
