/** `condor-autoscaler validate DIR`: exit 0 on a valid directory, 1 with every problem otherwise. */
import { loadConfig } from "../config/load.js";
import { ConfigError, formatConfigProblem } from "../model/errors.js";

export async function validateCommand(dir: string): Promise<number> {
  try {
    const config = await loadConfig(dir);
    const clouds = config.clouds.map((cloud) => cloud.name).join(", ");
    process.stdout.write(`${config.dir}: valid (pool ${config.global.pool}; clouds: ${clouds})\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`${formatConfigProblem(problem)}\n`);
    process.stderr.write(
      `${error.problems.length} problem${error.problems.length === 1 ? "" : "s"} found\n`,
    );
    return 1;
  }
}
