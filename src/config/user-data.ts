/**
 * User-data templates for workers: the variables a template may use, checking a template when the
 * config is loaded, and rendering it for one worker at launch time.
 *
 * Templates are Mustache (https://mustache.github.io/mustache.5.html). User-data is not HTML, so
 * nothing is escaped; partials are not supported. A template is checked when the config loads
 * (`condor-autoscaler validate` names the file and line of every unknown variable), and rendering
 * refuses to leave a variable blank: a worker booted with an empty CONDOR_HOST would never join.
 */

import Mustache from "mustache";
import { readBoundedFile } from "../bounded-file.js";
import type { ConfigProblem } from "../model/errors.js";
import { MAX_CONFIG_FILE_BYTES } from "./defaults.js";

/** Every variable a user-data template may use, with what it holds. */
export const USER_DATA_VARIABLES = {
  headNode: "CONDOR_HOST the worker joins (the pool's central manager)",
  pool: "the pool name; the worker advertises it as AutoscalerPool",
  cloud: "the cloud's policy name; the worker advertises it as AutoscalerCloud",
  token:
    "the IDTOKEN (or pool password) the worker authenticates with, read from condor.tokenFile; may be empty in simulated pools",
  workerName: "the instance or container name, <pool>-<cloud>-<short id>",
  jobs: "the cloud's jobs constraint, for the worker's START expression (it then takes only those jobs)",
} as const satisfies Record<string, string>;

export type UserDataVariable = keyof typeof USER_DATA_VARIABLES;

/** The values a template is rendered with: one string per variable. */
export type UserDataValues = Readonly<Record<UserDataVariable, string>>;

const VARIABLE_NAMES = Object.keys(USER_DATA_VARIABLES) as UserDataVariable[];
const KNOWN = VARIABLE_NAMES.join(", ");

/** The only delimiters; passed explicitly so a change of Mustache's global tags cannot matter. */
const TAGS: [string, string] = ["{{", "}}"];

/** A template that cannot be rendered: unknown or missing variables, or a syntax error. */
export class UserDataError extends Error {
  override readonly name = "UserDataError";
  /** The variables at fault (unknown or missing); empty for a syntax error. */
  readonly variables: readonly string[];

  constructor(message: string, variables: readonly string[] = []) {
    super(message);
    this.variables = variables;
  }
}

function isVariable(name: string): name is UserDataVariable {
  return Object.hasOwn(USER_DATA_VARIABLES, name);
}

/** A tag the template uses: the name in it, its kind, and where it starts in the text. */
interface Tag {
  type: string;
  name: string;
  offset: number;
}

/** Kinds of tags that look a name up: `{{x}}`, `{{{x}}}`/`{{&x}}`, `{{#x}}`, `{{^x}}`. */
const LOOKUP_TYPES = new Set(["name", "&", "#", "^"]);

