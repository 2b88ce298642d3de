/**
 * Shared pieces of the fuzz suite: the seed and run counts, the bounds every input is held to,
 * inputs that print as a short summary (the whole input goes to a file, not into the report), the
 * check that only the project's own error escapes, and the mutations applied to real samples.
 */
import fc from "fast-check";
import { ERROR_KINDS, ProviderError } from "../../src/model/errors.js";
import type { Instance, InstanceStatus } from "../../src/model/snapshot.js";
import type { Provider } from "../../src/providers/provider.js";

/** Fixed, so that two runs of the suite try the same inputs; FUZZ_SEED overrides it. */
export const DEFAULT_SEED = 20_240_611;

export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.FUZZ_SEED?.trim();
  if (text === undefined || text === "") return DEFAULT_SEED;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got "${text}"`);
  return seed;
}

/** The runs of a property: its own default, or FUZZ_RUNS for every property. */
export function fuzzRuns(defaultRuns: number, env: NodeJS.ProcessEnv = process.env): number {
  const text = env.FUZZ_RUNS?.trim();
  if (text === undefined || text === "") return defaultRuns;
  const runs = Number(text);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new Error(`FUZZ_RUNS must be a positive integer, got "${text}"`);
  return runs;
}

/**
 * CPU time one input may take. CPU, not wall time: the children share two cores with each other
 * and with whatever else runs, and the slowest legitimate inputs (1 MB of YAML, 5 MB of XML)
 * take 1 to 2.5 s of it.
 */
export const INPUT_BOUND_MS = 5000;
/** Wall time one input may take, waits included: an answer never awaited is a hang too. */
export const INPUT_WALL_BOUND_MS = 3 * INPUT_BOUND_MS;
/**
 * Old-space heap (MB) of each target's child process. The largest inputs are a few MB of text;
 * parsed (JSON, SDK objects) they take a few tens of MB, and the AWS SDK about 35 times the size
 * of an XML error body, so 256 MB leaves room without hiding a parser that allocates many times
 * more. The yaml library is heavier: while it parses it holds about 1.2 KB per level of nesting,
 * so the 1 MB files the config loader reads (500 k nested `[`) peak at about 650 MB.
 */
export const HEAP_MB: Readonly<Record<string, number>> = {
  config: 768,
  condor: 256,
  openstack: 256,
  ec2: 256,
  docker: 256,
};
/** Resident memory a child may reach: the heap plus what lives outside it (Buffers, code). */
export const RSS_BOUND_BYTES = 768 * 1024 * 1024;

// ---- inputs ----

/** Printable preview of a long text: its head and tail, escaped. */
export function preview(text: string, head = 160, tail = 40): string {
  if (text.length <= head + tail + 20) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, head))} … ${JSON.stringify(text.slice(-tail))}`;
}

/**
 * One fuzz input: how it was made (`kind`), its value, and its full text for the counterexample
 * file. fast-check prints it through its summary, so a report stays readable for MB inputs.
 */
export class Input<T> {
  constructor(
    readonly kind: string,
    readonly value: T,
    private readonly render: (value: T) => string,
  ) {}

  /** Made afresh each time: keeping the text of every MB input would crowd the heap bound. */
  dump(): string {
    return this.render(this.value);
  }

  summary(): string {
    const text = this.dump();
    return `${this.kind} (${text.length} chars): ${preview(text)}`;
  }

  [fc.toStringMethod](): string {
    return this.summary();
  }
}

export function textInput(kind: string, text: string): Input<string> {
  return new Input(kind, text, (value) => value);
}

// ---- the property's verdict ----

/** Why a property failed: what was thrown or returned instead of the contract. */
export class Violation extends Error {
  override readonly name = "Violation";
}

type ErrorClass = abstract new (...args: never[]) => Error;

function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return `${thrown.name}: ${thrown.message}\n${thrown.stack ?? ""}`;
  return `a non-Error value: ${String(thrown)}`;
}

/**
 * The name of what a call threw, when the contract allows it (an instance of `allowed`); anything
 * else thrown is a Violation naming it, with its stack.
 */
export function allowedOutcome(thrown: unknown, allowed: ErrorClass): string {
  if (thrown instanceof allowed) return thrown.name;
  throw new Violation(`threw something other than ${allowed.name}: ${describeThrown(thrown)}`);
}

