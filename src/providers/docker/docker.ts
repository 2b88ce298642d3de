/**
 * Pilot containers on Docker hosts, Vac style: one container is one HTCondor worker. What we own is
 * read from container labels on every host, never from memory of our own; the per-container
 * directory (user_data, joboutputs) lives under `workDir`, which every host must see at the same
 * path (a local socket always does): work-dir.ts keeps those.
 */
import { randomBytes } from "node:crypto";
import Docker from "dockerode";
import { z } from "zod";
import {
  DOCKER_HOST_INFO_CACHE,
  DOCKER_NAME_ATTEMPTS,
  DOCKER_NEVER_STARTED,
  DOCKER_SURVEY_REUSE,
} from "../../config/defaults.js";
import { asProviderError, ProviderError } from "../../model/errors.js";
import type { PreflightCheck } from "../../model/preflight.js";
import type { Headroom, Instance, InstanceStatus } from "../../model/snapshot.js";
import { untilFirstError } from "../concurrency.js";
import { MANAGED_BY, OWNER_TAGS, type ProviderContext } from "../context.js";
import { lookup } from "../lookup.js";
import type {
  LaunchRequest,
  LaunchResult,
  PoolInstance,
  Provider,
  TerminateResult,
} from "../provider.js";
import { connectionOptions, type DockerEndpoint, type Environment, endpoints } from "./endpoint.js";
import { classifyDockerError, isNameConflict, statusOf } from "./errors.js";
import { type HostLoad, type HostRoom, roomOn, spread } from "./placement.js";
import { dockerPreflight } from "./preflight.js";
import type { DockerProviderSettings } from "./schema.js";
import { exitFault } from "./shutdown-message.js";
import { CONTAINER_PATHS, ContainerDirectories, NAME_TAKEN } from "./work-dir.js";

export { CONTAINER_PATHS };

/** Labels besides the ownership marks: what a container reserves, and the tag it was made from. */
export const DOCKER_LABELS = {
  cpus: "condor-autoscaler:cpus",
  memoryMb: "condor-autoscaler:memory-mb",
  image: "condor-autoscaler:image",
} as const;

/** Set in a per-job container: its pilot takes one job and exits (see examples/pilot). */
export const PER_JOB_VARIABLE = "CONDOR_AUTOSCALER_PER_JOB";

const containerSummary = z.object({
  Names: z.array(z.string()).min(1),
  Created: z.number(),
  State: z.string(),
  Status: z.string().default(""),
  ImageID: z.string().default(""),
  Labels: z.record(z.string(), z.string()).nullish(),
  NetworkSettings: z
    .object({
      Networks: z.record(z.string(), z.object({ IPAddress: z.string().nullish() })).nullish(),
    })
    .nullish(),
});
type ContainerSummary = z.infer<typeof containerSummary>;

const engineInfo = z.object({ NCPU: z.number().positive(), MemTotal: z.number().positive() });

/** What one host showed of our containers, or why it showed nothing. */
type HostSurvey =
  | {
      host: DockerEndpoint;
      /** What every container of the pool on the host reserves, of this cloud or another. */
      load: HostLoad;
      /** This cloud's containers. */
      containers: ContainerSummary[];
      /** Every live container of the pool, of any cloud. */
      pool: PoolInstance[];
    }
  | { host: DockerEndpoint; error: ProviderError };

export interface DockerProviderOptions {
  /** DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, HOME; default: the process's. */
  env?: Environment;
  /** Random suffix of container names (tests); default: 8 hex digits. */
  shortId?: () => string;
}

