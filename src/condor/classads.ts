/**
 * ClassAds as HTCondor's tools print them with -json: a JSON list of objects, or nothing at all
 * when no ad matched. Attribute readers check types at this boundary; an unevaluated expression
 * (`/Expr(...)/`) is not a value.
 */
import { CondorError } from "../model/errors.js";

export type ClassAd = Readonly<Record<string, unknown>>;

/** Parses -json output. Several lists back to back (one per schedd with -global) are joined. */
export function parseClassAds(stdout: string, command: string): ClassAd[] {
  const text = stdout.trim();
  if (text === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const joined = text.replace(/\n\]\s*\n\[\n/g, "\n,\n");
    try {
      if (joined === text) throw error;
      parsed = JSON.parse(joined);
    } catch {
      const reason = error instanceof Error ? error.message : String(error);
      throw new CondorError(
        "output",
        command,
        `malformed or truncated JSON (${text.length} bytes): ${reason}`,
      );
    }
  }
  if (!Array.isArray(parsed))
    throw new CondorError("output", command, "expected a JSON list of ClassAds");
  for (let index = 0; index < parsed.length; index += 1) {
    const ad: unknown = parsed[index];
    if (typeof ad !== "object" || ad === null || Array.isArray(ad)) {
      throw new CondorError("output", command, `element ${index} is not a ClassAd object`);
    }
  }
  return parsed as ClassAd[];
}

export function numberAttr(ad: ClassAd, name: string): number | undefined {
  const value = ad[name];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function stringAttr(ad: ClassAd, name: string): string | undefined {
  const value = ad[name];
  return typeof value === "string" && !value.startsWith("/Expr(") ? value : undefined;
}

export function booleanAttr(ad: ClassAd, name: string): boolean | undefined {
  const value = ad[name];
  return typeof value === "boolean" ? value : undefined;
}

/** Quotes a string as a ClassAd string literal. */
export function classAdString(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}
