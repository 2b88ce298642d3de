/**
 * OpenStack Nova through Keystone v3: CernVM workers as servers named `<pool>-<cloud>-<short id>`
 * and carrying the pool, the cloud's policy name and managed-by in their metadata. The servers'
 * lifecycle lives here; the session and paging in api.ts, the cached flavor, image and quota
 * lookups in catalog.ts. Translates; the planner decides.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { asProviderError, ProviderError } from "../../model/errors.js";
import type { PreflightCheck } from "../../model/preflight.js";
import type { Headroom, Instance, InstanceFault, InstanceStatus } from "../../model/snapshot.js";
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
import { link, OpenStackApi, type OpenStackProviderOptions, type Page } from "./api.js";
import { type Flavor, type Image, OpenStackCatalog } from "./catalog.js";
import { classifyAnswer } from "./errors.js";
import { parseAnswer } from "./http.js";
import { openstackPreflight } from "./preflight.js";
import type { OpenStackProviderSettings } from "./schema.js";

export type { OpenStackProviderOptions };

/** Nova refuses user_data longer than this (base64 bytes). */
const MAX_USER_DATA = 65535;
/** `networks: "none" | "auto"` exist from this compute microversion on. */
const NETWORKS_KEYWORD_MICROVERSION = 37;

const STATUS_BY_NOVA: Readonly<Record<string, InstanceStatus>> = {
  BUILD: "booting",
  REBUILD: "booting",
  ACTIVE: "running",
  REBOOT: "running",
  HARD_REBOOT: "running",
  PASSWORD: "running",
  MIGRATING: "running",
  RESIZE: "running",
  VERIFY_RESIZE: "running",
  REVERT_RESIZE: "running",
  // The compute host stopped reporting: the VM may still run jobs; HTCondor's view decides.
  UNKNOWN: "running",
  ERROR: "failed",
  SHUTOFF: "failed",
  STOPPED: "failed",
  PAUSED: "failed",
  SUSPENDED: "failed",
  SHELVED: "failed",
  SHELVED_OFFLOADED: "failed",
  RESCUE: "failed",
  DELETED: "gone",
  SOFT_DELETED: "gone",
};

/** Scheduler answers meaning "no hypervisor has room": NoValidHost and its MaxRetriesExceeded. */
const NO_ROOM = /no valid host|exceeded maximum number of retries/i;
/**
 * Nova counts only servers already in a cell when it checks the quota at POST time, so a burst of
 * creates can all be accepted (202); the conductor then re-checks and puts the servers over the
 * quota in ERROR with "Quota exceeded for instances: …" as their fault.
 */
const OVER_QUOTA = /quota exceeded/i;

// ---- Answer shapes (only what is read; the rest is ignored) ----

const address = z.object({
  addr: z.string(),
  version: z.number().optional(),
  "OS-EXT-IPS:type": z.string().optional(),
});
const serverShape = z.object({
  id: z.string().min(1),
  name: z.string(),
  status: z.string(),
  created: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  addresses: z.record(z.string(), z.array(address)).optional(),
  // "" for a server booted from a volume
  image: z.union([z.object({ id: z.string() }), z.string()]).nullish(),
  fault: z.object({ message: z.string(), code: z.number().optional() }).nullish(),
  "OS-EXT-STS:task_state": z.string().nullish(),
  "OS-EXT-SRV-ATTR:hostname": z.string().nullish(),
});
type Server = z.infer<typeof serverShape>;

const serversPage = z
  .object({ servers: z.array(serverShape), servers_links: z.array(link).optional() })
  .transform((page): Page<Server> => ({ items: page.servers, links: page.servers_links ?? [] }));

const createAnswer = z.object({ server: z.object({ id: z.string().min(1) }) });

/** GET /os-availability-zone: the zones a user may boot in, and whether each is up. */
const zonesAnswer = z.object({
  availabilityZoneInfo: z.array(
    z.object({ zoneName: z.string(), zoneState: z.object({ available: z.boolean() }) }),
  ),
});

