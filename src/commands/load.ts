/** Loads a config directory for a command, printing every problem and exiting on an invalid one. */
import { loadConfig } from "../config/load.js";
import type { AutoscalerConfig } from "../config/schema.js";
import { ConfigError } from "../model/errors.js";

export async function loadOrExit(dir: string): Promise<AutoscalerConfig> {
  try {
    return await loadConfig(dir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`invalid configuration in ${dir}:\n${error.message}\n`);
    process.exit(1);
  }
}
