/**
 * Test support for the EC2 provider: fake credentials, the real EC2 Query API answered by nock from
 * the samples in test/fixtures/aws-ec2 (see PROVENANCE.md there), and providers built from settings
 * parsed by the real cloud schema.
 *
 * The SDK (@aws-sdk/client-ec2) speaks the Query protocol: every call is a form-encoded POST to
 * `https://ec2.<region>.amazonaws.com/` with `Action=<name>&Version=2016-11-15&...`, answered with
 * XML. Tests that use nock run serially (`test.serial`): nock's interceptors are process-wide.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import nock from "nock";
import { cloudPolicy } from "../../src/config/policies.js";
import { cloudSchema, type Ec2ProviderSettings } from "../../src/config/schema.js";
import type { CloudPolicy } from "../../src/model/policy.js";
import type { ProviderContext } from "../../src/providers/context.js";
import { Ec2Provider } from "../../src/providers/ec2/ec2.js";
import { ManualClock } from "../../src/sim/clock.js";
import { memoryLog } from "../tick/support.js";
import { START } from "./settings.js";

// The SDK's default credential chain finds these first (environment); nothing is read from ~/.aws
// and no instance metadata is asked for. Set before any client signs a request.
process.env.AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
process.env.AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
for (const name of ["AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"])
  Reflect.deleteProperty(process.env, name);
process.env.AWS_CONFIG_FILE = "/nonexistent/condor-autoscaler-test/config";
process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/condor-autoscaler-test/credentials";
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

export const REGION = "eu-central-1";
/** Where the SDK sends EC2 calls for REGION. */
export const ENDPOINT = `https://ec2.${REGION}.amazonaws.com`;
export const AMI = "ami-0123456789abcdef0";
export const POOL = "test";
export const CLOUD = "aws";

const FIXTURES = join(import.meta.dirname, "../fixtures/aws-ec2");

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

/** The EC2 error envelope of the botocore sample, with another code and message in it. */
export function errorXml(code: string, message: string): string {
  const envelope = fixture("ec2_error_InvalidInstanceID.Malformed_botocore.xml");
  return envelope
    .replace("<Code>InvalidInstanceID.Malformed</Code>", `<Code>${code}</Code>`)
    .replace('<Message>Invalid id: "foobar"</Message>', `<Message>${message}</Message>`);
}

export interface RunInstance {
  id: string;
  type?: string;
  subnet?: string;
}

/**
 * A RunInstancesResponse with these instances: the botocore sample's one instance item repeated,
 * each copy with its instanceId, amiLaunchIndex and, when given, instanceType and subnetId replaced.
 */
export function runInstancesXml(instances: readonly RunInstance[]): string {
  const sample = fixture("ec2_run-instances_botocore.xml");
  const open = "    <instancesSet>\n";
  const close = "    </instancesSet>";
  const start = sample.indexOf(open) + open.length;
  const end = sample.indexOf(close);
  const item = sample.slice(start, end);
  const items = instances.map((instance, index) => {
    let copy = item
      .replace("<instanceId>i-0ee0356c</instanceId>", `<instanceId>${instance.id}</instanceId>`)
      .replace("<amiLaunchIndex>0</amiLaunchIndex>", `<amiLaunchIndex>${index}</amiLaunchIndex>`);
    if (instance.type !== undefined)
      copy = copy.replace(
        "<instanceType>m1.small</instanceType>",
        `<instanceType>${instance.type}</instanceType>`,
      );
    if (instance.subnet !== undefined)
      copy = copy.replaceAll(
        "<subnetId>subnet-b2a249da</subnetId>",
        `<subnetId>${instance.subnet}</subnetId>`,
      );
    return copy;
  });
  return sample.slice(0, start) + items.join("") + sample.slice(end);
}

/** A TerminateInstancesResponse for these ids: the AWS example's one item repeated per id. */
export function terminateInstancesXml(ids: readonly string[]): string {
  const sample = fixture("ec2_terminate-instances_aws-docs-example_goamz.xml");
  const open = "  <instancesSet>\n";
  const close = "  </instancesSet>";
  const start = sample.indexOf(open) + open.length;
  const end = sample.indexOf(close);
  const item = sample.slice(start, end);
  const items = ids.map((id) =>
    item.replace("<instanceId>i-3ea74257</instanceId>", `<instanceId>${id}</instanceId>`),
  );
  return sample.slice(0, start) + items.join("") + sample.slice(end);
}

/** One form-encoded EC2 request, as sent. */
export type Form = Record<string, string>;

function toForm(body: unknown): Form {
  const form: Form = {};
  if (typeof body === "string") {
    for (const [key, value] of new URLSearchParams(body)) form[key] = value;
  } else if (typeof body === "object" && body !== null) {
    for (const [key, value] of Object.entries(body)) form[key] = String(value);
  }
  return form;
}

/** How one request is answered. */
export type Reply =
  | { status?: number; xml: string; delayMs?: number }
  | { error: Error & { code?: string } };

const XML_HEADERS = { "content-type": "text/xml;charset=UTF-8" };