/** Every tag of the parsed template that names something, sections included, in text order. */
function tagsOf(spans: Mustache.TemplateSpans): Tag[] {
  const tags: Tag[] = [];
  const walk = (list: Mustache.TemplateSpans): void => {
    for (const span of list) {
      const [type, name, offset] = span;
      if (LOOKUP_TYPES.has(type) || type === ">") tags.push({ type, name, offset });
      const children = span[4];
      if (Array.isArray(children)) walk(children);
    }
  };
  walk(spans);
  return tags;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * lineAt for many offsets, counting on from the previous one: tags come in text order, and
 * counting from the start for each of them is quadratic in a template with many tags.
 */
function lineCounter(text: string): (offset: number) => number {
  let line = 1;
  let at = 0;
  return (offset) => {
    if (offset < at) {
      line = 1;
      at = 0;
    }
    for (; at < offset && at < text.length; at++) if (text.charCodeAt(at) === 10) line++;
    return line;
  };
}

/** A name as it appears in a message: one line, not too long. */
function shown(name: string): string {
  const flat = name.replace(/\s+/g, " ");
  return flat.length > 40 ? `${flat.slice(0, 37)}...` : flat;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Where a Mustache syntax error is, as an offset into the text. Mustache reports the offset where
 * it gave up, which for an unclosed tag or section is the end of the text; point at the opening
 * instead, which is where the admin has to look.
 */
function syntaxErrorOffset(text: string, message: string): number | undefined {
  const at = /\bat (\d+)$/.exec(message);
  const offset = at?.[1] === undefined ? undefined : Number(at[1]);
  if (message.startsWith("Unclosed tag")) {
    const lastClose = text.lastIndexOf(TAGS[1]);
    const open = text.indexOf(TAGS[0], lastClose < 0 ? 0 : lastClose + TAGS[1].length);
    if (open >= 0) return open;
  }
  const section = /^Unclosed section "(.*)" at \d+$/s.exec(message)?.[1];
  if (section !== undefined) {
    const opening = new RegExp(`\\{\\{\\s*[#^]\\s*${escapeRegExp(section)}\\s*\\}\\}`, "g");
    let found: number | undefined;
    for (const match of text.matchAll(opening)) {
      if (offset === undefined || match.index < offset) found = match.index;
    }
    if (found !== undefined) return found;
  }
  return offset;
}

type Parsed = { ok: true; tags: Tag[] } | { ok: false; message: string; offset?: number };

function parse(text: string): Parsed {
  try {
    return { ok: true, tags: tagsOf(Mustache.parse(text, TAGS)) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const offset = syntaxErrorOffset(text, message);
    return offset === undefined ? { ok: false, message } : { ok: false, message, offset };
  }
}

function tagProblem(tag: Tag): string | undefined {
  if (tag.type === ">") return `template partials are not supported ("{{> ${shown(tag.name)}}}")`;
  if (isVariable(tag.name)) return undefined;
  return `unknown template variable "${shown(tag.name)}" (known: ${KNOWN})`;
}

/**
 * Checks a user-data template: every problem names `file`, the line of the tag at fault and the
 * field `userData`. An empty list means the template renders with any complete set of values.
 */
export function checkUserDataTemplate(text: string, file: string): ConfigProblem[] {
  const parsed = parse(text);
  if (!parsed.ok) {
    const problem: ConfigProblem = {
      file,
      field: "userData",
      message: `template syntax: ${parsed.message}`,
    };
    if (parsed.offset !== undefined) problem.line = lineAt(text, parsed.offset);
    return [problem];
  }
  const problems: ConfigProblem[] = [];
  const lineOf = lineCounter(text);
  for (const tag of parsed.tags) {
    const message = tagProblem(tag);
    if (message !== undefined) {
      problems.push({ file, line: lineOf(tag.offset), field: "userData", message });
    }
  }
  return problems;
}

/** Reads and checks a template file; a file that cannot be read is a problem too. */
export async function checkUserDataFile(file: string): Promise<ConfigProblem[]> {
  let text: string;
  try {
    text = await readBoundedFile(file, { maxBytes: MAX_CONFIG_FILE_BYTES });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return [{ file, field: "userData", message: `cannot read template: ${reason}` }];
  }
  return checkUserDataTemplate(text, file);
}

/** User-data is not HTML: values go in exactly as given. */
const verbatim = (value: unknown): string => String(value);

/**
 * Renders a template for one worker, without any escaping. Throws a UserDataError if the template
 * does not parse, uses a variable that does not exist, or uses one that `values` lacks (an empty
 * string is a value; only a missing one is refused).
 */
export function renderUserData(text: string, values: UserDataValues): string {
  const parsed = parse(text);
  if (!parsed.ok) {
    const where = parsed.offset === undefined ? "" : ` (line ${lineAt(text, parsed.offset)})`;
    throw new UserDataError(`user-data template syntax${where}: ${parsed.message}`);
  }
  const unknown = new Set<string>();
  const missing = new Set<string>();
  for (const tag of parsed.tags) {
    if (tagProblem(tag) !== undefined) unknown.add(tag.name);
    else if (typeof (values as Partial<Record<string, unknown>>)[tag.name] !== "string")
      missing.add(tag.name);
  }
  if (unknown.size > 0) {
    const names = [...unknown];
    throw new UserDataError(
      `user-data template uses unknown variables or partials: ${names.map(shown).join(", ")} (known: ${KNOWN})`,
      names,
    );
  }
  if (missing.size > 0) {
    const names = [...missing];
    throw new UserDataError(`user-data template needs values for: ${names.join(", ")}`, names);
  }
  // A view of exactly the known variables, with no prototype: a name can only resolve to a value.
  const view: Record<string, string> = Object.create(null);
  for (const name of VARIABLE_NAMES) {
    const value = (values as Partial<Record<string, unknown>>)[name];
    if (typeof value === "string") view[name] = value;
  }
  return Mustache.render(text, view, {}, { tags: TAGS, escape: verbatim });
}