/**
 * Runs `call`: `ok` (or what `value` names it) when it returns and `value` accepts what it
 * returned, the error's name when it throws an `allowed` error that `error` accepts, else a
 * Violation.
 */
export async function outcomeOf<T, E extends Error>(
  call: () => T | Promise<T>,
  allowed: abstract new (...args: never[]) => E,
  checks: { value?: (value: Awaited<T>) => string | undefined; error?: (error: E) => void } = {},
): Promise<string> {
  let value: Awaited<T>;
  try {
    value = await call();
  } catch (thrown) {
    const outcome = allowedOutcome(thrown, allowed);
    checks.error?.(thrown as E);
    return outcome;
  }
  return checks.value?.(value) ?? "ok";
}

/** The statistics' name of a result that may carry a ProviderError. */
export function resultOutcome(error: { kind: string } | undefined): string {
  return error === undefined ? "result" : `result with a ${error.kind} error`;
}

/**
 * The provider contract of launch(): valid instances, no more than asked when `bounded` (an EC2
 * answer may list more than MaxCount, which the provider keeps), every error classified.
 */
export function launchOutcome(
  provider: Pick<Provider, "launch">,
  count: number,
  checkError: (error: ProviderError) => void,
  bounded = true,
): Promise<string> {
  return outcomeOf(() => provider.launch({ count, avoid: [] }), ProviderError, {
    error: checkError,
    value: (result) => {
      checkInstances(result.instances);
      if (bounded)
        expect(result.instances.length <= count, `launched ${result.instances.length} of ${count}`);
      if (result.error !== undefined) checkError(result.error);
      for (const scoped of result.scopeErrors ?? []) checkError(scoped);
      return resultOutcome(result.error);
    },
  });
}

/** The provider contract of terminate(): only ids asked for, every error classified. */
export function terminateOutcome(
  provider: Pick<Provider, "terminate">,
  ids: readonly string[],
  checkError: (error: ProviderError) => void,
): Promise<string> {
  return outcomeOf(() => provider.terminate(ids), ProviderError, {
    error: checkError,
    value: (result) => {
      expect(
        result.terminated.every((id) => ids.includes(id)),
        "terminated ids not asked for",
      );
      if (result.error !== undefined) checkError(result.error);
      return resultOutcome(result.error);
    },
  });
}

/** Programming errors: what a parser must never let out, nor hide inside a "classified" error. */
const PROGRAMMING_ERRORS: readonly ErrorClass[] = [TypeError, RangeError, ReferenceError];

/** Whether an error was raised by the project's code rather than inside a dependency. */
function raisedByUs(error: Error): boolean {
  const frames = (error.stack ?? "")
    .split("\n")
    .filter((line) => line.trimStart().startsWith("at "));
  // Node's own functions (URL, Buffer) raise for whoever called them: look past them.
  const caller = frames.find((frame) => !/\(node:|at node:/.test(frame));
  return caller !== undefined && !caller.includes("/node_modules/");
}

/**
 * The first programming error (TypeError, RangeError, ReferenceError) in an error's cause chain
 * that the project's own code raised: a crash of an adapter that a catch-all turned into a
 * `transient` ProviderError. Errors raised inside dependencies (the AWS SDK's XML reader) are
 * theirs to raise, and classifying them is the adapter's documented fallback.
 */
export function hiddenCrash(error: unknown): Error | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const crash = current;
    if (PROGRAMMING_ERRORS.some((kind) => crash instanceof kind) && raisedByUs(crash)) return crash;
    current = crash.cause;
  }
  return undefined;
}

/** A Violation unless `condition` holds. */
export function expect(condition: boolean, what: string): void {
  if (!condition) throw new Violation(what);
}

const STATUSES: readonly InstanceStatus[] = ["booting", "running", "failed", "gone"];

/** What a provider's list or launch gave is instances the planner can read; its statistics name. */
export function checkInstances(instances: readonly Instance[]): string {
  for (const instance of instances) {
    expect(typeof instance.id === "string", `an instance with id ${String(instance.id)}`);
    expect(
      STATUSES.includes(instance.status),
      `instance ${instance.id}: status ${String(instance.status)}`,
    );
    expect(
      Number.isFinite(instance.launchedAt),
      `instance ${instance.id}: launchedAt ${instance.launchedAt}`,
    );
    const fault = instance.fault;
    expect(
      fault === undefined ||
        (typeof fault.message === "string" &&
          (fault.kind === undefined || ERROR_KINDS.includes(fault.kind))),
      `instance ${instance.id}: fault ${String(fault?.message)} of kind ${String(fault?.kind)}`,
    );
  }
  return instances.length > 0 ? "instances" : "no instances";
}

