/**
 * Docker Engine API failures → the taxonomy. dockerode rejects with the engine's HTTP status and
 * its `{"message": …}` body, or with the socket's error code when no answer came at all.
 */
import { type ErrorKind, ProviderError } from "../../model/errors.js";

/** No answer from the host: it is down, restarting or unreachable; another tick may do better. */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOENT", // the unix socket does not exist: dockerd is not running
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

/** What dockerode's rejections carry; anything may be missing. */
interface DockerFailure {
  statusCode?: unknown;
  code?: unknown;
  json?: unknown;
  message?: unknown;
}

/** The engine's own message (`{"message": "No such image: …"}`), else dockerode's. */
export function engineMessage(error: unknown): string {
  const failure = (typeof error === "object" && error !== null ? error : {}) as DockerFailure;
  const json = failure.json;
  if (typeof json === "object" && json !== null && "message" in json) {
    const message = (json as { message: unknown }).message;
    if (typeof message === "string" && message !== "") return message;
  }
  if (typeof failure.message === "string" && failure.message !== "") return failure.message;
  return String(error);
}

export function statusOf(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const status = (error as DockerFailure).statusCode;
  return typeof status === "number" ? status : undefined;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as DockerFailure).code;
  return typeof code === "string" ? code : undefined;
}

/**
 * How much of a 409's message is searched: the engine's "name … is already in use" is about 250
 * characters, and `name .*` scans to the end from every "name ", quadratic in a long message.
 */
const CONFLICT_TEXT_MAX = 1024;

/** A 409 on create: the name is taken (a retry with another name will do). */
export function isNameConflict(error: unknown): boolean {
  return (
    statusOf(error) === 409 &&
    /name .* (is )?already in use|Conflict/i.test(engineMessage(error).slice(0, CONFLICT_TEXT_MAX))
  );
}

/** The engine refusing rslave propagation of a bind whose host mount is private. */
const PRIVATE_MOUNT = /is not a shared (or slave )?mount/i;

function kindOf(error: unknown): ErrorKind {
  const status = statusOf(error);
  const message = engineMessage(error);
  // Answered 500 at start, but no retry will change the host's mounts.
  if (PRIVATE_MOUNT.test(message)) return "config";
  if (status === undefined) {
    const code = codeOf(error) ?? "";
    if (UNREACHABLE.has(code) || /socket hang up|timeout/i.test(message)) return "transient";
    // The socket is there but we may not use it (not in group docker), or TLS refused us.
    if (code === "EACCES" || code === "EPERM") return "auth";
    if (/certificate|CERT_|TLS|SSL/i.test(`${code} ${message}`)) return "auth";
    return "transient";
  }
  if (status === 401 || status === 403) return "auth";
  if (status === 429) return "throttled";
  // No such image (never pulled here), an invalid reference, a limit the engine refuses.
  if (status === 400 || status === 404) return "config";
  if (/no space left on device|cannot allocate memory/i.test(message)) return "capacity";
  return "transient";
}

/** Classifies a failed call to host `host`; transient failures concern that host only. */
export function classifyDockerError(error: unknown, call: string, host: string): ProviderError {
  if (error instanceof ProviderError) return error;
  const kind = kindOf(error);
  const status = statusOf(error);
  const code = codeOf(error);
  const what = status !== undefined ? `HTTP ${status}` : (code ?? "no answer");
  const message = engineMessage(error);
  const hint = PRIVATE_MOUNT.test(message)
    ? " (make the host's mount shared, or set cvmfsPropagation: none)"
    : "";
  return new ProviderError(kind, `docker ${host}: ${call}: ${what}: ${message}${hint}`, {
    cause: error,
    ...(kind === "transient" ? { scope: `host=${host}` } : {}),
  });
}

/**
 * The head node's work directory cannot take a container's files. Full, over quota or read-only
 * (a remount after a disk error) is a state the host recovers from: a capacity backoff retries by
 * itself. A directory that is not one, or forbidden to us, needs the admin: config.
 */
const WORK_DIR_RECOVERS: Readonly<Record<string, ErrorKind>> = {
  ENOSPC: "capacity",
  EDQUOT: "capacity",
  EROFS: "capacity",
  EIO: "transient",
  EMFILE: "transient",
  ENFILE: "transient",
  EBUSY: "transient",
};

export function workDirError(workDir: string, error: unknown): ProviderError {
  const code = (error as { code?: unknown } | null)?.code;
  const why = error instanceof Error ? error.message : String(error);
  const kind = typeof code === "string" ? WORK_DIR_RECOVERS[code] : undefined;
  if (kind === undefined)
    return new ProviderError("config", `workDir ${workDir}: ${why}`, { cause: error });
  return new ProviderError(kind, `workDir ${workDir}: ${why} (retried once it recovers)`, {
    cause: error,
  });
}
