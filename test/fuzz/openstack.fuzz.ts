/**
 * OpenStack: the answer readers (errorDetail, parseRetryAfter, classifyAnswer, parseAnswer) on
 * any answer, and the provider's list, launch, terminate and headroom over a fake transport
 * (`Send`) that plays a script of answers: the real Keystone/Nova/Glance samples of
 * test/fixtures/openstack in the order the call needs them, with edits at random places. Only a
 * ProviderError may come out, and none may hide a TypeError or RangeError of the adapter.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { z } from "zod";
import { ERROR_KINDS, ProviderError } from "../../src/model/errors.js";
import {
  classifyAnswer,
  classifyNetworkError,
  errorDetail,
  type HttpAnswer,
  parseRetryAfter,
} from "../../src/providers/openstack/errors.js";
import { parseAnswer, type Send } from "../../src/providers/openstack/http.js";
import { OpenStackProvider } from "../../src/providers/openstack/nova.js";
import { openstack, ourServer, SAMPLE_TOKEN, tokenBody } from "../providers/openstack-support.js";
import { START } from "../providers/settings.js";
import {
  COMMON_STATUSES,
  checkInstances,
  describeEdits,
  editedScript,
  expect,
  type FuzzTarget,
  hiddenCrash,
  Input,
  launchOutcome,
  ODD_HEADER_VALUES,
  outcomeOf,
  PROTOTYPE_WORDS,
  property,
  type Reply,
  randomJson,
  randomText,
  renderReplies,
  replyEdit,
  sabotageError,
  terminateOutcome,
  Violation,
} from "./support.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/openstack");
const SAMPLES = readdirSync(FIXTURES)
  .filter((name) => name.endsWith(".json") || name.endsWith(".txt"))
  .sort()
  .map((name) => ({ name, text: readFileSync(join(FIXTURES, name), "utf8") }));
const SAMPLE_TEXTS = SAMPLES.map((sample) => sample.text);

function sample(name: string): string {
  const found = SAMPLES.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no sample ${name}`);
  return found.text;
}

/** Called through this object, so that sabotage can replace them. */
const subjects = { errorDetail, parseRetryAfter, classifyAnswer, parseAnswer };

function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

// ---- the answer readers ----

const answerBody = fc.oneof(
  fc.constantFrom(...SAMPLES).map((s) => s.text),
  randomText.map((input) => input.value),
  randomJson.map((input) => input.value),
  fc
    .array(
      fc.constantFrom("<html>", "<body>", "<h1>", "</h1>", "<", ">", "Error", " ", "\n", "503"),
      {
        maxLength: 80,
      },
    )
    .map((parts) => parts.join("")),
);

const httpAnswer = fc
  .record({
    status: fc.oneof(fc.constantFrom(...COMMON_STATUSES), fc.integer({ min: 0, max: 999 })),
    retryAfter: fc.option(fc.oneof(fc.constantFrom(...ODD_HEADER_VALUES), fc.string()), {
      nil: undefined,
    }),
    list: fc.boolean(),
    body: answerBody,
  })
  .map(({ status, retryAfter, list, body }) => {
    const headers: Record<string, string | string[]> = {};
    if (retryAfter !== undefined) headers["retry-after"] = list ? [retryAfter, "5"] : retryAfter;
    const answer: HttpAnswer = { status, headers, body };
    return new Input("answer", answer, (value) => JSON.stringify(value));
  });

/** A schema like the adapter's: a list of objects with string ids. */
const listShape = z.object({
  servers: z.array(z.object({ id: z.string().min(1), name: z.string() })),
});

function checkKind(error: ProviderError): void {
  expect(ERROR_KINDS.includes(error.kind), `a ProviderError of kind ${String(error.kind)}`);
  const wait = error.retryAfterSeconds;
  expect(
    wait === undefined || (Number.isFinite(wait) && wait >= 0),
    `retryAfterSeconds is ${wait}`,
  );
  const crash = hiddenCrash(error);
  if (crash !== undefined)
    throw new Violation(
      `a ${crash.name} of the adapter, passed off as a ${error.kind} ProviderError: ${crash.stack ?? crash.message}`,
    );
}

async function checkAnswer(input: Input<HttpAnswer>): Promise<string> {
  const answer = input.value;
  const detail = subjects.errorDetail(answer.body);
  expect(typeof detail.message === "string", "errorDetail gave no message");
  expect(detail.message.length <= 301, `errorDetail's message is ${detail.message.length} long`);
  const retryAfter = answer.headers["retry-after"];
  const header = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  const seconds = subjects.parseRetryAfter(header, START);
  expect(
    seconds === undefined || (Number.isFinite(seconds) && seconds >= 0),
    `parseRetryAfter(${JSON.stringify(header)}) is ${seconds}`,
  );
  checkKind(subjects.classifyAnswer(answer, "nova GET /servers/detail", START));
  return outcomeOf(
    () => subjects.parseAnswer(listShape, answer, "nova GET /servers/detail"),
    ProviderError,
    {
      error: checkKind,
    },
  );
}