// ---- mutations of real samples ----

/** Values that numbers in a sample are replaced with: huge, tiny, negative, not numbers at all. */
export const ODD_NUMBERS = [
  "1e309",
  "-1e309",
  "1e400",
  "99999999999999999999999999999999999999",
  "1.7976931348623157e308",
  "-1.7976931348623157e308",
  "5e-324",
  "9007199254740993",
  "-9007199254740993",
  "4294967296",
  "-1",
  "-0",
  "0",
  "0.5",
  "1e-400",
  "NaN",
  "nan",
  "Infinity",
  "-Infinity",
  "inf",
  "0x1F",
  "1_000",
  "1e",
  "--1",
  "undefined",
  "error",
  "null",
  "true",
  '"1"',
  "[]",
  "{}",
];

/**
 * Names every object has through its prototype: a lookup table indexed with one of them gives a
 * function, not undefined (`KIND_BY_CODE["constructor"]`).
 */
export const PROTOTYPE_WORDS = [
  "constructor",
  "__proto__",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
];

/** Whole values put in place of one: prototype names, odd numbers, empty and blank. */
export const ODD_WORDS = [...PROTOTYPE_WORDS, ...ODD_NUMBERS, "", " ", "\t", "é", "\u0000"];

/** Text fragments worth repeating many times: each makes some regex or loop work per occurrence. */
export const RUN_FRAGMENTS = [
  "/",
  "<",
  "<a",
  " ",
  "\t",
  "\n",
  "\r\n",
  "0",
  "9",
  "[",
  "]",
  "{",
  "}",
  '"',
  "\\",
  ",",
  ":",
  "- ",
  "&a ",
  "*a ",
  "{{x}}",
  "{{#a}}",
  "name ",
  "\n]\n[",
  "#",
  "\u0000",
  "\uFFFD",
  "é",
  "\uD83D\uDE00",
];

/**
 * Any UTF-16 code unit, lone surrogates included. (fast-check's own `unit: "binary"` builds a
 * table of every code point first: 80 MB of a heap bound of 256.)
 */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));

const fragment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...RUN_FRAGMENTS, ...ODD_NUMBERS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12, unit: codeUnit }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

/** One edit of a text; positions are taken modulo the text's length when applied. */
export type TextEdit =
  | { op: "truncate"; at: number }
  | { op: "flip"; at: number; bit: number }
  | { op: "insert"; at: number; text: string }
  | { op: "delete"; at: number; length: number }
  | { op: "run"; at: number; text: string; times: number }
  | { op: "duplicate-lines"; at: number; count: number; times: number }
  | { op: "splice-lines"; at: number; from: number; start: number; count: number }
  | { op: "drop-line"; at: number }
  | { op: "swap-lines"; a: number; b: number }
  | { op: "number"; which: number; value: string }
  | { op: "word"; which: number; value: string }
  | { op: "nest"; at: number; depth: number; open: string; close: string };

export const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), text: fragment }),
  fc.record({
    op: fc.constant("delete" as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 200 }),
  }),
  fc.record({
    op: fc.constant("run" as const),
    at: fc.nat(),
    text: fragment,
    times: fc.oneof(fc.integer({ min: 2, max: 50 }), fc.integer({ min: 1000, max: 20_000 })),
  }),
  fc.record({
    op: fc.constant("duplicate-lines" as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 10 }),
    times: fc.integer({ min: 1, max: 300 }),
  }),
  fc.record({
    op: fc.constant("splice-lines" as const),
    at: fc.nat(),
    from: fc.nat(),
    start: fc.nat(),
    count: fc.integer({ min: 1, max: 20 }),
  }),
  fc.record({ op: fc.constant("drop-line" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("swap-lines" as const), a: fc.nat(), b: fc.nat() }),
  fc.record({
    op: fc.constant("number" as const),
    which: fc.nat(),
    value: fc.constantFrom(...ODD_NUMBERS),
  }),
  fc.record({
    op: fc.constant("word" as const),
    which: fc.nat(),
    value: fc.constantFrom(...ODD_WORDS),
  }),
  fc.record({
    op: fc.constant("nest" as const),
    at: fc.nat(),
    depth: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1000, max: 50_000 })),
    open: fc.constantFrom("[", "{", '{"a":', "- ", "[[", "{a: "),
    close: fc.constantFrom("]", "}", "", "]]"),
  }),
);