function nameOf(container: ContainerSummary): string {
  return (container.Names[0] ?? "").replace(/^\//, "");
}

const STATUS_BY_STATE: Readonly<Record<string, InstanceStatus>> = {
  created: "booting",
  running: "running",
  restarting: "running",
  paused: "running",
  removing: "gone",
  exited: "gone",
  dead: "failed",
};

function exitCodeOf(status: string): number | undefined {
  const match = /^Exited \((-?\d+)\)/.exec(status);
  return match === null ? undefined : Number(match[1]);
}

function addressOf(container: ContainerSummary): string | undefined {
  for (const network of Object.values(container.NetworkSettings?.Networks ?? {})) {
    if (network.IPAddress) return network.IPAddress;
  }
  return undefined;
}

function labelNumber(container: ContainerSummary, label: string): number {
  const value = Number(container.Labels?.[label]);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

export class DockerProvider implements Provider {
  readonly cloud: string;
  private readonly hosts: DockerEndpoint[];
  private readonly clients = new Map<string, Promise<Docker>>();
  private readonly engineSize = new Map<string, { at: number; cpus: number; memoryMb: number }>();
  /** Which host each container of ours is on, from the last listing or launch. */
  private readonly hostOf = new Map<string, string>();
  /** What each host showed last time it answered, for the ticks it does not. */
  private readonly lastSeen = new Map<string, Instance[]>();
  private survey: { at: number; hosts: Promise<HostSurvey[]> } | undefined;
  private readonly shortId: () => string;
  private readonly directories: ContainerDirectories;

  constructor(
    private readonly settings: DockerProviderSettings,
    private readonly context: ProviderContext,
    options: DockerProviderOptions = {},
  ) {
    this.cloud = context.cloud;
    this.hosts = endpoints(settings.hosts, options.env ?? process.env);
    this.shortId = options.shortId ?? (() => randomBytes(4).toString("hex"));
    this.directories = new ContainerDirectories(settings, context, this.namePrefix);
  }

  private get namePrefix(): string {
    return `${this.context.pool}-${this.context.cloud}-`;
  }

  /** The host's client. A stop waits up to stopGrace before it answers: its timeout allows that. */
  private client(host: DockerEndpoint): Promise<Docker> {
    let client = this.clients.get(host.name);
    if (client === undefined) {
      const timeoutMs = (this.settings.requestTimeout + this.settings.stopGrace) * 1000;
      client = connectionOptions(host, timeoutMs).then((options) => new Docker(options));
      // A certificate that could not be read may be there next tick.
      client.catch(() => this.clients.delete(host.name));
      this.clients.set(host.name, client);
    }
    return client;
  }

  private async call<T>(
    host: DockerEndpoint,
    what: string,
    run: (docker: Docker) => Promise<T>,
  ): Promise<T> {
    try {
      return await run(await this.client(host));
    } catch (error) {
      throw classifyDockerError(error, what, host.name);
    }
  }

  private async size(host: DockerEndpoint): Promise<{ cpus: number; memoryMb: number }> {
    const now = this.context.clock.now();
    const cached = this.engineSize.get(host.name);
    if (cached !== undefined && now - cached.at < DOCKER_HOST_INFO_CACHE) return cached;
    const answer = await this.call(host, "GET /info", (docker) => docker.info());
    const info = engineInfo.safeParse(answer);
    if (!info.success)
      throw new ProviderError(
        "transient",
        `docker ${host.name}: GET /info: no NCPU/MemTotal in the answer`,
        { scope: `host=${host.name}` },
      );
    const size = {
      at: now,
      cpus: info.data.NCPU,
      memoryMb: Math.floor(info.data.MemTotal / 1024 / 1024),
    };
    this.engineSize.set(host.name, size);
    return size;
  }

  private async surveyHost(host: DockerEndpoint): Promise<HostSurvey> {
    try {
      const [size, answer] = await Promise.all([
        this.size(host),
        this.call(host, "GET /containers/json", (docker) =>
          // Every container of the pool on the host, of any cloud: they all use the host.
          docker.listContainers({
            all: true,
            filters: { label: [`${OWNER_TAGS.pool}=${this.context.pool}`] },
          }),
        ),
      ]);
      const parsed = z.array(containerSummary).safeParse(answer);
      if (!parsed.success)
        throw new ProviderError(
          "transient",
          `docker ${host.name}: GET /containers/json: malformed answer: ${parsed.error.issues[0]?.message ?? ""}`,
          { scope: `host=${host.name}` },
        );
      const live = parsed.data.filter((c) => lookup(STATUS_BY_STATE, c.State) !== "gone");
      const containers = parsed.data.filter(
        (c) => c.Labels?.[OWNER_TAGS.cloud] === this.context.cloud,
      );
      const load: HostLoad = {
        host: host.name,
        cpus: size.cpus,
        memoryMb: size.memoryMb,
        reservedCpus: live.reduce((sum, c) => sum + labelNumber(c, DOCKER_LABELS.cpus), 0),
        reservedMemoryMb: live.reduce((sum, c) => sum + labelNumber(c, DOCKER_LABELS.memoryMb), 0),
        containers: live.length,
        ...(host.maxContainers === undefined ? {} : { maxContainers: host.maxContainers }),
      };
      const pool = live.map((c) => {
        const name = nameOf(c);
        return { cloud: c.Labels?.[OWNER_TAGS.cloud] ?? "?", id: name, name };
      });
      return { host, load, containers, pool };
    } catch (error) {
      return { host, error: classifyDockerError(error, "survey", host.name) };
    }
  }

  /** Every host's containers of ours; one survey serves the list() and headroom() of a tick. */
  private surveyAll(): Promise<HostSurvey[]> {
    const now = this.context.clock.now();
    if (this.survey !== undefined && now - this.survey.at < DOCKER_SURVEY_REUSE)
      return this.survey.hosts;
    const hosts = Promise.all(this.hosts.map((host) => this.surveyHost(host)));
    this.survey = { at: now, hosts };
    return hosts;
  }

  async poolInstances(): Promise<PoolInstance[]> {
    const surveys = await this.surveyAll();
    const failed = surveys.find((s) => "error" in s);
    if (failed !== undefined && "error" in failed) throw failed.error;
    return surveys.flatMap((s) => ("pool" in s ? s.pool : []));
  }

  async list(): Promise<Instance[]> {
    const surveys = await this.surveyAll();
    const failed = surveys.filter((s) => "error" in s);
    if (failed.length === surveys.length) {
      const first = failed[0];
      throw first !== undefined && "error" in first
        ? first.error
        : new ProviderError("config", "no Docker hosts configured");
    }
    const instances: Instance[] = [];
    for (const survey of surveys) {
      if ("error" in survey) {
        const last = this.lastSeen.get(survey.host.name);
        this.context.log.warn(
          { host: survey.host.name, kind: survey.error.kind },
          last === undefined
            ? `docker ${survey.host.name} skipped this tick (never listed yet): ${survey.error.message}`
            : `docker ${survey.host.name} skipped this tick, its ${last.length} containers as last seen: ${survey.error.message}`,
        );
        for (const instance of last ?? []) instances.push(instance);
        continue;
      }
      const seen = await Promise.all(
        survey.containers.map((container) => this.instanceOf(survey.host, container)),
      );
      this.lastSeen.set(
        survey.host.name,
        seen.filter((instance) => instance.status !== "gone"),
      );
      // One by one: spreading 100 k containers overflows the call stack.
      for (const instance of seen) instances.push(instance);
    }
    if (failed.length === 0) await this.directories.sweep(instances);
    return instances;
  }

  private async instanceOf(host: DockerEndpoint, container: ContainerSummary): Promise<Instance> {
    const name = nameOf(container);
    this.hostOf.set(name, host.name);
    const status = lookup(STATUS_BY_STATE, container.State) ?? "booting";
    const address = addressOf(container);
    const instance: Instance = {
      id: name,
      cloud: this.cloud,
      name,
      status,
      launchedAt: container.Created,
      hostname: name,
      ...(address === undefined ? {} : { address }),
      ...(container.ImageID === "" ? {} : { image: container.ImageID }),
    };
    if (status === "failed") instance.fault = { message: `container dead: ${container.Status}` };
    const age = this.context.clock.now() - container.Created;
    if (container.State === "created" && age > DOCKER_NEVER_STARTED) {
      instance.status = "failed";
      instance.fault = { message: `created ${Math.round(age)}s ago and never started` };
    }
    if (container.State === "exited") {
      instance.fault = exitFault(
        exitCodeOf(container.Status),
        await this.directories.shutdownMessage(name),
      );
      await this.removeExited(host, name, instance.fault.message);
    }
    return instance;
  }

  /**
   * Exited containers are removed once seen, so that hosts do not fill up; how each ended (exit
   * code, shutdown_message) is logged first, since its directory goes with it.
   */
  private async removeExited(host: DockerEndpoint, name: string, ended: string): Promise<void> {
    if (this.context.readOnly) {
      this.context.log.info(
        { host: host.name, container: name, ended },
        `would remove exited ${name} (${ended})`,
      );
      return;
    }
    try {
      await this.remove(host, name);
      this.context.log.info(
        { host: host.name, container: name, ended },
        `removed exited ${name} (${ended})`,
      );
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      this.context.log.warn(
        { host: host.name, container: name },
        `cannot remove exited ${name}, next tick: ${why}`,
      );
    }
  }

  async headroom(): Promise<Headroom> {
    const rooms = this.rooms(await this.surveyAll(), []);
    return {
      instances: rooms.reduce((sum, room) => sum + room.fits, 0),
      cpus: rooms.reduce((sum, room) => sum + room.freeCpus, 0),
      memoryMb: rooms.reduce((sum, room) => sum + room.freeMemoryMb, 0),
    };
  }

  /** Room on the hosts that answered and are not backing off. */
  private rooms(surveys: readonly HostSurvey[], avoid: readonly string[]): HostRoom[] {
    return surveys.flatMap((survey) =>
      "error" in survey || avoid.includes(`host=${survey.host.name}`)
        ? []
        : [roomOn(survey.load, this.context.shape)],
    );
  }

  describeLaunch(request: LaunchRequest): string[] {
    return [
      `GET /images/${this.settings.image}/json, then POST /containers/create and /containers/{name}/start × ${request.count} over ${this.hosts.map((h) => h.name).join(", ")} by free capacity`,
    ];
  }

  describeTerminate(instanceIds: readonly string[]): string[] {
    return instanceIds.map(
      (id) =>
        `POST /containers/${id}/stop?t=${this.settings.stopGrace}, DELETE /containers/${id}?force=true`,
    );
  }

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    if (request.count <= 0) return { instances: [] };
    const surveys = await this.surveyAll();
    const placed = spread(this.rooms(surveys, request.avoid), request.count);
    this.survey = undefined;
    if (placed.length === 0) return { instances: [], error: this.noRoom(surveys, request) };

    const byName = new Map(this.hosts.map((host) => [host.name, host]));
    const images = new Map<string, Promise<string>>();
    const tasks = placed.map((hostName) => async () => {
      const host = byName.get(hostName);
      if (host === undefined) throw new ProviderError("config", `unknown Docker host ${hostName}`);
      let image = images.get(hostName);
      if (image === undefined) {
        image = this.resolveImage(host);
        images.set(hostName, image);
      }
      return this.start(host, await image);
    });
    const { done, error } = await untilFirstError(tasks, this.settings.concurrency);
    if (error !== undefined) return { instances: done, error };
    if (placed.length < request.count)
      return { instances: done, error: this.noRoom(surveys, request, placed.length) };
    return { instances: done };
  }

  /** Why fewer containers than asked could be placed. */
  private noRoom(
    surveys: readonly HostSurvey[],
    request: LaunchRequest,
    placed = 0,
  ): ProviderError {
    const answered = surveys.filter((s) => !("error" in s));
    if (answered.length === 0) {
      const first = surveys[0];
      if (first !== undefined && "error" in first) return first.error;
    }
    const { cpus, memoryMb } = this.context.shape;
    const rooms = this.rooms(surveys, request.avoid)
      .map((room) => `${room.host}: ${room.fits}`)
      .join(", ");
    return new ProviderError(
      "capacity",
      `Docker hosts have room for ${placed} of ${request.count} ${cpus}-cpu/${memoryMb}MB containers (${rooms || "no host available"})`,
    );
  }

  async preflight(): Promise<PreflightCheck[]> {
    return dockerPreflight(
      this.cloud,
      this.settings.image,
      this.settings.workDir,
      this.hosts.map((host) => ({
        host: host.name,
        version: async () => {
          const answer = await this.call(host, "GET /version", (docker) => docker.version());
          return String(answer.Version);
        },
        image: () => this.resolveImage(host),
      })),
    );
  }

  /** The image id the tag names on `host` now; never pulled (sites load or build images). */
  private async resolveImage(host: DockerEndpoint): Promise<string> {
    const tag = this.settings.image;
    try {
      const image = await this.call(host, `GET /images/${tag}/json`, (docker) =>
        docker.getImage(tag).inspect(),
      );
      return image.Id;
    } catch (error) {
      if (error instanceof ProviderError && error.kind === "config")
        throw new ProviderError(
          "config",
          `docker ${host.name}: no image ${tag} (it is never pulled: build, load or pull it on the host)`,
          { cause: error },
        );
      throw error;
    }
  }

  /** Creates and starts one container, with a new name if the first is taken. */
  private async start(host: DockerEndpoint, imageId: string): Promise<Instance> {
    for (let attempt = 1; ; attempt += 1) {
      const name = `${this.namePrefix}${this.shortId()}`;
      try {
        return await this.createAndStart(host, imageId, name);
      } catch (error) {
        // The directory made for a taken name was new and has been removed already.
        if (attempt < DOCKER_NAME_ATTEMPTS && (isNameConflict(error) || error === NAME_TAKEN))
          continue;
        if (error === NAME_TAKEN)
          throw new ProviderError("transient", `${name}: its directory exists in workDir`);
        throw classifyDockerError(error, "POST /containers/create", host.name);
      }
    }
  }

  private async createAndStart(
    host: DockerEndpoint,
    imageId: string,
    name: string,
  ): Promise<Instance> {
    const mounts = await this.directories.prepare(name);
    const { cpus, memoryMb } = this.context.shape;
    const env = Object.entries(this.settings.environment).map(([key, value]) => `${key}=${value}`);
    if (this.settings.perJob) env.push(`${PER_JOB_VARIABLE}=1`);
    const command =
      this.settings.command ?? (mounts.userData ? [CONTAINER_PATHS.userData] : undefined);
    const docker = await this.client(host);
    let container: Docker.Container;
    try {
      container = await docker.createContainer({
        name,
        Hostname: name,
        Image: imageId,
        ...(command === undefined ? {} : { Cmd: command }),
        Env: env,
        Labels: {
          [OWNER_TAGS.pool]: this.context.pool,
          [OWNER_TAGS.cloud]: this.context.cloud,
          [OWNER_TAGS.managedBy]: MANAGED_BY,
          [DOCKER_LABELS.cpus]: String(cpus),
          [DOCKER_LABELS.memoryMb]: String(memoryMb),
          [DOCKER_LABELS.image]: this.settings.image,
        },
        HostConfig: {
          ...(this.settings.cpuLimit === "nanoCpus"
            ? { NanoCpus: cpus * 1e9 }
            : { CpuShares: 1024 * cpus }),
          Memory: memoryMb * 1024 * 1024,
          Binds: mounts.binds,
          Mounts: mounts.site,
          ...(this.settings.network === undefined ? {} : { NetworkMode: this.settings.network }),
        },
      });
    } catch (error) {
      await this.directories.remove(name);
      throw error;
    }
    this.hostOf.set(name, host.name);
    try {
      await container.start();
    } catch (error) {
      // A container that cannot start is removed at once rather than left for a later tick.
      await this.remove(host, name).catch(() => undefined);
      throw classifyDockerError(error, `POST /containers/${name}/start`, host.name);
    }
    return {
      id: name,
      cloud: this.cloud,
      name,
      status: "booting",
      launchedAt: this.context.clock.now(),
      hostname: name,
      image: imageId,
    };
  }

  /** Removes a container (404 and "already being removed" count as done) and its directory. */
  private async remove(host: DockerEndpoint, name: string): Promise<void> {
    try {
      await this.call(host, `DELETE /containers/${name}`, (docker) =>
        docker.getContainer(name).remove({ force: true }),
      );
    } catch (error) {
      const status = statusOf((error as { cause?: unknown }).cause);
      if (status !== 404 && status !== 409) throw error;
    }
    this.hostOf.delete(name);
    await this.directories.remove(name);
  }

  async terminate(instanceIds: readonly string[]): Promise<TerminateResult> {
    this.survey = undefined;
    const settled = await Promise.allSettled(
      instanceIds.map(async (id) => {
        const host = await this.locate(id);
        if (host !== undefined) await this.stopAndRemove(host, id);
        return id;
      }),
    );
    const terminated: string[] = [];
    let error: ProviderError | undefined;
    for (const outcome of settled) {
      if (outcome.status === "fulfilled") terminated.push(outcome.value);
      else error ??= asProviderError(outcome.reason);
    }
    return error === undefined ? { terminated } : { terminated, error };
  }

  /** The host a container is on; undefined when no host that answers has it (gone). */
  private async locate(name: string): Promise<DockerEndpoint | undefined> {
    const known = this.hosts.find((host) => host.name === this.hostOf.get(name));
    if (known !== undefined) return known;
    const found = await Promise.all(
      this.hosts.map(async (host) => {
        try {
          await this.call(host, `GET /containers/${name}/json`, (docker) =>
            docker.getContainer(name).inspect(),
          );
          return { host };
        } catch (error) {
          return { host, error: error as ProviderError };
        }
      }),
    );
    const holder = found.find((f) => f.error === undefined);
    if (holder !== undefined) return holder.host;
    // Not found where hosts answered; a host that did not answer may still have it.
    const silent = found.find((f) => f.error !== undefined && statusOf(f.error.cause) !== 404);
    if (silent?.error !== undefined) throw silent.error;
    return undefined;
  }

  private async stopAndRemove(host: DockerEndpoint, name: string): Promise<void> {
    try {
      await this.call(host, `POST /containers/${name}/stop`, (docker) =>
        docker.getContainer(name).stop({ t: this.settings.stopGrace }),
      );
    } catch (error) {
      const status = statusOf((error as { cause?: unknown }).cause);
      // 304: already stopped; 404: already gone.
      if (status !== 304 && status !== 404) throw error;
    }
    await this.remove(host, name);
  }
}
