/**
 * EC2: the provider's list, launch, terminate and headroom through the real AWS SDK, with nock
 * answering the Query API from a script: the real samples of test/fixtures/aws-ec2 in the order
 * the call needs them, with edits at random places (statuses, cut or flipped XML, spliced lines,
 * other samples, error envelopes of any code). When the script runs out its last answer repeats,
 * as a stuck endpoint would. Only a ProviderError may come out, in the result or thrown, and none
 * may hide a TypeError or RangeError of the adapter. nock is process-wide: one case at a time.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import nock from "nock";
import { ERROR_KINDS, ProviderError } from "../../src/model/errors.js";
import { Ec2Provider } from "../../src/providers/ec2/ec2.js";
import {
  ENDPOINT,
  ec2Provider,
  errorXml,
  runInstancesXml,
  socketError,
  terminateInstancesXml,
} from "../providers/fake-ec2.js";
import {
  checkInstances,
  describeEdits,
  editedScript,
  expect,
  type FuzzTarget,
  hiddenCrash,
  Input,
  launchOutcome,
  outcomeOf,
  PROTOTYPE_WORDS,
  property,
  type Reply,
  renderReplies,
  replyEdit,
  sabotageError,
  terminateOutcome,
  Violation,
} from "./support.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/aws-ec2");
const SAMPLES = readdirSync(FIXTURES)
  .filter((name) => name.endsWith(".xml"))
  .sort()
  .map((name) => ({ name, text: readFileSync(join(FIXTURES, name), "utf8") }));

/** Error codes the adapter knows, and some it does not. */
const CODES = [
  "InstanceLimitExceeded",
  "InsufficientInstanceCapacity",
  "RequestLimitExceeded",
  "UnauthorizedOperation",
  "InvalidParameterValue",
  "InvalidInstanceID.NotFound",
  "InvalidAMIID.Malformed",
  "IdempotentParameterMismatch",
  "ServiceUnavailable",
  "__proto__",
  "constructor",
  "",
  "Throttling\nException",
];
const ERROR_SAMPLES = CODES.map((code) => ({
  name: `error ${code}`,
  text: errorXml(code, `${code} said no`),
}));
const BODIES = [...SAMPLES, ...ERROR_SAMPLES];
const BODY_TEXTS = BODIES.map((body) => body.text);