const NUMBER_TOKEN = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
/** A whole value: an XML element's text, or a JSON string's. */
const WORD_TOKEN = /(?<=>)[^<>\n]+(?=<)|(?<=")[\w .:-]+(?=")/g;

function splitLines(text: string): string[] {
  return text.split("\n");
}

/**
 * Longest text an edit may produce: big enough for the few-MB inputs, small enough that the
 * generator itself never comes near the child's memory bound.
 */
export const MAX_EDITED_LENGTH = 4_000_000;

/** Applies one edit (none if the result would pass MAX_EDITED_LENGTH); lines come from `others`. */
export function applyEdit(text: string, edit: TextEdit, others: readonly string[]): string {
  const edited = editText(text, edit, others);
  return edited.length > MAX_EDITED_LENGTH ? text : edited;
}

function editText(text: string, edit: TextEdit, others: readonly string[]): string {
  const at = (n: number) => n % (text.length + 1);
  switch (edit.op) {
    case "truncate":
      return text.slice(0, at(edit.at));
    case "flip": {
      const bytes = Buffer.from(text, "utf8");
      if (bytes.length === 0) return text;
      const index = edit.at % bytes.length;
      bytes[index] = (bytes[index] ?? 0) ^ (1 << edit.bit);
      return bytes.toString("utf8");
    }
    case "insert":
      return text.slice(0, at(edit.at)) + edit.text + text.slice(at(edit.at));
    case "delete":
      return text.slice(0, at(edit.at)) + text.slice(at(edit.at) + edit.length);
    case "run":
      return text.slice(0, at(edit.at)) + edit.text.repeat(edit.times) + text.slice(at(edit.at));
    case "nest": {
      const nested = edit.open.repeat(edit.depth) + edit.close.repeat(edit.depth);
      return text.slice(0, at(edit.at)) + nested + text.slice(at(edit.at));
    }
    case "word":
    case "number": {
      const tokens = [...text.matchAll(edit.op === "word" ? WORD_TOKEN : NUMBER_TOKEN)];
      const token = tokens[edit.which % Math.max(1, tokens.length)];
      if (token === undefined) return text;
      return text.slice(0, token.index) + edit.value + text.slice(token.index + token[0].length);
    }
    default:
      return applyLineEdit(splitLines(text), edit, others).join("\n");
  }
}

function applyLineEdit(lines: string[], edit: TextEdit, others: readonly string[]): string[] {
  const index = (n: number) => n % Math.max(1, lines.length);
  switch (edit.op) {
    case "duplicate-lines": {
      const start = index(edit.at);
      const block = lines.slice(start, start + edit.count);
      const size = block.reduce((sum, line) => sum + line.length + 1, 0);
      if (size * edit.times > MAX_EDITED_LENGTH) return lines;
      const copies = Array.from({ length: edit.times }, () => block).flat();
      return [...lines.slice(0, start), ...copies, ...lines.slice(start)];
    }
    case "splice-lines": {
      const source = splitLines(others[edit.from % Math.max(1, others.length)] ?? "");
      const start = edit.start % Math.max(1, source.length);
      const block = source.slice(start, start + edit.count);
      const into = index(edit.at);
      return [...lines.slice(0, into), ...block, ...lines.slice(into)];
    }
    case "drop-line":
      return lines.filter((_, i) => i !== index(edit.at));
    case "swap-lines": {
      const copy = [...lines];
      const a = index(edit.a);
      const b = index(edit.b);
      [copy[a], copy[b]] = [copy[b] ?? "", copy[a] ?? ""];
      return copy;
    }
    default:
      return lines;
  }
}

