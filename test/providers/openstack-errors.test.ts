/** OpenStack answers → the error taxonomy (quota, capacity, throttled, auth, config, transient). */
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, createServer } from "node:net";
import test from "ava";
import nock from "nock";
import type { ErrorKind } from "../../src/model/errors.js";
import { ProviderError } from "../../src/model/errors.js";
import {
  classifyAnswer,
  classifyNetworkError,
  errorDetail,
  type HttpAnswer,
  parseRetryAfter,
} from "../../src/providers/openstack/errors.js";
import { gotSender, joinUrl } from "../../src/providers/openstack/http.js";
import { fixtureText } from "./openstack-support.js";
import { START } from "./settings.js";

function answer(status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers, body: typeof body === "string" ? body : JSON.stringify(body) };
}

function nova(name: string, code: number, message: string): Record<string, unknown> {
  return { [name]: { code, message } };
}

const CALL = "nova POST /servers";

/** [what, answer, kind, retryAfterSeconds?] */
const TABLE: Array<[string, HttpAnswer, ErrorKind, number?]> = [
  [
    "403 Quota exceeded (sample)",
    answer(403, fixtureText("nova-error_403_quota-exceeded-instances.json")),
    "quota",
  ],
  [
    "403 key pair quota",
    answer(403, nova("forbidden", 403, "Quota exceeded, too many key pairs.")),
    "quota",
  ],
  [
    "403 policy refusal",
    answer(
      403,
      nova("forbidden", 403, "Policy doesn't allow os_compute_api:servers:create to be performed."),
    ),
    "auth",
  ],
  [
    "413 over limit without Retry-After",
    answer(413, nova("overLimit", 413, "Maximum number of ports exceeded")),
    "quota",
  ],
  [
    "413 with body retryAfter (a string, sample)",
    answer(413, fixtureText("nova-error_413_overLimit-retryAfter_test-faults.json")),
    "throttled",
    4,
  ],
  [
    "413 with a Retry-After header",
    answer(413, nova("overLimit", 413, "This request was rate-limited."), { "retry-after": "12" }),
    "throttled",
    12,
  ],
  [
    "429 without Retry-After",
    answer(429, nova("overLimit", 429, "Too many requests")),
    "throttled",
  ],
  [
    "429 with Retry-After",
    answer(429, "Too Many Requests", { "retry-after": "60" }),
    "throttled",
    60,
  ],
  [
    "401 (after re-auth)",
    answer(401, {
      error: { code: 401, message: "The request you have made requires authentication." },
    }),
    "auth",
  ],
  ["400 flavor", answer(400, nova("badRequest", 400, "Flavor 4 could not be found.")), "config"],
  [
    "400 image",
    answer(
      400,
      nova("badRequest", 400, "Image 70a599e0-31e7-49b7-b260-868f441e862b could not be found."),
    ),
    "config",
  ],
  [
    "400 network",
    answer(
      400,
      nova("badRequest", 400, "Network 3fd3bd07-bc6d-4f5b-9b0c-e1a0a5b5b2a1 could not be found."),
    ),
    "config",
  ],
  ["400 key pair", answer(400, nova("badRequest", 400, "Invalid key_name provided.")), "config"],
  [
    "400 security group",
    answer(400, nova("badRequest", 400, "Unable to find security_group with name or id 'condor'")),
    "config",
  ],
  [
    "404 (sample)",
    answer(404, fixtureText("nova-error_404_itemNotFound_api-guide.json")),
    "config",
  ],
  [
    "406 microversion not supported",
    answer(
      406,
      nova(
        "computeFault",
        406,
        "Version 2.79 is not supported by the API. Minimum is 2.1 and maximum is 2.60.",
      ),
    ),
    "config",
  ],
  [
    "409 ambiguous network",
    answer(
      409,
      nova(
        "conflictingRequest",
        409,
        "Multiple possible networks found, use a Network ID to be more specific.",
      ),
    ),
    "config",
  ],
  [
    "409 server in a transitional state",
    answer(
      409,
      nova(
        "conflictingRequest",
        409,
        "Cannot 'delete' instance 1 while it is in task_state migrating",
      ),
    ),
    "transient",
  ],
  ["500", answer(500, nova("computeFault", 500, "Unexpected API Error.")), "transient"],
  [
    "502 from a proxy (HTML)",
    answer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "transient",
  ],
  ["503", answer(503, nova("serviceUnavailable", 503, "Service Unavailable")), "transient"],
];

for (const [what, given, kind, retryAfter] of TABLE) {
  test(`${what} → ${kind}`, (t) => {
    const error = classifyAnswer(given, CALL, START);
    t.true(error instanceof ProviderError);
    t.is(error.kind, kind);
    t.is(error.retryAfterSeconds, retryAfter);
    t.true(error.message.startsWith(`${CALL}: HTTP ${given.status}: `));
  });
}