/** The `server` of a POST /servers body, less the per-server name and user_data. */
interface ServerTemplate {
  imageRef: string;
  flavorRef: string;
  networks: "none" | "auto" | Array<{ uuid: string }>;
  key_name?: string;
  security_groups?: Array<{ name: string }>;
  availability_zone?: string;
  metadata: Record<string, string>;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(/(?:Z|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** Minor number of a `2.N` microversion. */
function minorOf(microversion: string): number {
  return Number(microversion.split(".")[1] ?? "0");
}

export class OpenStackProvider implements Provider {
  readonly cloud: string;
  private readonly api: OpenStackApi;
  private readonly catalog: OpenStackCatalog;
  private readonly shortId: () => string;

  constructor(
    private readonly settings: OpenStackProviderSettings,
    private readonly context: ProviderContext,
    options: OpenStackProviderOptions = {},
  ) {
    this.cloud = context.cloud;
    this.api = new OpenStackApi(settings, context, options);
    this.catalog = new OpenStackCatalog(this.api, settings, context);
    this.shortId = options.shortId ?? (() => randomBytes(4).toString("hex"));
  }

  /** `<pool>-<cloud>-`: every server of ours starts with it. */
  get namePrefix(): string {
    return `${this.context.pool}-${this.cloud}-`;
  }

  private metadata(): Record<string, string> {
    return {
      [OWNER_TAGS.pool]: this.context.pool,
      [OWNER_TAGS.cloud]: this.cloud,
      [OWNER_TAGS.managedBy]: MANAGED_BY,
    };
  }

  // ---- launch ----

  /** The settings' networks as Nova wants them, or why they cannot be used. */
  private networks(): "none" | "auto" | Array<{ uuid: string }> {
    const networks = this.settings.networks;
    if (typeof networks !== "string") return networks.map((uuid) => ({ uuid }));
    if (minorOf(this.settings.computeMicroversion) < NETWORKS_KEYWORD_MICROVERSION) {
      throw new ProviderError(
        "config",
        `networks "${networks}" needs compute microversion 2.${NETWORKS_KEYWORD_MICROVERSION} or later (computeMicroversion is ${this.settings.computeMicroversion})`,
      );
    }
    return networks;
  }

  private serverTemplate(flavor: Pick<Flavor, "id">, image: Pick<Image, "id">): ServerTemplate {
    const s = this.settings;
    return {
      imageRef: image.id,
      flavorRef: flavor.id,
      networks: this.networks(),
      ...(s.keyName === undefined ? {} : { key_name: s.keyName }),
      ...(s.securityGroups.length === 0
        ? {}
        : { security_groups: s.securityGroups.map((name) => ({ name })) }),
      ...(s.availabilityZone === undefined ? {} : { availability_zone: s.availabilityZone }),
      metadata: this.metadata(),
    };
  }

  describeLaunch(request: LaunchRequest): string[] {
    const s = this.settings;
    const metadata = Object.entries(this.metadata())
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
    const networks = typeof s.networks === "string" ? s.networks : s.networks.join(",");
    const parts = [
      `POST /servers name=${this.namePrefix}…`,
      `flavor=${s.flavor}`,
      `image=${s.image}`,
      `x${request.count}`,
      `networks=${networks}`,
      ...(s.keyName === undefined ? [] : [`key_name=${s.keyName}`]),
      ...(s.securityGroups.length === 0 ? [] : [`security_groups=${s.securityGroups.join(",")}`]),
      ...(s.availabilityZone === undefined ? [] : [`availability_zone=${s.availabilityZone}`]),
      `metadata=${metadata}`,
      `microversion=${s.computeMicroversion}`,
    ];
    return [parts.join(" ")];
  }

  describeTerminate(instanceIds: readonly string[]): string[] {
    return instanceIds.map((id) => `DELETE /servers/${id}`);
  }

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    // One flavor and one zone per OpenStack cloud: a capacity answer backs off the whole cloud,
    // so there is no narrower scope in `request.avoid` to honour.
    if (request.count <= 0) return { instances: [] };
    const names = Array.from(
      { length: request.count },
      () => `${this.namePrefix}${this.shortId()}`,
    );

    let userData: Array<string | undefined>;
    try {
      const rendered = await Promise.all(names.map((name) => this.context.userData(name)));
      userData = rendered.map((text) =>
        text === undefined ? undefined : Buffer.from(text, "utf8").toString("base64"),
      );
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return {
        instances: [],
        error: new ProviderError("config", `user-data cannot be rendered: ${why}`),
      };
    }
    const longest = Math.max(0, ...userData.map((data) => data?.length ?? 0));
    if (longest > MAX_USER_DATA) {
      return {
        instances: [],
        error: new ProviderError(
          "config",
          `user-data is ${longest} bytes in base64; Nova takes at most ${MAX_USER_DATA}`,
        ),
      };
    }

    let template: ServerTemplate;
    try {
      const [flavor, image] = await Promise.all([this.catalog.flavor(), this.catalog.image()]);
      template = this.serverTemplate(flavor, image);
    } catch (error) {
      return { instances: [], error: asProviderError(error) };
    }

    const tasks = names.map(
      (name, index) => () => this.createServer(name, template, userData[index]),
    );
    const { done, error } = await untilFirstError(tasks, this.settings.concurrency);
    if (done.length > 0) this.catalog.forgetLimits();
    if (error?.kind === "config") this.catalog.forget();
    return error === undefined ? { instances: done } : { instances: done, error };
  }

  private async createServer(
    name: string,
    template: ServerTemplate,
    userData: string | undefined,
  ): Promise<Instance> {
    const call = "nova POST /servers";
    const answer = await this.api.request("compute", {
      method: "POST",
      path: "/servers",
      json: {
        server: { name, ...template, ...(userData === undefined ? {} : { user_data: userData }) },
      },
    });
    if (answer.status !== 202 && answer.status !== 200)
      throw classifyAnswer(answer, call, this.context.clock.now());
    const created = parseAnswer(createAnswer, answer, call).server;
    this.context.log.debug({ id: created.id, name }, `openstack: server ${name} created`);
    return {
      id: created.id,
      cloud: this.cloud,
      name,
      status: "booting",
      launchedAt: this.context.clock.now(),
      image: template.imageRef,
    };
  }

  // ---- list ----

  /** Ours: the pool's and the cloud's metadata (Nova ignores metadata filters for members). */
  private owns(server: Server): boolean {
    const metadata = server.metadata ?? {};
    return (
      server.name.startsWith(this.namePrefix) &&
      metadata[OWNER_TAGS.pool] === this.context.pool &&
      metadata[OWNER_TAGS.cloud] === this.cloud
    );
  }

  async list(): Promise<Instance[]> {
    const servers = await this.api.allPages(
      "/servers/detail",
      { name: `^${escapeRegex(this.namePrefix)}` },
      serversPage,
    );
    return servers.filter((server) => this.owns(server)).map((server) => this.toInstance(server));
  }

  async poolInstances(): Promise<PoolInstance[]> {
    const prefix = `${this.context.pool}-`;
    const servers = await this.api.allPages(
      "/servers/detail",
      { name: `^${escapeRegex(prefix)}` },
      serversPage,
    );
    return servers
      .filter((server) => server.metadata?.[OWNER_TAGS.pool] === this.context.pool)
      .filter((server) => server.metadata?.[OWNER_TAGS.managedBy] === MANAGED_BY)
      .map((server) => ({
        cloud: server.metadata?.[OWNER_TAGS.cloud] ?? "?",
        id: server.id,
        name: server.name,
      }));
  }

  toInstance(server: Server): Instance {
    const deleting = server.status === "ACTIVE" && server["OS-EXT-STS:task_state"] === "deleting";
    const status: InstanceStatus = deleting
      ? "gone"
      : (lookup(STATUS_BY_NOVA, server.status) ?? "running");
    const instance: Instance = {
      id: server.id,
      cloud: this.cloud,
      name: server.name,
      status,
      launchedAt: parseTime(server.created) ?? this.context.clock.now(),
    };
    const ip = this.address(server);
    if (ip !== undefined) instance.address = ip;
    const hostname = server["OS-EXT-SRV-ATTR:hostname"];
    if (typeof hostname === "string" && hostname !== "") instance.hostname = hostname;
    const image = server.image;
    if (typeof image === "object" && image !== null && image.id !== "") instance.image = image.id;
    const fault = this.faultOf(server, status);
    if (fault !== undefined) instance.fault = fault;
    return instance;
  }

  /** The first fixed IPv4 address (else the first IPv4 that is not floating). */
  private address(server: Server): string | undefined {
    const all = Object.values(server.addresses ?? {}).flat();
    const v4 = all.filter(
      (a) => a.version === 4 || (a.version === undefined && a.addr.includes(".")),
    );
    return (
      v4.find((a) => a["OS-EXT-IPS:type"] === "fixed")?.addr ??
      v4.find((a) => a["OS-EXT-IPS:type"] !== "floating")?.addr
    );
  }

  private faultOf(server: Server, status: InstanceStatus): InstanceFault | undefined {
    const fault = server.fault;
    if (fault !== undefined && fault !== null && fault.message !== "") {
      if (NO_ROOM.test(fault.message)) return { message: fault.message, kind: "capacity" };
      if (OVER_QUOTA.test(fault.message)) return { message: fault.message, kind: "quota" };
      return { message: fault.message };
    }
    if (status === "failed") return { message: `Nova status ${server.status}` };
    return undefined;
  }

  // ---- terminate ----

  /** Whether a server is gone (404) or already being deleted, after a failed DELETE. */
  private async deleted(path: string): Promise<boolean> {
    try {
      const answer = await this.api.request("compute", { method: "GET", path });
      if (answer.status === 404) return true;
      return answer.status === 200 && /"OS-EXT-STS:task_state":\s*"deleting"/.test(answer.body);
    } catch {
      return false;
    }
  }

  async terminate(instanceIds: readonly string[]): Promise<TerminateResult> {
    const tasks = instanceIds.map((id) => async () => {
      const path = `/servers/${encodeURIComponent(id)}`;
      const answer = await this.api.request("compute", { method: "DELETE", path });
      // 404: already gone, which is what was asked.
      if (answer.status === 204 || answer.status === 202 || answer.status === 200) return id;
      if (answer.status === 404) return id;
      // A 5xx may come after the delete went through (seen on a real Nova): if the server is
      // gone or being deleted, what was asked is done.
      if (answer.status >= 500 && (await this.deleted(path))) return id;
      throw classifyAnswer(answer, "nova DELETE /servers/{id}", this.context.clock.now());
    });
    const { done, error } = await untilFirstError(tasks, this.settings.concurrency);
    if (done.length > 0) this.catalog.forgetLimits();
    return error === undefined ? { terminated: done } : { terminated: done, error };
  }

  /** What the project's quota leaves, from the catalog's cached GET /limits. */
  headroom(): Promise<Headroom> {
    return this.catalog.headroom();
  }

  // ---- preflight ----

  async preflight(): Promise<PreflightCheck[]> {
    return openstackPreflight(this.cloud, this.settings, {
      flavor: () => this.catalog.flavor(),
      image: () => this.catalog.image(),
      keyPairExists: async (name) => {
        const path = `/os-keypairs/${encodeURIComponent(name)}`;
        const answer = await this.api.request("compute", { method: "GET", path });
        if (answer.status === 404) return false;
        if (answer.status !== 200)
          throw classifyAnswer(answer, "nova GET /os-keypairs/{name}", this.context.clock.now());
        return true;
      },
      availableZones: async () => {
        const answer = await this.api.get("compute", "/os-availability-zone", zonesAnswer);
        return answer.availabilityZoneInfo
          .filter((zone) => zone.zoneState.available)
          .map((zone) => zone.zoneName);
      },
    });
  }
}