/** A sample with 1 to `max` edits applied, lines spliced in from the other samples. */
export function mutatedSample(
  kind: string,
  samples: readonly { name: string; text: string }[],
  max = 4,
): fc.Arbitrary<Input<string>> {
  const texts = samples.map((sample) => sample.text);
  return fc
    .tuple(fc.nat(samples.length - 1), fc.array(textEdit, { minLength: 1, maxLength: max }))
    .map(([which, edits]) => {
      const sample = samples[which] ?? samples[0];
      if (sample === undefined) throw new Error(`${kind}: no samples`);
      const text = edits.reduce((current, edit) => applyEdit(current, edit, texts), sample.text);
      return textInput(`${kind}: ${sample.name} with ${edits.map((e) => e.op).join(", ")}`, text);
    });
}

// ---- structural mutations of JSON samples ----

/** Values put in place of a part of a JSON sample. */
export const oddJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      1e308,
      -1e308,
      5e-324,
      2 ** 53 + 2,
      -(2 ** 31),
      2 ** 32,
      0,
      -1,
      0.5,
      "NaN",
      "Infinity",
      "-Infinity",
      "1e400",
      "",
      "undefined",
      "error",
      "/Expr(RequestMemory * 2)/",
      ...PROTOTYPE_WORDS,
      null,
      true,
      false,
      [],
      {},
      { __proto__: null },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 2000 }).map((depth) => {
      let value: unknown = [];
      for (let i = 0; i < depth; i += 1) value = [value];
      return value;
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...RUN_FRAGMENTS), fc.integer({ min: 100, max: 100_000 }))
      .map(([text, times]) => text.repeat(times)),
  },
  { weight: 1, arbitrary: fc.string({ unit: codeUnit, maxLength: 64 }) },
);

/** JSON text of a value; undefined when it has none or is too deep for JSON.stringify. */
export function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** Objects a repeat edit may make. */
const MAX_REPEATED_NODES = 200_000;

/** One edit of a parsed JSON value, at the `at`-th node in document order. */
export type JsonEdit =
  | { op: "replace"; at: number; value: unknown }
  | { op: "delete"; at: number }
  | { op: "repeat"; at: number; times: number }
  | { op: "wrap"; at: number }
  | { op: "rename"; at: number; key: string };

export const jsonEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("replace" as const),
      at: fc.nat(),
      value: oddJsonValue,
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("repeat" as const),
      at: fc.nat(),
      times: fc.oneof(fc.integer({ min: 2, max: 10 }), fc.integer({ min: 100, max: 2000 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("wrap" as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("rename" as const),
      at: fc.nat(),
      key: fc.constantFrom("__proto__", "constructor", "toString", "", "id", "name", "message"),
    }),
  },
);

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return typeof value === "object" && value !== null;
}

/** Every (parent, key) slot of a JSON value, in document order. */
function slots(root: Container): Array<{ parent: Container; key: string | number }> {
  const found: Array<{ parent: Container; key: string | number }> = [];
  const stack: Container[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === undefined) break;
    const keys: Array<string | number> = Array.isArray(node)
      ? node.map((_, i) => i)
      : Object.keys(node);
    for (const key of keys) {
      found.push({ parent: node, key });
      const child: unknown = Array.isArray(node) ? node[key as number] : node[key as string];
      if (isContainer(child)) stack.push(child);
    }
  }
  return found;
}

function getSlot(parent: Container, key: string | number): unknown {
  return Array.isArray(parent) ? parent[key as number] : parent[key as string];
}

function setSlot(parent: Container, key: string | number, value: unknown): void {
  if (Array.isArray(parent)) parent[key as number] = value;
  else
    Object.defineProperty(parent, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
}

/** Applies edits to a copy of `value` (a parsed JSON sample); the result is JSON-serialisable. */
export function applyJsonEdits(value: unknown, edits: readonly JsonEdit[]): unknown {
  const root: { value: unknown } = { value: structuredClone(value) };
  for (const edit of edits) {
    const all = slots(root);
    const slot = all[edit.at % all.length];
    if (slot === undefined) continue;
    const { parent, key } = slot;
    const current = getSlot(parent, key);
    switch (edit.op) {
      case "replace":
        setSlot(parent, key, structuredClone(edit.value));
        break;
      case "delete":
        if (parent === root) setSlot(parent, key, null);
        else if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key as string];
        break;
      case "repeat": {
        // Keep the whole text within a few MB, and the objects made for it within a few
        // hundred thousand (nested empty lists are 2 characters of text but 50 bytes of heap).
        const size = jsonText(current)?.length;
        const total = jsonText(root.value)?.length;
        if (size === undefined || total === undefined) break;
        const nodes = isContainer(current) ? slots(current).length + 1 : 1;
        const times = Math.min(
          edit.times,
          Math.floor((MAX_EDITED_LENGTH - total) / Math.max(1, size)),
          Math.floor(MAX_REPEATED_NODES / nodes),
        );
        if (times < 1) break;
        // Copies, not the same object: a later edit of one must not grow every one of them.
        const copies = Array.from({ length: times }, () => structuredClone(current));
        if (Array.isArray(parent)) parent.splice(key as number, 0, ...copies);
        else setSlot(parent, key, copies);
        break;
      }
      case "wrap":
        setSlot(parent, key, [current]);
        break;
      case "rename":
        if (!Array.isArray(parent) && parent !== (root as unknown)) {
          delete parent[key as string];
          setSlot(parent, edit.key, current);
        }
        break;
    }
  }
  return root.value;
}

