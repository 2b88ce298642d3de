/**
 * ClassAds as HTCondor's tools print them with -json: a JSON list of objects, or nothing at all
 * when no ad matched. Attribute readers check types at this boundary; an unevaluated expression
 * (`/Expr(...)/`) is not a value.
 */
import { CondorError } from "../model/errors.js";

export type ClassAd = Readonly<Record<string, unknown>>;

/** Where one list ends and the next begins, when several are printed back to back. */
const LIST_BOUNDARY = "\n]\n[";

function parseList(text: string, command: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CondorError(
      "output",
      command,
      `malformed or truncated JSON (${text.length} bytes): ${reason}`,
    );
  }
  if (!Array.isArray(parsed))
    throw new CondorError("output", command, "expected a JSON list of ClassAds");
  return parsed;
}

/**
 * Parses -json output. Several lists back to back (one per schedd with -global) are read one by
 * one: cutting at the boundaries is cheaper than a failed parse of the whole text.
 */
export function parseClassAds(stdout: string, command: string): ClassAd[] {
  const text = stdout.trim();
  if (text === "") return [];
  const ads = parseList(
    text.indexOf(LIST_BOUNDARY) < 0 ? text : text.slice(0, text.indexOf(LIST_BOUNDARY) + 2),
    command,
  );
  for (let at = text.indexOf(LIST_BOUNDARY); at >= 0; ) {
    const next = text.indexOf(LIST_BOUNDARY, at + 1);
    const list = text.slice(at + 3, next < 0 ? text.length : next + 2);
    // Appended in place: concat copies every ad so far for each list, quadratic with many
    // schedds; one by one, as spreading a list of 100 k ads would overflow the call stack.
    for (const ad of parseList(list, command)) ads.push(ad);
    at = next;
  }
  for (let index = 0; index < ads.length; index += 1) {
    const ad: unknown = ads[index];
    if (typeof ad !== "object" || ad === null || Array.isArray(ad)) {
      throw new CondorError("output", command, `element ${index} is not a ClassAd object`);
    }
  }
  return ads as ClassAd[];
}

/** A finite number, or undefined: the value of a numeric attribute as read at the boundary. */
export function numberValue(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** A string that is a value, not an unevaluated expression (`/Expr(...)/`). */
export function textValue(value: unknown): string | undefined {
  return typeof value === "string" && !value.startsWith("/Expr(") ? value : undefined;
}

export function numberAttr(ad: ClassAd, name: string): number | undefined {
  return numberValue(ad[name]);
}

export function stringAttr(ad: ClassAd, name: string): string | undefined {
  return textValue(ad[name]);
}

export function booleanAttr(ad: ClassAd, name: string): boolean | undefined {
  const value = ad[name];
  return typeof value === "boolean" ? value : undefined;
}

/**
 * Quotes a string as a ClassAd string literal. Line breaks and other control characters are
 * escaped too: an ad file is one attribute per line, and a name with a newline would end it.
 */
export function classAdString(value: string): string {
  const escaped = value
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("\n", "\\n")
    .replaceAll("\r", "\\r")
    .replaceAll("\t", "\\t");
  // Any other control character is dropped.
  const printable = [...escaped]
    .filter((char) => {
      const code = char.charCodeAt(0);
      return code >= 0x20 && code !== 0x7f;
    })
    .join("");
  return `"${printable}"`;
}
