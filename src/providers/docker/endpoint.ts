/**
 * Where a Docker cloud's hosts are and how to reach them: the cloud file's `hosts`, else
 * DOCKER_HOST (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the docker CLI reads them), else the
 * local socket. TLS client certificates are read from files, never from the policy file.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { DockerOptions } from "dockerode";
import { DEFAULT_DOCKER_SOCKET } from "../../config/defaults.js";
import { ProviderError } from "../../model/errors.js";
import type { DockerHostSettings } from "./schema.js";

export interface DockerEndpoint {
  /** Short name for logs and backoff scopes (`host=<name>`). */
  name: string;
  url: string;
  certPath?: string;
  maxContainers?: number;
}

export type Environment = Readonly<Record<string, string | undefined>>;

function nameOf(url: string): string {
  if (url.startsWith("unix://")) return "local";
  return new URL(url).hostname || url;
}

/** The cloud file's hosts, or the one host the environment names. Names are made unique. */
export function endpoints(
  hosts: readonly DockerHostSettings[] | undefined,
  env: Environment,
): DockerEndpoint[] {
  if (hosts !== undefined) {
    // Explicit names first (the schema refuses duplicates among them), then derived ones.
    const used = new Set(hosts.flatMap((host) => (host.name === undefined ? [] : [host.name])));
    return hosts.map((host) => {
      let name = host.name;
      if (name === undefined) {
        const base = nameOf(host.url);
        name = base;
        for (let n = 2; used.has(name); n += 1) name = `${base}-${n}`;
        used.add(name);
      }
      return {
        name,
        url: host.url,
        ...(host.tls === undefined ? {} : { certPath: host.tls.certPath }),
        ...(host.maxContainers === undefined ? {} : { maxContainers: host.maxContainers }),
      };
    });
  }
  const fromEnv = env.DOCKER_HOST?.trim();
  if (fromEnv === undefined || fromEnv === "") {
    return [{ name: "local", url: DEFAULT_DOCKER_SOCKET }];
  }
  // A bare path is a socket; a bare host:port is tcp (as the docker CLI reads them).
  const url = fromEnv.startsWith("/")
    ? `unix://${fromEnv}`
    : /^[a-z]+:\/\//.test(fromEnv)
      ? fromEnv
      : `tcp://${fromEnv}`;
  const tls = env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== "";
  const certPath = env.DOCKER_CERT_PATH ?? join(env.HOME ?? homedir(), ".docker");
  return [{ name: nameOf(url), url, ...(tls && !url.startsWith("unix://") ? { certPath } : {}) }];
}

/** What dockerode needs to talk to `endpoint`; reads the client certificates when it uses TLS. */
export async function connectionOptions(
  endpoint: DockerEndpoint,
  timeoutMs: number,
): Promise<DockerOptions> {
  if (endpoint.url.startsWith("unix://")) {
    return { socketPath: endpoint.url.slice("unix://".length), timeout: timeoutMs };
  }
  const match = /^tcp:\/\/([^/:]+|\[[^\]]+\]):(\d+)$/.exec(endpoint.url);
  if (match === null) {
    throw new ProviderError(
      "config",
      `Docker host ${endpoint.name}: ${endpoint.url} is neither unix:///path nor tcp://host:port`,
    );
  }
  const [, host = "", port = ""] = match;
  const base = { host: host.replace(/^\[|\]$/g, ""), port: Number(port), timeout: timeoutMs };
  if (endpoint.certPath === undefined) return { ...base, protocol: "http" };
  const certPath = endpoint.certPath;
  const read = async (file: string) => {
    const path = join(certPath, file);
    try {
      return await readFile(path);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new ProviderError(
        "config",
        `Docker host ${endpoint.name}: cannot read ${path}: ${why}`,
      );
    }
  };
  const [ca, cert, key] = await Promise.all([read("ca.pem"), read("cert.pem"), read("key.pem")]);
  return { ...base, protocol: "https", ca, cert, key };
}