// ---- the provider over a scripted transport ----

type Operation = "list" | "launch" | "terminate" | "headroom";

interface OpenStackCase {
  operation: Operation;
  /** Servers to launch, or ids to terminate. */
  count: number;
  /** The answer to every POST /v3/auth/tokens. */
  keystone: Reply;
  /** Nova's and Glance's answers, in the order asked; the last repeats (a stuck endpoint). */
  answers: Reply[];
}

function keystoneSample(): Reply {
  return json(201, tokenBody(START), { "x-subject-token": SAMPLE_TOKEN });
}

function ourPage(ids: readonly string[], next?: string): Reply {
  return json(200, {
    servers: ids.map((id, index) =>
      ourServer(
        id,
        index % 2 === 0
          ? {}
          : { status: "ERROR", fault: { message: "No valid host was found.", code: 500 } },
      ),
    ),
    ...(next === undefined ? {} : { servers_links: [{ href: next, rel: "next" }] }),
  });
}

const SERVER_IDS = ["9168b536-cd40-4630-b43f-b259807c6e87", "f5dc173b-6804-445a-a6d8-c705dad5b5eb"];

/** The answers each operation needs, in order, as a working cloud gives them. */
function baseScript(operation: Operation, count: number): Reply[] {
  switch (operation) {
    case "list":
      return count === 1
        ? [ourPage(SERVER_IDS)]
        : [
            ourPage(
              SERVER_IDS.slice(0, 1),
              `http://nova/v2.1/servers/detail?marker=${SERVER_IDS[0]}`,
            ),
            ourPage(SERVER_IDS.slice(1)),
          ];
    case "launch":
      return [
        { status: 200, headers: {}, body: sample("nova_flavors_flavors-detail-resp.json") },
        { status: 200, headers: {}, body: sample("glance_v2_images-list-response.json") },
        ...Array.from({ length: count }, () => ({
          status: 202,
          headers: {},
          body: sample("nova_servers_server-create-resp.json"),
        })),
      ];
    case "terminate":
      return Array.from({ length: count }, () => ({ status: 204, headers: {}, body: "" }));
    case "headroom":
      return [
        {
          status: 200,
          headers: {},
          body: sample(
            count === 1
              ? "nova_limits_limit-get-resp.json"
              : "nova_limits_v2.57_limit-get-resp.json",
          ),
        },
      ];
  }
}

const HEADERS = ["retry-after", "content-type", "x-subject-token", "x-openstack-request-id"];
const scriptEdits = fc.array(fc.record({ at: fc.nat(), edit: replyEdit(SAMPLES, HEADERS) }), {
  maxLength: 3,
});

function renderCase(value: OpenStackCase): string {
  return `${value.operation} x${value.count}\n=== keystone\n${renderReplies([value.keystone])}\n=== nova/glance\n${renderReplies(value.answers)}`;
}

function openstackCase(kind: string, value: OpenStackCase): Input<OpenStackCase> {
  return new Input(kind, value, renderCase);
}

const providerCase = fc
  .record({
    operation: fc.constantFrom<Operation>("list", "launch", "terminate", "headroom"),
    count: fc.integer({ min: 1, max: 3 }),
    keystoneEdits: fc.oneof(
      { weight: 4, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: scriptEdits },
    ),
    edits: scriptEdits,
  })
  .map(({ operation, count, keystoneEdits, edits }) => {
    const keystone =
      editedScript([keystoneSample()], keystoneEdits, SAMPLE_TEXTS)[0] ?? keystoneSample();
    const answers = editedScript(baseScript(operation, count), edits, SAMPLE_TEXTS);
    return openstackCase(
      `${operation} x${count}, keystone ${describeEdits(keystoneEdits)}, answers ${describeEdits(edits)}`,
      { operation, count, keystone, answers },
    );
  });

/** Calls one case may make: a loop that keeps asking is a hang too. */
const MAX_CALLS = 1000;

function scriptedSend(value: OpenStackCase): Send {
  let next = 0;
  let calls = 0;
  return async (request) => {
    calls += 1;
    if (calls > MAX_CALLS)
      throw new Violation(`more than ${MAX_CALLS} calls: ${request.call} again and again`);
    const isToken = request.url.endsWith("/v3/auth/tokens");
    const reply = isToken
      ? value.keystone
      : value.answers[Math.min(next, value.answers.length - 1)];
    if (!isToken) next += 1;
    if (reply === undefined) throw new Error("an empty script");
    if (reply.fail === true)
      throw classifyNetworkError(
        Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
        request.call,
      );
    return { status: reply.status, headers: { ...reply.headers }, body: reply.body };
  };
}