function sample(name: string): string {
  const found = SAMPLES.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no sample ${name}`);
  return found.text;
}

function xml(body: string, status = 200): Reply {
  return { status, headers: { "content-type": "text/xml;charset=UTF-8" }, body };
}

type Operation = "list" | "launch" | "terminate" | "headroom";

interface Ec2Case {
  operation: Operation;
  /** Instances to launch, or to terminate. */
  count: number;
  /** Placements a launch may try (instance types × subnets). */
  placements: number;
  /** Answers in the order asked; the last repeats (a stuck endpoint). */
  answers: Reply[];
}

const IDS = ["i-0ee0356c", "i-2ba64342", "i-0123456789abcdef0"];
const DESCRIBE = SAMPLES.filter((s) => s.name.startsWith("ec2_describe-instances")).map(
  (s) => s.text,
);

/** What a working EC2 answers, in order, for each operation. */
function baseScript(operation: Operation, count: number, variant: number): Reply[] {
  switch (operation) {
    case "list":
      return variant % 3 === 0
        ? [
            xml(sample("ec2_describe-instances_ours_page1.xml")),
            xml(sample("ec2_describe-instances_ours_page2.xml")),
          ]
        : [xml(DESCRIBE[variant % DESCRIBE.length] ?? "")];
    case "launch":
      return [xml(runInstancesXml(IDS.slice(0, count).map((id) => ({ id }))))];
    case "terminate":
      return [xml(terminateInstancesXml(IDS.slice(0, count)))];
    case "headroom":
      return [xml(sample("ec2_describe-instances_cpu-options.xml"))];
  }
}

function ec2Case(kind: string, value: Ec2Case): Input<Ec2Case> {
  return new Input(
    kind,
    value,
    (v) =>
      `${v.operation} x${v.count} over ${v.placements} placements\n${renderReplies(v.answers)}`,
  );
}

const HEADERS = ["content-type", "retry-after", "x-amzn-requestid", "content-length-x"];

const caseArb = fc
  .record({
    operation: fc.constantFrom<Operation>("list", "launch", "terminate", "headroom"),
    count: fc.integer({ min: 1, max: 3 }),
    placements: fc.integer({ min: 1, max: 3 }),
    variant: fc.nat(),
    edits: fc.array(fc.record({ at: fc.nat(), edit: replyEdit(BODIES, HEADERS, false) }), {
      maxLength: 3,
    }),
  })
  .map(({ operation, count, placements, variant, edits }) =>
    ec2Case(`${operation} x${count}, answers ${describeEdits(edits)}`, {
      operation,
      count,
      placements,
      answers: editedScript(baseScript(operation, count, variant), edits, BODY_TEXTS),
    }),
  );

/** Requests one case may make: a loop that keeps asking is a hang too. */
const MAX_CALLS = 500;

/**
 * The headers an HTTP server can send: a NUL or a line break in a value cannot go on the wire
 * (and nock would throw it at the test instead of the SDK).
 */
function sendable(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(
      ([name, value]) => /^[A-Za-z0-9-]+$/.test(name) && !/[^\t\x20-\x7e]/.test(value),
    ),
  );
}

/** nock answers every EC2 request from the script. */
function serve(value: Ec2Case): void {
  let next = 0;
  nock(ENDPOINT)
    .persist()
    .post("/")
    .reply(async () => {
      next += 1;
      if (next > MAX_CALLS)
        throw socketError("ECONNRESET", `more than ${MAX_CALLS} requests: a loop`);
      const reply = value.answers[Math.min(next - 1, value.answers.length - 1)];
      if (reply === undefined) throw new Error("an empty script");
      if (reply.fail === true) throw socketError("ECONNRESET", "socket hang up");
      return [reply.status, reply.body, sendable(reply.headers)];
    });
}

function checkError(error: ProviderError): void {
  expect(ERROR_KINDS.includes(error.kind), `a ProviderError of kind ${String(error.kind)}`);
  const crash = hiddenCrash(error);
  if (crash !== undefined)
    throw new Violation(
      `a ${crash.name} of the adapter, passed off as a ${error.kind} ProviderError: ${crash.stack ?? crash.message}`,
    );
  expect(
    !error.message.includes(`more than ${MAX_CALLS} requests`),
    `it kept asking: ${error.message}`,
  );
}

async function checkCase(input: Input<Ec2Case>): Promise<string> {
  const value = input.value;
  const types = ["m6i.xlarge", "m5.xlarge", "c6i.xlarge"].slice(0, value.placements);
  const { provider } = ec2Provider({
    instanceTypes: types,
    limits: { instances: 20, vcpus: 80 },
  });
  serve(value);
  try {
    const error = { error: checkError };
    switch (value.operation) {
      case "list":
        return await outcomeOf(() => provider.list(), ProviderError, {
          ...error,
          value: checkInstances,
        });
      case "launch":
        return await launchOutcome(provider, value.count, checkError, false);
      case "terminate": {
        const ids = IDS.slice(0, value.count);
        return await terminateOutcome(provider, ids, checkError);
      }
      case "headroom":
        return await outcomeOf(() => provider.headroom(), ProviderError, {
          ...error,
          value: (headroom) => {
            for (const [key, amount] of Object.entries(headroom))
              expect(typeof amount === "number" && amount >= 0, `headroom ${key} is ${amount}`);
            return "headroom";
          },
        });
    }
  } finally {
    nock.cleanAll();
  }
}

// ---- large inputs ----

function largeCases(): Input<Ec2Case>[] {
  const page = sample("ec2_describe-instances_ours_page1.xml");
  const open = "<instancesSet>";
  const start = page.indexOf(open) + open.length;
  const end = page.indexOf("</instancesSet>");
  const item = page.slice(start, end);
  const many = (n: number, unit: string) => page.slice(0, start) + unit.repeat(n) + page.slice(end);
  return [
    ec2Case("list: 2500 instances in one page (3 MB)", {
      operation: "list",
      count: 1,
      placements: 1,
      answers: [xml(many(2500, item).replace(/<nextToken>[^<]*<\/nextToken>/, ""))],
    }),
    ec2Case("list: 130 k bare instances in one reservation (5 MB)", {
      operation: "list",
      count: 1,
      placements: 1,
      answers: [
        xml(
          many(130_000, "<item><instanceId>i-1</instanceId></item>").replace(
            /<nextToken>[^<]*<\/nextToken>/,
            "",
          ),
        ),
      ],
    }),
    ec2Case("list: a page that names itself as the next page, for ever", {
      operation: "list",
      count: 1,
      placements: 1,
      answers: [xml(page)],
    }),
    ec2Case("launch: RunInstances answers 130 k instances (5 MB)", {
      operation: "launch",
      count: 2,
      placements: 1,
      answers: [
        xml(
          runInstancesXml([{ id: "i-1" }]).replace(
            /<item>\s*<instanceId>/,
            `${"<item><instanceId>i-0</instanceId></item>".repeat(130_000)}<item><instanceId>`,
          ),
        ),
      ],
    }),
    ec2Case("list: instance states that are names every object has", {
      operation: "list",
      count: 1,
      placements: 1,
      answers: [
        xml(
          PROTOTYPE_WORDS.reduce(
            (text, word) =>
              text.replace(
                /<name>(pending|running|stopped|shutting-down|terminated)<\/name>/,
                `<name>${word}</name>`,
              ),
            sample("ec2_describe-instances_stopped-running-tags_botocore.xml"),
          ),
        ),
      ],
    }),
    ec2Case("launch: an error whose code is a name every object has", {
      operation: "launch",
      count: 1,
      placements: 2,
      answers: [xml(errorXml("constructor", "no"), 400), xml(errorXml("toString", "no"), 503)],
    }),
    ec2Case("launch: an error message of 3 MB", {
      operation: "launch",
      count: 1,
      placements: 2,
      answers: [xml(errorXml("InsufficientInstanceCapacity", "no room ".repeat(400_000)), 500)],
    }),
  ];
}

export const target: FuzzTarget = {
  properties: [
    property({
      name: "the EC2 provider ends list, launch, terminate and headroom in a result or a ProviderError for any EC2 answers",
      runs: 250,
      input: caseArb,
      examples: largeCases,
      check: checkCase,
    }),
  ],
  async setup() {
    nock.disableNetConnect();
  },
  async teardown() {
    nock.cleanAll();
    nock.enableNetConnect();
  },
  sabotage() {
    // Inside the adapter's try: list must not pass the crash off as a transient ProviderError.
    Reflect.set(Ec2Provider.prototype, "toInstance", () => {
      throw sabotageError("Ec2Provider.toInstance");
    });
  },
};