/**
 * The EC2 API of one endpoint, answering exactly the requests it is told to expect (each once, in
 * the order given per action) and recording every request it answered.
 */
export class Ec2Api {
  readonly scope: nock.Scope;
  /** Every request answered, in order, decoded. */
  readonly requests: Form[] = [];

  constructor(base = ENDPOINT) {
    this.scope = nock(base);
    this.scope.on("request", (_request: unknown, _interceptor: unknown, body: unknown) => {
      this.requests.push(toForm(body));
    });
  }

  /** Answers the next request for `action` (and, if given, matching `when`) once. */
  expect(action: string, reply: Reply, when?: (form: Form) => boolean): this {
    const interceptor = this.scope.post("/", (body: unknown) => {
      const form = toForm(body);
      return form.Action === action && (when === undefined || when(form));
    });
    if ("error" in reply) {
      interceptor.replyWithError(reply.error);
      return this;
    }
    (reply.delayMs === undefined ? interceptor : interceptor.delay(reply.delayMs)).reply(
      reply.status ?? 200,
      reply.xml,
      XML_HEADERS,
    );
    return this;
  }

  /** The requests of one action, in order. */
  calls(action: string): Form[] {
    return this.requests.filter((form) => form.Action === action);
  }
}

/** Requests nock saw that no interceptor answered, since the last reset. */
export const unmatched: string[] = [];
nock.emitter.on("no match", (request: unknown, options?: unknown, body?: unknown) => {
  const about = (value: unknown) =>
    (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const r = { ...about(request), ...about(options) };
  const action = toForm(body).Action;
  unmatched.push(
    `${String(r.method)} ${String(r.hostname ?? r.host)}${String(r.path ?? "")}${action === undefined ? "" : ` Action=${action}`}`,
  );
});

/** A socket error as Node reports it (nock needs an Error instance to fail the request). */
export function socketError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** The tags of each TagSpecification of a RunInstances request: resource type → key → value. */
export function tagSpecifications(form: Form): Record<string, Record<string, string>> {
  const specs: Record<string, Record<string, string>> = {};
  for (let n = 1; form[`TagSpecification.${n}.ResourceType`] !== undefined; n += 1) {
    const type = form[`TagSpecification.${n}.ResourceType`] ?? "";
    const tags: Record<string, string> = {};
    for (let m = 1; form[`TagSpecification.${n}.Tag.${m}.Key`] !== undefined; m += 1)
      tags[form[`TagSpecification.${n}.Tag.${m}.Key`] ?? ""] =
        form[`TagSpecification.${n}.Tag.${m}.Value`] ?? "";
    specs[type] = tags;
  }
  return specs;
}

/** The values of a list parameter such as `SecurityGroupId.N` or `InstanceId.N`. */
export function listParameter(form: Form, name: string): string[] {
  const values: string[] = [];
  for (let n = 1; form[`${name}.${n}`] !== undefined; n += 1)
    values.push(form[`${name}.${n}`] ?? "");
  return values;
}

/** `Filter.N.Name` → its `Filter.N.Value.M` values. */
export function filters(form: Form): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  for (let n = 1; form[`Filter.${n}.Name`] !== undefined; n += 1)
    found[form[`Filter.${n}.Name`] ?? ""] = listParameter(form, `Filter.${n}.Value`);
  return found;
}

/** The fields of an EC2 cloud file, as a policy file would spell them. */
export type Ec2CloudFile = Record<string, unknown> & { provider?: Record<string, unknown> };

function parseEc2Cloud(file: Ec2CloudFile) {
  const { provider, ...rest } = file;
  const cloud = cloudSchema.parse({
    maxWorkers: 10,
    worker: { cpus: 4, memoryMb: 8000 },
    ...rest,
    provider: {
      kind: "ec2",
      region: REGION,
      image: AMI,
      instanceTypes: ["m6i.xlarge"],
      ...provider,
    },
  });
  const settings = cloud.provider;
  if (settings.kind !== "ec2") throw new Error("not an ec2 provider");
  return { cloud, settings };
}

/** EC2 provider settings with every default a policy file may leave out. */
export function ec2Settings(provider: Record<string, unknown> = {}): Ec2ProviderSettings {
  return parseEc2Cloud({ provider }).settings;
}

/** The planner's policy of an EC2 cloud file named CLOUD. */
export function ec2Policy(file: Ec2CloudFile = {}): CloudPolicy {
  return cloudPolicy({ ...parseEc2Cloud(file).cloud, name: CLOUD, file: `${CLOUD}.yaml` });
}

/** An Ec2Provider on a manual clock, logging into memory, with user-data when given. */
export function ec2Provider(
  provider: Record<string, unknown> = {},
  options: { userData?: string; clock?: ManualClock } = {},
) {
  const clock = options.clock ?? new ManualClock(START);
  const { log, records, messages } = memoryLog();
  const context: ProviderContext = {
    pool: POOL,
    cloud: CLOUD,
    shape: { cpus: 4, memoryMb: 8000, gpus: 0 },
    clock,
    log,
    userData: async () => options.userData,
  };
  return {
    provider: new Ec2Provider(ec2Settings(provider), context),
    clock,
    records,
    messages,
  };
}
