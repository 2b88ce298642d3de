/**
 * Redaction of log records: nothing that looks like a credential reaches a log stream.
 *
 * A field whose key names a secret (password, token, secret, authorization, credentials, access
 * keys, private keys, user-data, …) is replaced by "[REDACTED]" wherever it sits: at the top of a
 * record, deep in nested objects and arrays, or in an error. Strings are masked too, since secrets
 * also travel inside messages and error texts: bearer tokens, JWTs (HTCondor IDTOKENs, Keystone
 * or OIDC tokens), PEM private keys, and `key=value` / `"key": "value"` pairs whose key names a
 * secret (an HTTP header dump, a JSON request body in an error, `TOKEN=…` in rendered user-data).
 *
 * The record is copied, never changed in place: bunyan hands the same object to every stream.
 */

import { maskKnownSecrets, REDACTED } from "../secrets.js";

export { REDACTED };

/** Words that make a key secret, matched in the key lower-cased with separators removed. */
const SECRET_WORDS = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "authorization",
  "credential",
  "accesskey",
  "apikey",
  "privatekey",
  "userdata",
  "cookie",
] as const;

/** Keys that contain a secret word but hold none: idempotency and pagination tokens. */
const NOT_SECRET = new Set(["clienttoken", "nexttoken"]);

/** A key naming where a secret is kept (`tokenFile`, `passwordPath`) holds a path, not the secret. */
const LOCATION_SUFFIX = /(?:files?|path|dir|directory)$/;

/** TLS options' key material (`cert`, `key`, `pfx`): secret when it is contents, not a name. */
const KEY_MATERIAL = new Set(["cert", "key", "pfx"]);

function normalized(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Whether a field with this key holds a secret, whatever its value. */
export function isSecretKey(key: string): boolean {
  const k = normalized(key);
  if (NOT_SECRET.has(k) || LOCATION_SUFFIX.test(k)) return false;
  return SECRET_WORDS.some((word) => k.includes(word));
}

function isBytes(value: unknown): value is ArrayBufferView | ArrayBuffer {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/** `cert: <PEM or bytes>` is key material; `key: "my-keypair"` (a name) is not. */
function isKeyMaterial(key: string, value: unknown): boolean {
  if (!KEY_MATERIAL.has(normalized(key))) return false;
  if (typeof value === "string") return value.includes("-----BEGIN");
  return isBytes(value) || Array.isArray(value) || (typeof value === "object" && value !== null);
}

const PRIVATE_KEY_BLOCK =
  /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;

/** `Bearer <token>` anywhere in a text. */
const BEARER = /\b(Bearer)(\s+)[A-Za-z0-9\-._~+/]+=*/gi;

/** Three base64url parts, the first starting `eyJ` (`{"` encoded): a JWT if the first is JSON. */
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/**
 * `key=value`, `key: value`, `"key": "value"`: a key, an optional quote, `:` or `=`, a value (quoted,
 * or up to a separator; an auth scheme such as `Bearer ` is part of the value).
 */
const KEY_VALUE =
  /(?<![\w.-])(["']?)([A-Za-z_][\w.-]*)\1(\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|(?:(?:bearer|basic|digest|negotiate|token)\s+)?(?:\[REDACTED\]|[^\s,;&"'{}[\]]+))/gi;

/** A JWT's first part is a JSON object (a JOSE header, naming its `alg`). */
function looksLikeJwt(candidate: string): boolean {
  const header = Buffer.from(candidate.slice(0, candidate.indexOf(".")), "base64url").toString();
  if (header.includes('"alg"')) return true;
  try {
    const parsed: unknown = JSON.parse(header);
    return typeof parsed === "object" && parsed !== null;
  } catch {
    return false;
  }
}

/** A text with every secret it visibly carries masked. */
export function redactText(text: string): string {
  if (text.length === 0) return text;
  const masked = maskKnownSecrets(text)
    .replace(PRIVATE_KEY_BLOCK, REDACTED)
    .replace(JWT, (match) => (looksLikeJwt(match) ? REDACTED : match))
    .replace(BEARER, `$1$2${REDACTED}`);
  return maskKeyValues(masked);
}

/**
 * Masks the value of every `key=value` pair whose key names a secret. A pair whose key does not is
 * skipped up to its value only, so `https://h/v3?token=x` still has its token masked.
 */
function maskKeyValues(text: string): string {
  const pairs = new RegExp(KEY_VALUE.source, KEY_VALUE.flags);
  let result = "";
  let copied = 0;
  for (let match = pairs.exec(text); match !== null; match = pairs.exec(text)) {
    const [whole, quote = "", key = "", separator = "", value = ""] = match;
    if (!isSecretKey(key) || value.endsWith(REDACTED)) {
      pairs.lastIndex = match.index + 2 * quote.length + key.length + separator.length;
      continue;
    }
    const quoted = value.startsWith('"') || value.startsWith("'") ? (value[0] ?? "") : "";
    result += text.slice(copied, match.index);
    result += `${quote}${key}${quote}${separator}${quoted}${REDACTED}${quoted}`;
    copied = match.index + whole.length;
  }
  return result + text.slice(copied);
}

/** Deeper than this, a value is cut off (a log record is not a data dump). */
const MAX_DEPTH = 32;

function hasToJson(value: object): value is { toJSON: () => unknown } {
  return "toJSON" in value && typeof value.toJSON === "function";
}

/** An error's useful parts as a plain object: bunyan's `err` fields plus its own properties. */
function errorFields(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    message: error.message,
    name: error.name,
    stack: error.stack,
  };
  for (const key of Object.keys(error)) fields[key] = Reflect.get(error, key);
  if (error.cause !== undefined) fields.cause = error.cause;
  return fields;
}

function copy(value: unknown, ancestors: Set<object>, depth: number): unknown {
  if (typeof value === "string") return redactText(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) return value;
  if (isBytes(value)) return `[${value.byteLength} bytes]`;
  if (ancestors.has(value)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Too deep]";
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => copy(item, ancestors, depth + 1));
    if (value instanceof Map) return copyFields(Object.fromEntries(value), ancestors, depth);
    if (value instanceof Set) return [...value].map((item) => copy(item, ancestors, depth + 1));
    if (value instanceof Error) return copyFields(errorFields(value), ancestors, depth);
    if (hasToJson(value)) return copy(value.toJSON(), ancestors, depth + 1);
    return copyFields(value, ancestors, depth);
  } catch {
    return "[Unreadable]";
  } finally {
    ancestors.delete(value);
  }
}

function copyFields(value: object, ancestors: Set<object>, depth: number): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    let field: unknown;
    try {
      field = Reflect.get(value, key);
    } catch {
      result[key] = "[Unreadable]";
      continue;
    }
    const empty = field === undefined || field === null || field === "";
    result[key] =
      !empty && (isSecretKey(key) || isKeyMaterial(key, field))
        ? REDACTED
        : copy(field, ancestors, depth + 1);
  }
  return result;
}

/**
 * A copy of `value` with every secret replaced: fields whose key names a secret, TLS key material,
 * and secrets inside strings. Errors become plain objects (name, message, stack, own properties,
 * cause); cycles become "[Circular]"; byte buffers "[n bytes]". The input is not changed.
 */
export function redact(value: unknown): unknown {
  return copy(value, new Set(), 0);
}

/** A bunyan record, redacted: the same fields in the same order, secrets replaced. */
export function redactRecord(record: object): Record<string, unknown> {
  return copyFields(record, new Set([record]), 0);
}
