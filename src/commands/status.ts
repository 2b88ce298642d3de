/**
 * `condor-autoscaler status`: asks a running daemon for GET /status and prints its workers and
 * clouds as a table (like Vac's `vac machines`), or the document itself with --json.
 */
import { STATUS_REQUEST_TIMEOUT } from "../config/defaults.js";
import { shortDuration } from "../config/duration.js";
import type { StatusCloud, StatusDocument } from "../daemon/status.js";
import { httpUrl } from "../daemon/status-server.js";
import { readStatusToken } from "../daemon/status-token.js";
import { loadOrExit } from "./load.js";
import { table } from "./table.js";

export interface StatusOptions {
  config: string;
  url?: string;
  /** The bearer token's file; default: the config's status.tokenFile when --url is not given. */
  tokenFile?: string;
  json: boolean;
}

export { shortDuration };

/** Image ids shortened as Docker does: `sha256:` and the first 12 hex digits. */
export function shortImage(image: string | null): string {
  if (image === null) return "-";
  return image.replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/gi, "sha256:$1");
}

function cloudLine(cloud: StatusCloud, now: number): string {
  const w = cloud.workers;
  const running = w.busy + w.idle;
  const parts = [
    `min ${cloud.minWorkers} max ${cloud.maxWorkers}`,
    `${running} running${running > 0 ? ` (${w.busy} busy, ${w.idle} idle)` : ""}`,
    ...(["booting", "stuck", "missing", "failed", "gone"] as const)
      .filter((state) => w[state] > 0)
      .map((state) => `${w[state]} ${state}`),
  ];
  const launches =
    cloud.disabled !== null
      ? `DISABLED (${cloud.disabled.kind}): ${cloud.disabled.message}`
      : cloud.backoff !== null
        ? `backoff ${cloud.backoff.kind} ${shortDuration(cloud.backoff.secondsLeft)} left`
        : "no backoff";
  const { observed } = cloud;
  const unlisted = observed.listed
    ? ""
    : `NOT LISTED${observed.failingSince === null ? "" : ` for ${shortDuration(now - observed.failingSince)}`} (${observed.failures} ticks), ${observed.lastListedAt === null ? "never listed" : `last listed ${shortDuration(now - observed.lastListedAt)} ago`}; `;
  return `cloud ${cloud.name}: ${unlisted}${parts.join(", ")}, ${launches}`;
}

/** The status document as a person reads it: one header line, the workers, one line per cloud. */
export function formatStatus(doc: StatusDocument): string {
  const lines: string[] = [];
  const tick = doc.lastTick;
  lines.push(
    tick === null
      ? `pool ${doc.pool}: no tick yet`
      : `pool ${doc.pool}: tick ${tick.tick} ended ${shortDuration(doc.generatedAt - tick.completedAt)} ago, took ${tick.durationSeconds.toFixed(1)}s`,
  );
  if (!doc.health.healthy) lines.push(`UNHEALTHY: ${doc.health.message}`);
  if (doc.failuresSinceLastTick > 0 && doc.lastFailure !== null) {
    lines.push(
      `${doc.failuresSinceLastTick} tick(s) failed since; last: ${doc.lastFailure.reason}: ${doc.lastFailure.message}`,
    );
  }
  lines.push("");
  lines.push(
    doc.workers.length === 0
      ? "(no workers)"
      : table([
          ["WORKER", "CLOUD", "STATE", "AGE", "IDLE FOR", "INSTANCE ID", "IMAGE"],
          ...doc.workers.map((w) => [
            w.name,
            w.cloud,
            w.state,
            w.launchedAt === null ? "-" : shortDuration(doc.generatedAt - w.launchedAt),
            w.idleSeconds === null ? "-" : shortDuration(w.idleSeconds),
            w.instanceId,
            shortImage(w.image),
          ]),
        ]),
  );
  lines.push("");
  for (const cloud of doc.clouds) lines.push(cloudLine(cloud, doc.generatedAt));
  for (const gap of doc.gaps) lines.push(`INCOMPLETE: ${gap.cloud ?? gap.source}: ${gap.message}`);
  for (const note of doc.notes) lines.push(`note: ${note}`);
  // Older daemons send no such field.
  const unconfigured = doc.unconfigured ?? [];
  for (const cloud of [...new Set(unconfigured.map((i) => i.cloud))]) {
    const names = unconfigured.filter((i) => i.cloud === cloud).map((i) => i.name);
    lines.push(
      `NOT CONFIGURED: cloud ${cloud} still has ${names.length} instance${names.length === 1 ? "" : "s"} of this pool, unmanaged: ${names.join(", ")}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** Where GET /status is: --url (a base URL, or the /status URL itself), else the config's address. */
export function statusUrl(base: string | undefined, address: string, port: number): URL {
  if (base !== undefined) {
    const url = new URL(base);
    if (url.pathname.endsWith("/status")) return url;
    return new URL("status", url.href.endsWith("/") ? url.href : `${url.href}/`);
  }
  // A daemon listening on every address answers on loopback.
  const host = address === "0.0.0.0" ? "127.0.0.1" : address === "::" ? "::1" : address;
  return new URL("/status", httpUrl(host, port));
}

function isStatusDocument(value: unknown): value is StatusDocument {
  return (
    typeof value === "object" &&
    value !== null &&
    "pool" in value &&
    typeof value.pool === "string" &&
    "workers" in value &&
    Array.isArray(value.workers) &&
    "clouds" in value &&
    Array.isArray(value.clouds)
  );
}

function reason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return `no answer within ${STATUS_REQUEST_TIMEOUT}s`;
  // fetch says "fetch failed" and puts what happened (ECONNREFUSED, …) in its cause.
  return error.cause instanceof Error ? error.cause.message : error.message;
}

export async function statusCommand(options: StatusOptions): Promise<number> {
  let url: URL;
  let tokenFile = options.tokenFile;
  if (options.url === undefined) {
    const { status } = (await loadOrExit(options.config)).global;
    url = statusUrl(undefined, status.address, status.port);
    tokenFile ??= status.tokenFile;
  } else {
    try {
      url = statusUrl(options.url, "", 0);
    } catch {
      process.stderr.write(`condor-autoscaler status: not a URL: ${options.url}\n`);
      return 1;
    }
  }
  let token: string | undefined;
  try {
    token = tokenFile === undefined ? undefined : await readStatusToken(tokenFile);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    process.stderr.write(`condor-autoscaler status: ${why}\n`);
    return 1;
  }
  let document: StatusDocument;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(STATUS_REQUEST_TIMEOUT * 1000),
      ...(token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } }),
    });
    const body = await response.text();
    if (!response.ok) {
      process.stderr.write(
        `condor-autoscaler status: ${url.href} answered ${response.status} ${response.statusText}: ${body.trim()}\n`,
      );
      return 1;
    }
    const parsed: unknown = JSON.parse(body);
    if (!isStatusDocument(parsed)) throw new Error("the answer is not a status document");
    document = parsed;
  } catch (error) {
    process.stderr.write(
      `condor-autoscaler status: no status from ${url.href}: ${reason(error)} (is the daemon running, with its status endpoint there?)\n`,
    );
    return 1;
  }
  process.stdout.write(
    options.json ? `${JSON.stringify(document, null, 2)}\n` : formatStatus(document),
  );
  return 0;
}
