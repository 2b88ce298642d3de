/**
 * The status and metrics endpoint, on node:http: GET /metrics (Prometheus text format),
 * GET /healthz (200 while ticks complete in time, else 503 with the reason) and GET /status (the
 * last tick as JSON). It binds the configured address, loopback unless told otherwise; anywhere
 * else every request must carry the configured bearer token.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type Logger from "bunyan";
import { STATUS_CLIENT_TIMEOUT, STATUS_MAX_CONNECTIONS } from "../config/defaults.js";
import { redact, redactText } from "./redact.js";
import type { HealthVerdict, StatusDocument } from "./status.js";
import { carriesToken } from "./status-token.js";

export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

export interface StatusServerOptions {
  address: string;
  /** 0 picks a free port; `StatusServer.port` tells which. */
  port: number;
  metrics: MetricsSource;
  status: () => StatusDocument;
  health: () => HealthVerdict;
  log: Logger;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

export interface StatusServer {
  /** The address and port it listens on (the port it got when asked for 0). */
  readonly address: string;
  readonly port: number;
  /** `http://address:port`, for logs and clients. */
  readonly url: string;
  close(): Promise<void>;
}

export const STATUS_PATHS = ["/metrics", "/healthz", "/status"] as const;

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";

function send(response: ServerResponse, code: number, type: string, body: string): void {
  response.writeHead(code, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  response.end(body);
}

/** `http://host:port`, with an IPv6 address in brackets. */
export function httpUrl(address: string, port: number): string {
  return `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  options: StatusServerOptions,
): Promise<void> {
  const path = new URL(request.url ?? "/", "http://status").pathname;
  if (options.token !== undefined && !carriesToken(request, options.token)) {
    response.setHeader("WWW-Authenticate", 'Bearer realm="condor-autoscaler"');
    send(response, 401, TEXT, `${path} needs the bearer token of status.tokenFile\n`);
    return;
  }
  if (!(STATUS_PATHS as readonly string[]).includes(path)) {
    send(response, 404, TEXT, `not found: ${path} (try ${STATUS_PATHS.join(", ")})\n`);
    return;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    send(response, 405, TEXT, `method ${request.method ?? "?"} not allowed on ${path}\n`);
    return;
  }
  switch (path) {
    case "/metrics":
      send(response, 200, options.metrics.contentType, await options.metrics.text());
      return;
    case "/healthz": {
      const verdict = options.health();
      send(response, verdict.healthy ? 200 : 503, TEXT, `${redactText(verdict.message)}\n`);
      return;
    }
    default:
      // Error texts from tools and clouds end up here: scrubbed as the logs are, before they go.
      send(response, 200, JSON_TYPE, `${JSON.stringify(redact(options.status()), null, 2)}\n`);
  }
}

/** Starts listening; rejects when the address cannot be bound (in use, not local, no permission). */
export function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const { log } = options;
  const server = createServer((request, response) => {
    handle(request, response, options).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      log.error({ err: error, path: request.url }, `status endpoint: ${request.url}: ${message}`);
      if (!response.headersSent) send(response, 500, TEXT, `internal error: ${message}\n`);
      else response.destroy();
    });
  });
  // A scraper needs a connection or two: slow or idle clients must not use up the daemon's files.
  server.maxConnections = STATUS_MAX_CONNECTIONS;
  server.headersTimeout = STATUS_CLIENT_TIMEOUT * 1000;
  server.requestTimeout = STATUS_CLIENT_TIMEOUT * 1000;
  server.keepAliveTimeout = 5000;
  server.setTimeout(STATUS_CLIENT_TIMEOUT * 1000, (socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => {
      reject(
        new Error(
          `status endpoint: cannot listen on ${httpUrl(options.address, options.port)}: ${error.message}`,
          { cause: error },
        ),
      );
    };
    server.once("error", failed);
    server.listen({ host: options.address, port: options.port }, () => {
      server.off("error", failed);
      server.on("error", (error) => log.error({ err: error }, `status endpoint: ${error.message}`));
      const bound = server.address();
      if (bound === null || typeof bound === "string") {
        reject(new Error(`status endpoint: not listening on a TCP port: ${String(bound)}`));
        return;
      }
      const url = httpUrl(bound.address, bound.port);
      log.info(
        { address: bound.address, port: bound.port, url },
        `status and metrics on ${url} (${STATUS_PATHS.join(", ")})`,
      );
      resolve({
        address: bound.address,
        port: bound.port,
        url,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error === undefined ? done() : fail(error)));
            server.closeAllConnections();
          }),
      });
    });
  });
}
