/**
 * The per-container directories on the head node, as Vac makes them for a VM: `<workDir>/<name>/`
 * with user_data (the rendered template, bound read-only) and joboutputs (bound read-write, where
 * the pilot leaves its shutdown_message). Made before a container is created, removed with it,
 * swept when no container of that name is left on any host.
 */
import { chmod, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type Docker from "dockerode";
import { ProviderError } from "../../model/errors.js";
import type { Instance } from "../../model/snapshot.js";
import type { ProviderContext } from "../context.js";
import { workDirError } from "./errors.js";
import type { DockerProviderSettings } from "./schema.js";
import { readShutdownMessage, type ShutdownMessage } from "./shutdown-message.js";

/** Where the pilot finds what Vac gives a VM. */
export const CONTAINER_PATHS = {
  userData: "/user_data",
  joboutputs: "/var/spool/joboutputs",
  machineFeatures: "/etc/machinefeatures",
  jobFeatures: "/etc/jobfeatures",
  cvmfs: "/cvmfs",
} as const;

/** The per-container directory of a new name exists already: try another name. */
export const NAME_TAKEN = new Error("container directory exists");

/** What a new container mounts: its own directory's files, and the site's read-only paths. */
export interface ContainerMounts {
  binds: string[];
  site: Docker.MountSettings[];
  /** Whether a user_data file was made (it is then the default command). */
  userData: boolean;
}

export class ContainerDirectories {
  constructor(
    private readonly settings: DockerProviderSettings,
    private readonly context: ProviderContext,
    /** `<pool>-<cloud>-`: the directories of this cloud's containers. */
    private readonly namePrefix: string,
  ) {}

  path(name: string): string {
    return join(this.settings.workDir, name);
  }

  /** What the pilot said last; the job could write anything there (see readShutdownMessage). */
  shutdownMessage(name: string): Promise<ShutdownMessage | undefined> {
    return readShutdownMessage(join(this.path(name), "joboutputs", "shutdown_message"));
  }

  /**
   * Removes per-container directories of ours without a container on any host: left behind by a
   * daemon killed between making the directory and creating the container. Only when every host
   * answered (a silent host may hold the container); launches never run during a list.
   */
  async sweep(instances: readonly Instance[]): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.settings.workDir);
    } catch {
      return; // no workDir yet: nothing launched
    }
    const listed = new Set(instances.map((instance) => instance.id));
    const orphans = entries.filter(
      (entry) => entry.startsWith(this.namePrefix) && !listed.has(entry),
    );
    for (const orphan of orphans) {
      if (this.context.readOnly) {
        this.context.log.info(`would remove ${orphan}'s directory: no such container`);
        continue;
      }
      await rm(this.path(orphan), { recursive: true, force: true });
      this.context.log.info(`removed ${orphan}'s directory: no such container on any host`);
    }
  }

  /**
   * The container's directory on the head node, user_data and joboutputs as Vac makes them, and
   * the site's read-only mounts. Those are `Mounts` binds, which the engine refuses when the
   * source is missing (a `Binds` entry would get an empty directory made for it instead).
   */
  async prepare(name: string): Promise<ContainerMounts> {
    const dir = this.path(name);
    const joboutputs = join(dir, "joboutputs");
    let userData: string | undefined;
    try {
      userData = await this.context.userData(name);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new ProviderError("config", `user-data cannot be rendered: ${why}`);
    }
    const binds = [`${joboutputs}:${CONTAINER_PATHS.joboutputs}:rw`];
    try {
      await mkdir(this.settings.workDir, { recursive: true, mode: 0o755 });
      // Not recursive: an existing directory belongs to another container of that name.
      await mkdir(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as { code?: unknown }).code === "EEXIST") throw NAME_TAKEN;
      throw workDirError(this.settings.workDir, error);
    }
    try {
      await mkdir(joboutputs);
      // The pilot may write its shutdown_message as an unprivileged user.
      await chmod(joboutputs, 0o777);
      if (userData !== undefined) {
        const file = join(dir, "user_data");
        // It holds the pool token: root only; executable since it is the default command.
        await writeFile(file, userData, { mode: this.settings.command ? 0o600 : 0o700 });
        binds.push(`${file}:${CONTAINER_PATHS.userData}:ro`);
      }
    } catch (error) {
      // On a read-only directory this fails too; the first error is the one to report.
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw workDirError(this.settings.workDir, error);
    }
    const site: Docker.MountSettings[] = [];
    const readOnly = (source: string, target: string): Docker.MountSettings => ({
      Type: "bind",
      Source: source,
      Target: target,
      ReadOnly: true,
    });
    if (this.settings.machineFeatures !== undefined)
      site.push(readOnly(this.settings.machineFeatures, CONTAINER_PATHS.machineFeatures));
    if (this.settings.jobFeatures !== undefined)
      site.push(readOnly(this.settings.jobFeatures, CONTAINER_PATHS.jobFeatures));
    // rslave: repositories that autofs mounts on the host later show up inside too; the engine
    // accepts it only where the host's /cvmfs is a shared or slave mount.
    if (this.settings.cvmfs)
      site.push(
        this.settings.cvmfsPropagation === "rslave"
          ? {
              ...readOnly(CONTAINER_PATHS.cvmfs, CONTAINER_PATHS.cvmfs),
              BindOptions: { Propagation: "rslave" },
            }
          : readOnly(CONTAINER_PATHS.cvmfs, CONTAINER_PATHS.cvmfs),
      );
    for (const mount of this.settings.mounts)
      site.push({ ...readOnly(mount.source, mount.target), ReadOnly: mount.readOnly });
    return { binds, site, userData: userData !== undefined };
  }

  /** Removes a container's directory (gone already is fine). */
  async remove(name: string): Promise<void> {
    await rm(this.path(name), { recursive: true, force: true });
  }
}
