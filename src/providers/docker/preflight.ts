/**
 * Docker's preflight: every host answers and has the image (it is never pulled), and the work
 * directory on this head node takes a container's files (a scratch directory made and removed).
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { failed, type PreflightCheck, passed, reasonOf } from "../../model/preflight.js";

export interface DockerHostProbe {
  host: string;
  /** The engine's version, from GET /version. */
  version(): Promise<string>;
  /** The image id the tag names on this host (GET /images/{tag}/json). */
  image(): Promise<string>;
}

export async function dockerPreflight(
  cloud: string,
  image: string,
  workDir: string,
  hosts: readonly DockerHostProbe[],
): Promise<PreflightCheck[]> {
  const perHost = hosts.map(async (probe): Promise<PreflightCheck[]> => {
    const reach = `cloud ${cloud}: docker host ${probe.host} answers`;
    try {
      const version = await probe.version();
      const has = `cloud ${cloud}: docker host ${probe.host} has image ${image}`;
      try {
        return [passed(reach, `engine ${version}`), passed(has, await probe.image())];
      } catch (error) {
        return [
          passed(reach, `engine ${version}`),
          failed(has, reasonOf(error), `docker load or docker build -t ${image} on that host`),
        ];
      }
    } catch (error) {
      return [
        failed(reach, reasonOf(error), "start dockerd there, or fix provider.hosts / DOCKER_HOST"),
      ];
    }
  });
  const writable = (async (): Promise<PreflightCheck> => {
    const what = `cloud ${cloud}: workDir ${workDir} is writable`;
    try {
      await mkdir(workDir, { recursive: true, mode: 0o755 });
      const scratch = await mkdtemp(join(workDir, ".preflight-"));
      await rm(scratch, { recursive: true, force: true });
      return passed(what, "a directory was made and removed");
    } catch (error) {
      return failed(
        what,
        reasonOf(error),
        "give the daemon's user a writable provider.workDir with space left",
      );
    }
  })();
  return [...(await Promise.all(perHost)).flat(), await writable];
}
