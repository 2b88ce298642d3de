/**
 * The one place OpenStack is spoken over the network: got, with no retries of its own (the
 * planner backs off), a timeout per call, and every answer returned whatever its status.
 */
import got from "got";
import type { z } from "zod";
import { OPENSTACK_MAX_ANSWER_BYTES } from "../../config/defaults.js";
import { ProviderError } from "../../model/errors.js";
import { classifyNetworkError, type HttpAnswer } from "./errors.js";

export type HttpMethod = "GET" | "POST" | "DELETE";

export interface HttpRequest {
  method: HttpMethod;
  /** Absolute URL, query included. */
  url: string;
  headers?: Readonly<Record<string, string>>;
  json?: unknown;
  /** Names the call in error messages, e.g. `nova POST /servers` (never a token or a secret). */
  call: string;
}

/** Sends one request; throws a classified ProviderError only when no answer came back. */
export type Send = (request: HttpRequest) => Promise<HttpAnswer>;

export interface SenderOptions {
  timeoutMs: number;
  /** PEM text of the CA bundle to trust (clouds.yaml `cacert`, OS_CACERT). */
  ca?: string;
  /** clouds.yaml `verify: false` / OS_INSECURE: do not check the server certificate. */
  insecure?: boolean;
  /** Answers larger than this are cut off as a transient fault; default OPENSTACK_MAX_ANSWER_BYTES. */
  maxAnswerBytes?: number;
}

export function gotSender(options: SenderOptions): Send {
  const client = got.extend({
    timeout: { request: options.timeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: "text",
    headers: { "user-agent": "condor-autoscaler", accept: "application/json" },
    https: {
      ...(options.ca === undefined ? {} : { certificateAuthority: options.ca }),
      ...(options.insecure === true ? { rejectUnauthorized: false } : {}),
    },
  });
  const maxAnswerBytes = options.maxAnswerBytes ?? OPENSTACK_MAX_ANSWER_BYTES;
  return async (request) => {
    const pending = client(request.url, {
      method: request.method,
      ...(request.headers === undefined ? {} : { headers: { ...request.headers } }),
      ...(request.json === undefined ? {} : { json: request.json }),
    });
    let tooLarge = false;
    // Counted as it arrives: a Content-Length may be absent or lie.
    pending.on("downloadProgress", ({ transferred }: { transferred: number }) => {
      if (transferred > maxAnswerBytes && !tooLarge) {
        tooLarge = true;
        pending.cancel();
      }
    });
    try {
      const response = await pending;
      return { status: response.statusCode, headers: response.headers, body: response.body };
    } catch (error) {
      if (tooLarge)
        throw new ProviderError(
          "transient",
          `${request.call}: the answer is larger than ${Math.round(maxAnswerBytes / 1024 / 1024)} MB; not read`,
        );
      throw classifyNetworkError(error, request.call);
    }
  };
}

/** Parses and validates a JSON answer; a body of another shape is a (transient) protocol fault. */
export function parseAnswer<T>(schema: z.ZodType<T>, answer: HttpAnswer, call: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    throw new ProviderError("transient", `${call}: HTTP ${answer.status}: the body is not JSON`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const where = result.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`)
      .join("; ");
    throw new ProviderError("transient", `${call}: unexpected answer: ${where}`);
  }
  return result.data;
}

/** `base` + `path` with exactly one slash between them; `path` may carry a query. */
export function joinUrl(base: string, path: string): string {
  // Not /\/+$/: on a catalog URL with a long run of slashes inside, that regex is quadratic.
  let end = base.length;
  while (end > 0 && base[end - 1] === "/") end -= 1;
  return `${base.slice(0, end)}/${path.replace(/^\/+/, "")}`;
}

/** A query string (with its `?`) from defined parameters, in the order given. */
export function query(params: Readonly<Record<string, string | number | undefined>>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.append(key, String(value));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}