test("the message is Nova's, Keystone's, or Glance's text without markup", (t) => {
  t.is(
    errorDetail(fixtureText("nova-error_403_quota-exceeded-instances.json")).message,
    "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances",
  );
  t.deepEqual(errorDetail(fixtureText("nova-error_413_overLimit-retryAfter_test-faults.json")), {
    message: "sorry",
    retryAfter: "4",
  });
  t.is(
    errorDetail(
      JSON.stringify({
        error: { code: 404, title: "Not Found", message: "Could not find project: x." },
      }),
    ).message,
    "Could not find project: x.",
  );
  t.is(
    errorDetail(
      "<html>\n <head><title>404 Not Found</title></head>\n <body>The resource could not be found.</body></html>",
    ).message,
    "404 Not Found The resource could not be found.",
  );
  t.is(errorDetail("").message, "(empty body)");
  t.true(errorDetail("x".repeat(1000)).message.length < 400);
});

test("Retry-After: seconds or an HTTP date", (t) => {
  t.is(parseRetryAfter("4", START), 4);
  t.is(parseRetryAfter(" 1.5 ", START), 2);
  t.is(parseRetryAfter(new Date((START + 90) * 1000).toUTCString(), START), 90);
  t.is(parseRetryAfter(new Date((START - 90) * 1000).toUTCString(), START), 0);
  t.is(parseRetryAfter("soon", START), undefined);
  t.is(parseRetryAfter(undefined, START), undefined);
});

test("network faults are transient; TLS failures are config", (t) => {
  for (const code of [
    "ETIMEDOUT",
    "ECONNRESET",
    "ECONNREFUSED",
    "ENOTFOUND",
    "EAI_AGAIN",
    "EPIPE",
  ]) {
    t.is(
      classifyNetworkError(Object.assign(new Error("x"), { code }), CALL).kind,
      "transient",
      code,
    );
  }
  const tls = classifyNetworkError(
    Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }),
    CALL,
  );
  t.is(tls.kind, "config");
  t.regex(tls.message, /TLS: DEPTH_ZERO_SELF_SIGNED_CERT/);
});

test.serial("a refused connection (real socket, nothing listening) is transient", async (t) => {
  nock.enableNetConnect("127.0.0.1");
  // A port that was just free: bind, read it, close.
  const port = await new Promise<number>((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const found = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(found));
    });
  });
  const send = gotSender({ timeoutMs: 2000 });
  const error = await t.throwsAsync(
    send({ method: "GET", url: `http://127.0.0.1:${port}/v2.1/limits`, call: "nova GET /limits" }),
    { instanceOf: ProviderError },
  );
  t.is(error?.kind, "transient");
  t.regex(error?.message ?? "", /nova GET \/limits: ECONNREFUSED/);
  nock.disableNetConnect();
});

test.serial(
  "an endless answer is cut off at the size bound as a transient fault naming the call",
  async (t) => {
    nock.enableNetConnect("127.0.0.1");
    t.teardown(() => nock.disableNetConnect());
    let sent = 0;
    const server = createHttpServer((_request, response) => {
      response.writeHead(200, { "Content-Type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      // No Content-Length, and no end: only the bound stops the reader.
      const pump = () => {
        while (sent < 64 * 1024 * 1024 && response.write(chunk)) sent += chunk.length;
        if (sent < 64 * 1024 * 1024) response.once("drain", pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.teardown(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const send = gotSender({ timeoutMs: 30_000, maxAnswerBytes: 1024 * 1024 });
    const error = await t.throwsAsync(
      send({
        method: "GET",
        url: `http://127.0.0.1:${port}/servers`,
        call: "nova GET /servers/detail",
      }),
      { instanceOf: ProviderError },
    );
    t.is(error?.kind, "transient");
    t.is(error?.message, "nova GET /servers/detail: the answer is larger than 1 MB; not read");
    t.true(sent < 64 * 1024 * 1024, "the server was not read to its end");
  },
);

/** CPU milliseconds `work` takes. */
function cpuMs(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / 1000;
}

test("a 1 MB body of '<' without '>' is read in linear time", (t) => {
  let message = "";
  // `<[^>]*>` scanned to the end of the body from every '<': minutes of CPU.
  const spent = cpuMs(() => {
    message = errorDetail("<".repeat(1024 * 1024)).message;
  });
  t.true(spent < 5000, `${Math.round(spent)} ms of CPU`);
  t.true(message.startsWith("<<<") && message.length <= 301);
  t.is(errorDetail("<b>Bad <i>gateway</i></b> <<x>").message, "Bad gateway <");
});

test("a Retry-After too long to be a number is unreadable, not a wait for ever", (t) => {
  t.is(parseRetryAfter("9".repeat(400), START), undefined);
  const error = classifyAnswer(
    answer(429, "slow down", { "retry-after": "9".repeat(400) }),
    CALL,
    START,
  );
  t.is(error.kind, "throttled");
  t.is(error.retryAfterSeconds, undefined);
});

test("joinUrl puts one slash between base and path, in linear time on a URL of 1 M slashes", (t) => {
  t.is(
    joinUrl("http://nova:8774/v2.1//", "/servers?limit=1"),
    "http://nova:8774/v2.1/servers?limit=1",
  );
  t.is(joinUrl("http://nova:8774/v2.1", "servers"), "http://nova:8774/v2.1/servers");
  let joined = "";
  // `/\/+$/` tried every slash as the start of the trailing run: minutes of CPU.
  const spent = cpuMs(() => {
    joined = joinUrl(`http://nova${"/".repeat(1024 * 1024)}x`, "servers");
  });
  t.true(spent < 5000, `${Math.round(spent)} ms of CPU`);
  t.true(joined.endsWith("/x/servers"));
});
