/**
 * Registers the secrets a configuration points at, before anything else runs: the worker token
 * (read from condor.tokenFile) and the credentials in the environment. Error texts that echo them
 * are then scrubbed from logs, /status and plan's output alike (src/secrets.ts).
 */
import { readBoundedFile } from "../bounded-file.js";
import { MAX_CONFIG_FILE_BYTES } from "../config/defaults.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { registerSecret } from "../secrets.js";

const SECRET_VARIABLES = [
  "OS_PASSWORD",
  "OS_APPLICATION_CREDENTIAL_SECRET",
  "OS_TOKEN",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_ACCESS_KEY_ID",
  "AWS_SESSION_TOKEN",
] as const;

export async function registerConfiguredSecrets(
  config: AutoscalerConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  for (const name of SECRET_VARIABLES) registerSecret(env[name]);
  const condor = config.global.condor;
  if (condor.kind !== "htcondor" || condor.tokenFile === undefined) return;
  try {
    registerSecret(await readBoundedFile(condor.tokenFile, { maxBytes: MAX_CONFIG_FILE_BYTES }));
  } catch {
    // Unreadable now: it is registered when a launch reads it, or the launch fails.
  }
}
