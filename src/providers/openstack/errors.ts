/**
 * OpenStack answers → the taxonomy. The policy sees the kind, never Nova's text.
 *
 * Nova error bodies are `{"<name>": {"code": N, "message": "…"}}` (403 forbidden, 404 itemNotFound,
 * 413/429 overLimit with `retryAfter` copied from the Retry-After header as a string); Keystone's are
 * `{"error": {"code", "title", "message"}}`; Glance often answers in plain text or HTML.
 */
import { z } from "zod";
import { type ErrorKind, ProviderError } from "../../model/errors.js";

/** What came back from one HTTP call, as the adapters need it. */
export interface HttpAnswer {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: string;
}

/** Longest piece of a cloud's error text kept in a message. */
const MAX_DETAIL = 300;

const faultShape = z.object({
  message: z.string().optional(),
  title: z.string().optional(),
  code: z.number().optional(),
  retryAfter: z.union([z.string(), z.number()]).optional(),
});
const errorEnvelope = z.record(z.string(), z.unknown());

export interface ErrorDetail {
  message: string;
  retryAfter?: string;
}

/** The message (and Retry-After copy) of an error body, whatever service sent it. */
export function errorDetail(body: string): ErrorDetail {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { message: plainText(body) };
  }
  const envelope = errorEnvelope.safeParse(parsed);
  if (envelope.success) {
    for (const value of Object.values(envelope.data)) {
      const fault = faultShape.safeParse(value);
      if (!fault.success) continue;
      const text = fault.data.message ?? fault.data.title;
      if (text === undefined) continue;
      return {
        message: clip(text),
        ...(fault.data.retryAfter === undefined
          ? {}
          : { retryAfter: String(fault.data.retryAfter) }),
      };
    }
  }
  return { message: plainText(body) };
}

function plainText(body: string): string {
  const text = body
    // Not `<[^>]*>`: on a body of many `<` and no `>` that scans to the end from each of them.
    .replace(/<[^<>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return clip(text === "" ? "(empty body)" : text);
}

function clip(text: string): string {
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}

export function headerValue(answer: HttpAnswer, name: string): string | undefined {
  const value = answer.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Seconds to wait from a Retry-After value: delta-seconds or an HTTP date (relative to `now`,
 * epoch seconds). Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+(?:\.\d+)?$/.test(text)) {
    const seconds = Math.ceil(Number(text));
    // Hundreds of digits make Infinity: as unreadable as garbage, not "wait for ever".
    return Number.isFinite(seconds) ? seconds : undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil(at / 1000 - now));
}

/** Words by which a 4xx names a part of the request that is wrong in the policy file. */
const CONFIG_SUBJECT = /flavor|image|network|key ?pair|key_name|security ?group|availability zone/i;
const QUOTA_TEXT = /quota exceeded/i;

/**
 * Classifies an error answer. `call` names the request (`nova POST /servers`), `now` is the time
 * an HTTP-date Retry-After is measured from. 401 here is final: the caller has already
 * re-authenticated once.
 */
export function classifyAnswer(answer: HttpAnswer, call: string, now: number): ProviderError {
  const detail = errorDetail(answer.body);
  const status = answer.status;
  const message = `${call}: HTTP ${status}: ${detail.message}`;
  const retryAfter = parseRetryAfter(headerValue(answer, "retry-after") ?? detail.retryAfter, now);
  const kind = kindOf(status, detail.message, retryAfter !== undefined);
  return new ProviderError(kind, message, {
    ...(kind === "throttled" && retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
  });
}

function kindOf(status: number, text: string, hasRetryAfter: boolean): ErrorKind {
  if (status === 401) return "auth";
  if (status === 403) return QUOTA_TEXT.test(text) ? "quota" : "auth";
  if (status === 413) return hasRetryAfter ? "throttled" : "quota";
  if (status === 429) return "throttled";
  if (status === 408) return "transient";
  // 409: a server in a transitional state is worth retrying; an ambiguous or unusable network is not.
  if (status === 409) return CONFIG_SUBJECT.test(text) ? "config" : "transient";
  if (status >= 400 && status < 500) return "config";
  return "transient";
}

/** TLS failures: a CA or host name problem, which retrying will not fix. */
const TLS_CODES = new Set([
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
]);

interface NetworkErrorShape {
  code?: unknown;
  name?: unknown;
  message?: unknown;
}

/**
 * Classifies a call that got no HTTP answer at all (timeout, reset, refused, DNS, TLS). The HTTP
 * client's error object is not kept as the cause: it carries the request's headers (the token).
 */
export function classifyNetworkError(error: unknown, call: string): ProviderError {
  if (error instanceof ProviderError) return error;
  const shape = (typeof error === "object" && error !== null ? error : {}) as NetworkErrorShape;
  const code = typeof shape.code === "string" ? shape.code : undefined;
  const name = typeof shape.name === "string" ? shape.name : undefined;
  const text = typeof shape.message === "string" ? shape.message : String(error);
  const label = code ?? name ?? "error";
  if (code !== undefined && TLS_CODES.has(code)) {
    return new ProviderError("config", `${call}: TLS: ${label}: ${clip(text)}`);
  }
  return new ProviderError("transient", `${call}: ${label}: ${clip(text)}`);
}