/** A JSON sample with 1 to `max` structural edits, as text. */
export function mutatedJson(
  kind: string,
  samples: readonly { name: string; value: unknown }[],
  max = 3,
): fc.Arbitrary<Input<string>> {
  return fc
    .tuple(fc.nat(samples.length - 1), fc.array(jsonEdit, { minLength: 1, maxLength: max }))
    .map(([which, edits]) => {
      const sample = samples[which] ?? samples[0];
      if (sample === undefined) throw new Error(`${kind}: no samples`);
      // Too deep to write out (edits nest deep lists in deep lists): the sample as it was.
      const text = jsonText(applyJsonEdits(sample.value, edits)) ?? JSON.stringify(sample.value);
      return textInput(`${kind}: ${sample.name} with ${edits.map((e) => e.op).join(", ")}`, text);
    });
}

/** Random text of several flavours: arbitrary code units, printable, bytes decoded as UTF-8. */
export const randomText: fc.Arbitrary<Input<string>> = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 400 }).map((text) => textInput("random text", text)),
  fc.string({ maxLength: 400 }).map((text) => textInput("random printable text", text)),
  fc
    .uint8Array({ maxLength: 400 })
    .map((bytes) => textInput("random bytes as UTF-8", Buffer.from(bytes).toString("utf8"))),
  fc
    .array(fc.constantFrom(...RUN_FRAGMENTS, ...ODD_NUMBERS, "\t", "\n"), { maxLength: 200 })
    .map((parts) => textInput("random tokens", parts.join(""))),
);

/** Random JSON values as text, top level included (not only lists). */
export const randomJson: fc.Arbitrary<Input<string>> = fc
  .jsonValue({ maxDepth: 4 })
  .map((value) => textInput("random JSON", JSON.stringify(value) ?? "null"));

// ---- targets ----

/** One property of a target: inputs, and the check of one input. */
export interface FuzzProperty<T> {
  /** States the behaviour checked, as a test name does. */
  name: string;
  /** Runs by default (FUZZ_RUNS overrides), the examples included. */
  runs: number;
  input: fc.Arbitrary<Input<T>>;
  /** The large inputs, tried first on every run; built only when the property runs. */
  examples?: () => Input<T>[];
  /** Checks one input: the outcome's name (`ok`, `CondorError`…) for the statistics, or throws. */
  check(input: Input<T>): Promise<string>;
}

/** A property whose input type is hidden, so that a target can list properties of several. */
export interface AnyProperty {
  readonly name: string;
  use<R>(visit: <T>(property: FuzzProperty<T>) => R): R;
}

export function property<T>(definition: FuzzProperty<T>): AnyProperty {
  return { name: definition.name, use: (visit) => visit(definition) };
}

/** What a child process fuzzes: one area of the code (the config loader, HTCondor, a cloud). */
export interface FuzzTarget {
  properties: AnyProperty[];
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /**
   * Makes the code under test raise a TypeError (or hide one in a classified error), so that the
   * suite can show each property fails when that happens.
   */
  sabotage(): void;
}

/** The error sabotaged code raises. */
export function sabotageError(what: string): TypeError {
  return new TypeError(`fuzz sabotage: ${what} raised a TypeError`);
}

// ---- scripted HTTP answers (the clouds) ----

/** One answer of a fake server: a status, headers and a body, or no answer at all. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The connection failed: no answer came back. */
  fail?: boolean;
}

