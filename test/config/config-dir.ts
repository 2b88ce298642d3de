/** Writes throw-away config directories for tests. */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const VALID_GLOBAL = `pool: test
tickInterval: 30s
condor:
  kind: simulated
`;

export const VALID_CLOUD = `provider:
  kind: simulated
  bootDelay: 2m
priority: 1
maxWorkers: 4
worker:
  cpus: 4
  memoryMb: 8000
idleTimeout: 10m
`;

/** Creates a directory holding `files` (relative path → content) and returns its path. */
export async function configDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "condor-autoscaler-config-"));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
