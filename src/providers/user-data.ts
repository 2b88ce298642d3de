/**
 * Renders a cloud's user-data template at launch time. The token is read from its file for every
 * launch (so a rotated token is picked up) and never logged.
 */

import { hostname } from "node:os";
import { readBoundedFile } from "../bounded-file.js";
import { MAX_CONFIG_FILE_BYTES } from "../config/defaults.js";
import type { AutoscalerConfig, CloudConfig } from "../config/schema.js";
import { renderUserData } from "../config/user-data.js";
import { registerSecret } from "../secrets.js";

/** CONDOR_HOST for workers: configured, else the collector's host, else this head node's name. */
export function headNodeOf(config: AutoscalerConfig): string {
  const condor = config.global.condor;
  if (condor.kind === "htcondor") {
    if (condor.headNode !== undefined) return condor.headNode;
    if (condor.collector !== undefined) return condor.collector.replace(/:\d+$/, "");
  }
  return hostname();
}

/** A file's text, or an error naming the file and what it is for. */
async function readNamed(file: string, role: string): Promise<string> {
  try {
    return await readBoundedFile(file, { maxBytes: MAX_CONFIG_FILE_BYTES });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`${role} ${file} cannot be read: ${why}`, { cause: error });
  }
}

export function userDataRenderer(
  config: AutoscalerConfig,
  cloud: CloudConfig,
): (workerName: string) => Promise<string | undefined> {
  const template = cloud.userDataPath;
  if (template === undefined) return async () => undefined;
  const condor = config.global.condor;
  const tokenFile = condor.kind === "htcondor" ? condor.tokenFile : undefined;
  return async (workerName) => {
    const [text, token] = await Promise.all([
      readNamed(template, "userData template"),
      tokenFile === undefined ? Promise.resolve("") : readNamed(tokenFile, "condor.tokenFile"),
    ]);
    registerSecret(token);
    return renderUserData(text, {
      headNode: headNodeOf(config),
      pool: config.global.pool,
      cloud: cloud.name,
      token: token.trim(),
      workerName,
      jobs: cloud.jobs,
    });
  };
}