/** Header values that are hard to read: dates, huge numbers, garbage. */
export const ODD_HEADER_VALUES = [
  "0",
  "1",
  "30",
  "1.5",
  "-5",
  " 12 ",
  "",
  "9".repeat(400),
  "99999999999999999999",
  "Wed, 21 Oct 2015 07:28:00 GMT",
  "Fri, 31 Dec 9999 23:59:59 GMT",
  "+275760-09-13T00:00:00Z",
  "not a date",
  "NaN",
  "Infinity",
  "1e309",
  "\u0000",
];

export type ReplyEdit =
  | { op: "status"; status: number }
  | { op: "text"; edits: TextEdit[] }
  | { op: "json"; edits: JsonEdit[] }
  | { op: "body"; body: Input<string> }
  | { op: "header"; name: string; value: string }
  | { op: "fail" }
  | { op: "again"; status: number };

export const COMMON_STATUSES = [
  200, 201, 202, 204, 300, 304, 400, 401, 403, 404, 409, 413, 429, 500, 503,
];

const status = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...COMMON_STATUSES) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 599 }) },
);

/** Edits of one answer; `bodies` are samples a body may be swapped for. */
export function replyEdit(
  bodies: readonly { name: string; text: string }[],
  headers: readonly string[],
  /** Whether bodies are JSON, which structural edits apply to. */
  json = true,
): fc.Arbitrary<ReplyEdit> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant("status" as const), status }) },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant("text" as const),
        edits: fc.array(textEdit, { minLength: 1, maxLength: 3 }),
      }),
    },
    {
      weight: json ? 4 : 0,
      arbitrary: fc.record({
        op: fc.constant("json" as const),
        edits: fc.array(jsonEdit, { minLength: 1, maxLength: 3 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("body" as const),
        body: fc.oneof(
          fc.constantFrom(...bodies).map((sample) => textInput(sample.name, sample.text)),
          randomText,
          randomJson,
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("header" as const),
        name: fc.constantFrom(...headers),
        value: fc.constantFrom(...ODD_HEADER_VALUES),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ op: "fail" as const }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("again" as const), status }) },
  );
}

/** Applies an edit to the `at`-th answer of a script (a copy); `others` feed spliced lines. */
export function editScript(
  script: readonly Reply[],
  at: number,
  edit: ReplyEdit,
  others: readonly string[],
): Reply[] {
  const copy = script.map((reply) => ({ ...reply, headers: { ...reply.headers } }));
  const index = at % Math.max(1, copy.length);
  const reply = copy[index];
  if (reply === undefined) return copy;
  switch (edit.op) {
    case "status":
      reply.status = edit.status;
      break;
    case "text":
      reply.body = edit.edits.reduce((body, e) => applyEdit(body, e, others), reply.body);
      break;
    case "json": {
      let parsed: unknown;
      try {
        parsed = JSON.parse(reply.body);
      } catch {
        break;
      }
      reply.body = jsonText(applyJsonEdits(parsed, edit.edits)) ?? reply.body;
      break;
    }
    case "body":
      reply.body = edit.body.value;
      break;
    case "header":
      reply.headers[edit.name] = edit.value;
      break;
    case "fail":
      reply.fail = true;
      break;
    case "again":
      // An extra answer first, such as a 401 before the real one.
      copy.splice(index, 0, { status: edit.status, headers: {}, body: reply.body });
      break;
  }
  return copy;
}

/** A script: its answers, then edits at random places. */
export function editedScript(
  base: readonly Reply[],
  edits: ReadonlyArray<{ at: number; edit: ReplyEdit }>,
  others: readonly string[],
): Reply[] {
  return edits.reduce<Reply[]>(
    (script, { at, edit }) => editScript(script, at, edit, others),
    [...base],
  );
}

export function describeEdits(edits: ReadonlyArray<{ at: number; edit: ReplyEdit }>): string {
  return edits.length === 0
    ? "as sampled"
    : edits.map(({ at, edit }) => `${edit.op}@${at}`).join(", ");
}

/** A script as text, for the counterexample file. */
export function renderReplies(replies: readonly Reply[]): string {
  return replies
    .map(
      (reply, index) =>
        `--- answer ${index}: ${reply.fail === true ? "connection failed" : `HTTP ${reply.status}`} ${JSON.stringify(reply.headers)}\n${reply.body}`,
    )
    .join("\n");
}