async function checkProvider(input: Input<OpenStackCase>): Promise<string> {
  const value = input.value;
  const { provider } = openstack({ send: scriptedSend(value), requestTimeoutMs: 2000 });
  const error = { error: checkKind };
  switch (value.operation) {
    case "list":
      return outcomeOf(() => provider.list(), ProviderError, { ...error, value: checkInstances });
    case "launch":
      return launchOutcome(provider, value.count, checkKind);
    case "terminate": {
      const ids = SERVER_IDS.concat(SERVER_IDS).slice(0, value.count);
      return terminateOutcome(provider, ids, checkKind);
    }
    case "headroom":
      return outcomeOf(() => provider.headroom(), ProviderError, {
        ...error,
        value: (headroom) => {
          for (const [key, amount] of Object.entries(headroom))
            expect(typeof amount === "number" && amount >= 0, `headroom ${key} is ${amount}`);
          return "headroom";
        },
      });
  }
}

// ---- large inputs ----

const MB = 1024 * 1024;

function largeCases(): Input<OpenStackCase>[] {
  const keystone = keystoneSample();
  const many = (n: number) =>
    Array.from({ length: n }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
  const tiny = Array.from({ length: 130_000 }, (_, i) => ({ id: `s${i}`, name: "", status: "" }));
  const catalog = (
    tokenBody(START).token as {
      catalog: Array<{ type: string; endpoints: Array<{ url: string }> }>;
    }
  ).catalog;
  for (const service of catalog)
    if (service.type === "compute")
      for (const endpoint of service.endpoints) endpoint.url = `http://nova${"/".repeat(MB)}x`;
  const slashes = json(
    201,
    { token: { ...(tokenBody(START).token as object), catalog } },
    {
      "x-subject-token": SAMPLE_TOKEN,
    },
  );
  return [
    openstackCase("list: a page of 3000 servers of ours (3 MB)", {
      operation: "list",
      count: 1,
      keystone,
      answers: [ourPage(many(3000))],
    }),
    openstackCase("list: a page of 130 k tiny servers (4 MB)", {
      operation: "list",
      count: 1,
      keystone,
      answers: [json(200, { servers: tiny })],
    }),
    openstackCase("launch: 130 k flavors and 130 k images (8 MB)", {
      operation: "launch",
      count: 1,
      keystone,
      answers: [
        json(200, {
          flavors: tiny.map((s) => ({ id: s.id, name: "m1.large", vcpus: 4, ram: 8000 })),
        }),
        json(200, { images: tiny.map((s) => ({ id: s.id, name: "x", status: "active" })) }),
      ],
    }),
    openstackCase("list: a 1 MB error page of '<'", {
      operation: "list",
      count: 1,
      keystone,
      answers: [{ status: 500, headers: { "content-type": "text/html" }, body: "<".repeat(MB) }],
    }),
    openstackCase("list: a 3 MB error message", {
      operation: "list",
      count: 1,
      keystone,
      answers: [
        json(403, { forbidden: { message: "Quota exceeded ".repeat(200_000), code: 403 } }),
      ],
    }),
    openstackCase("list: a catalog URL of 1 M slashes", {
      operation: "list",
      count: 1,
      keystone: slashes,
      answers: [ourPage(SERVER_IDS)],
    }),
    openstackCase("list: servers whose status is a name every object has", {
      operation: "list",
      count: 1,
      keystone,
      answers: [
        json(200, {
          servers: PROTOTYPE_WORDS.map((word, i) =>
            ourServer(many(PROTOTYPE_WORDS.length)[i] ?? "", { status: word }),
          ),
        }),
      ],
    }),
    openstackCase("headroom: a Retry-After of 400 digits", {
      operation: "headroom",
      count: 1,
      keystone,
      answers: [
        json(
          429,
          { overLimit: { message: "slow down", code: 429 } },
          { "retry-after": "9".repeat(400) },
        ),
      ],
    }),
  ];
}

export const target: FuzzTarget = {
  properties: [
    property({
      name: "OpenStack's answer readers classify any status, header and body as a ProviderError, never another throw",
      runs: 1000,
      input: httpAnswer,
      check: checkAnswer,
    }),
    property({
      name: "the OpenStack provider ends list, launch, terminate and headroom in a result or a ProviderError for any Keystone, Nova and Glance answers",
      runs: 500,
      input: providerCase,
      examples: largeCases,
      check: checkProvider,
    }),
  ],
  sabotage() {
    subjects.errorDetail = () => {
      throw sabotageError("errorDetail");
    };
    // Inside the adapter: list lets it out, launch catches it and must not pass it off as transient.
    const raise = () => {
      throw sabotageError("OpenStackProvider");
    };
    Reflect.set(OpenStackProvider.prototype, "toInstance", raise);
    Reflect.set(OpenStackProvider.prototype, "serverTemplate", raise);
  },
};
