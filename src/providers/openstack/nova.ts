/**
 * OpenStack Nova (+ Glance lookups) through Keystone v3: CernVM workers as servers named
 * `<pool>-<cloud>-<short id>` and carrying the pool, the cloud's policy name and managed-by in
 * their metadata. Translates; the planner decides.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { OPENSTACK_LIMITS_CACHE, OPENSTACK_LOOKUP_CACHE } from "../../config/defaults.js";
import type {
  EndpointInterface,
  OpenStackProviderSettings,
} from "../../config/openstack-schema.js";
import { asProviderError, ProviderError } from "../../model/errors.js";
import type { PreflightCheck } from "../../model/preflight.js";
import type { Headroom, Instance, InstanceFault, InstanceStatus } from "../../model/snapshot.js";
import { untilFirstError } from "../concurrency.js";
import { MANAGED_BY, OWNER_TAGS, type ProviderContext } from "../context.js";
import type {
  LaunchRequest,
  LaunchResult,
  PoolInstance,
  Provider,
  TerminateResult,
} from "../provider.js";
import {
  type CredentialSources,
  defaultSources,
  type Environment,
  findCredentials,
  type ReadFile,
} from "./credentials.js";
import { classifyAnswer, type HttpAnswer } from "./errors.js";
import { gotSender, parseAnswer, query, type Send } from "./http.js";
import { KeystoneSession, type ServiceRequest, type ServiceType } from "./keystone.js";
import { openstackPreflight } from "./preflight.js";

export interface OpenStackProviderOptions {
  /** Environment for OS_CLOUD / OS_* / XDG_CONFIG_HOME; default: the process's. */
  env?: Environment;
  /** Reads clouds.yaml, secure.yaml and CA files; undefined for a missing file. */
  readFile?: ReadFile;
  /** Where ./clouds.yaml is looked for; default: the working directory. */
  cwd?: string;
  home?: string;
  /** Milliseconds one HTTP call may take; default: the settings' requestTimeout. */
  requestTimeoutMs?: number;
  /** The random part of new server names (tests). */
  shortId?: () => string;
  /** The HTTP transport (tests); default: got with the timeout and the credentials' CA. */
  send?: Send;
}

/** Servers asked for per page of GET /servers/detail (Nova's default max_limit is 1000). */
const PAGE_SIZE = 200;
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
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

// ---- Answer shapes (only what is read; the rest is ignored) ----

const link = z.object({ href: z.string(), rel: z.string() });
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

interface Page<T> {
  items: T[];
  links: Array<z.infer<typeof link>>;
}

const serversPage = z
  .object({ servers: z.array(serverShape), servers_links: z.array(link).optional() })
  .transform((page): Page<Server> => ({ items: page.servers, links: page.servers_links ?? [] }));

const flavorShape = z.object({
  id: z.string().min(1),
  name: z.string(),
  vcpus: z.number(),
  ram: z.number(),
});
type Flavor = z.infer<typeof flavorShape>;
const flavorsPage = z
  .object({ flavors: z.array(flavorShape), flavors_links: z.array(link).optional() })
  .transform((page): Page<Flavor> => ({ items: page.flavors, links: page.flavors_links ?? [] }));

const imageShape = z.object({
  id: z.string().min(1),
  name: z.string().nullish(),
  status: z.string(),
});
type Image = z.infer<typeof imageShape>;
const imagesPage = z.object({ images: z.array(imageShape), next: z.string().optional() });

const createAnswer = z.object({ server: z.object({ id: z.string().min(1) }) });

const limitsAnswer = z.object({
  limits: z.object({
    absolute: z.object({
      maxTotalInstances: z.number().optional(),
      totalInstancesUsed: z.number().optional(),
      maxTotalCores: z.number().optional(),
      totalCoresUsed: z.number().optional(),
      maxTotalRAMSize: z.number().optional(),
      totalRAMUsed: z.number().optional(),
    }),
  }),
});

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

interface Cached<T> {
  value: T;
  until: number;
}

/** What is left of a limit; undefined when unlimited (−1) or not reported. */
function left(max: number | undefined, used: number | undefined): number | undefined {
  if (max === undefined || max < 0) return undefined;
  return Math.max(0, max - (used ?? 0));
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
  private session: Promise<KeystoneSession> | undefined;
  private flavorCache: Cached<Flavor> | undefined;
  private imageCache: Cached<Image> | undefined;
  private limitsCache: Cached<Headroom> | undefined;
  private readonly sources: CredentialSources;
  private readonly shortId: () => string;

  constructor(
    private readonly settings: OpenStackProviderSettings,
    private readonly context: ProviderContext,
    private readonly options: OpenStackProviderOptions = {},
  ) {
    this.cloud = context.cloud;
    const real = defaultSources();
    this.sources = {
      env: options.env ?? real.env,
      readFile: options.readFile ?? real.readFile,
      cwd: options.cwd ?? real.cwd,
      home: options.home ?? real.home,
    };
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

  private computeHeaders(): Record<string, string> {
    const version = this.settings.computeMicroversion;
    return {
      "openstack-api-version": `compute ${version}`,
      "x-openstack-nova-api-version": version,
    };
  }

  // ---- Session ----

  /** The Keystone session, made on first use (credentials are read then, not at construction). */
  private keystone(): Promise<KeystoneSession> {
    if (this.session === undefined) {
      const made = this.connect();
      // A failure (credentials missing, file unreadable) is retried on the next call.
      made.catch(() => {
        if (this.session === made) this.session = undefined;
      });
      this.session = made;
    }
    return this.session;
  }

  private async connect(): Promise<KeystoneSession> {
    const credentials = await findCredentials(this.settings.cloud, this.sources);
    const endpointInterface: EndpointInterface =
      // The schema's default is "public": an explicit other interface in the policy file wins,
      // else the one clouds.yaml / OS_INTERFACE gives, else public.
      this.settings.interface !== "public"
        ? this.settings.interface
        : (credentials.interface ?? "public");
    const region = this.settings.region ?? credentials.region;
    const send =
      this.options.send ??
      gotSender({
        timeoutMs: this.options.requestTimeoutMs ?? this.settings.requestTimeout * 1000,
        ...(credentials.ca === undefined ? {} : { ca: credentials.ca }),
        insecure: credentials.insecure,
      });
    this.context.log.info(
      {
        source: credentials.source,
        authUrl: credentials.authUrl,
        method: credentials.identity.method,
        region,
        interface: endpointInterface,
      },
      `openstack: credentials from ${credentials.source}`,
    );
    return new KeystoneSession(credentials, {
      send,
      clock: this.context.clock,
      interface: endpointInterface,
      ...(region === undefined ? {} : { region }),
      log: this.context.log,
    });
  }

  private async request(service: ServiceType, request: ServiceRequest): Promise<HttpAnswer> {
    const session = await this.keystone();
    return session.request(service, {
      ...request,
      ...(service === "compute"
        ? { headers: { ...this.computeHeaders(), ...request.headers } }
        : {}),
    });
  }

  /** GET that must answer 200, validated against `shape`. */
  private async get<T>(service: ServiceType, path: string, shape: z.ZodType<T>): Promise<T> {
    const answer = await this.request(service, { method: "GET", path });
    const call = `${service === "compute" ? "nova" : "glance"} GET ${path.split("?")[0]}`;
    if (answer.status !== 200) throw classifyAnswer(answer, call, this.context.clock.now());
    return parseAnswer(shape, answer, call);
  }

  /** Every item of a paged Nova collection, following `*_links` rel=next with limit + marker. */
  private async allPages<T extends { id: string }>(
    path: string,
    params: Readonly<Record<string, string | number | undefined>>,
    shape: z.ZodType<Page<T>>,
  ): Promise<T[]> {
    const items: T[] = [];
    const markers = new Set<string>();
    let marker: string | undefined;
    for (;;) {
      const page = await this.get(
        "compute",
        `${path}${query({ ...params, limit: PAGE_SIZE, marker })}`,
        shape,
      );
      items.push(...page.items);
      const next = page.links.find((l) => l.rel === "next");
      const last = page.items.at(-1);
      if (next === undefined || last === undefined) return items;
      let nextMarker: string = last.id;
      try {
        nextMarker = new URL(next.href).searchParams.get("marker") ?? last.id;
      } catch {
        // a relative or odd link: the last id is the marker Nova would give
      }
      if (markers.has(nextMarker))
        throw new ProviderError(
          "transient",
          `nova GET ${path}: paging repeats marker ${nextMarker}`,
        );
      markers.add(nextMarker);
      marker = nextMarker;
    }
  }

  // ---- Lookups (cached) ----

  private fresh<T>(cached: Cached<T> | undefined): T | undefined {
    return cached !== undefined && this.context.clock.now() < cached.until
      ? cached.value
      : undefined;
  }

  /** The flavor of the settings, by id or else by (unique) name. */
  async flavor(): Promise<Flavor> {
    const cached = this.fresh(this.flavorCache);
    if (cached !== undefined) return cached;
    const wanted = this.settings.flavor;
    const flavors = await this.allPages("/flavors/detail", {}, flavorsPage);
    const byId = flavors.find((f) => f.id === wanted);
    const byName = flavors.filter((f) => f.name === wanted);
    if (byId === undefined && byName.length > 1) {
      throw new ProviderError(
        "config",
        `flavor "${wanted}" is ambiguous: ${byName.length} flavors have that name (${byName.map((f) => f.id).join(", ")}); give its id`,
      );
    }
    const flavor = byId ?? byName[0];
    if (flavor === undefined) {
      throw new ProviderError(
        "config",
        `flavor "${wanted}" not found (have: ${flavors.map((f) => f.name).join(", ") || "none"})`,
      );
    }
    const shape = this.context.shape;
    if (flavor.vcpus !== shape.cpus || flavor.ram < shape.memoryMb) {
      this.context.log.warn(
        { flavor: flavor.name, vcpus: flavor.vcpus, ramMb: flavor.ram, worker: shape },
        `openstack: flavor ${flavor.name} has ${flavor.vcpus} vCPUs and ${flavor.ram} MB, the policy's worker says ${shape.cpus} CPUs and ${shape.memoryMb} MB`,
      );
    }
    this.flavorCache = { value: flavor, until: this.context.clock.now() + OPENSTACK_LOOKUP_CACHE };
    return flavor;
  }

  /** The image of the settings: by id when it looks like one, else by (unique, active) name. */
  async image(): Promise<Image> {
    const cached = this.fresh(this.imageCache);
    if (cached !== undefined) return cached;
    const wanted = this.settings.image;
    let image: Image | undefined;
    if (UUID.test(wanted)) {
      const path = `/v2/images/${encodeURIComponent(wanted)}`;
      const answer = await this.request("image", { method: "GET", path });
      if (answer.status === 200) image = parseAnswer(imageShape, answer, "glance GET /v2/images");
      else if (answer.status !== 404)
        throw classifyAnswer(answer, "glance GET /v2/images/{id}", this.context.clock.now());
    }
    if (image === undefined) {
      const found: Image[] = [];
      let path: string | undefined = `/v2/images${query({ name: wanted })}`;
      const seen = new Set<string>();
      while (path !== undefined && !seen.has(path)) {
        seen.add(path);
        const page: z.infer<typeof imagesPage> = await this.get("image", path, imagesPage);
        found.push(...page.images);
        path = page.next;
      }
      // Glance filters by name already; checking again costs nothing and guards against a proxy.
      const named = found.filter((i) => i.name === wanted);
      const active = named.filter((i) => i.status === "active");
      if (active.length > 1) {
        throw new ProviderError(
          "config",
          `image "${wanted}" is ambiguous: ${active.length} active images have that name (${active.map((i) => i.id).join(", ")}); give its id`,
        );
      }
      image = active[0];
      if (image === undefined) {
        throw new ProviderError(
          "config",
          named.length === 0
            ? `image "${wanted}" not found in Glance`
            : `image "${wanted}" is not active (${named.map((i) => i.status).join(", ")})`,
        );
      }
    }
    if (image.status !== "active")
      throw new ProviderError("config", `image "${wanted}" is ${image.status}, not active`);
    this.imageCache = { value: image, until: this.context.clock.now() + OPENSTACK_LOOKUP_CACHE };
    return image;
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

  /** Drops the flavor and image ids, e.g. after Nova said one of them is wrong. */
  forgetLookups(): void {
    this.flavorCache = undefined;
    this.imageCache = undefined;
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
      const [flavor, image] = await Promise.all([this.flavor(), this.image()]);
      template = this.serverTemplate(flavor, image);
    } catch (error) {
      return { instances: [], error: asProviderError(error) };
    }

    const tasks = names.map(
      (name, index) => () => this.createServer(name, template, userData[index]),
    );
    const { done, error } = await untilFirstError(tasks, this.settings.concurrency);
    if (done.length > 0) this.limitsCache = undefined;
    if (error?.kind === "config") this.forgetLookups();
    return error === undefined ? { instances: done } : { instances: done, error };
  }

  private async createServer(
    name: string,
    template: ServerTemplate,
    userData: string | undefined,
  ): Promise<Instance> {
    const call = "nova POST /servers";
    const answer = await this.request("compute", {
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
    const servers = await this.allPages(
      "/servers/detail",
      { name: `^${escapeRegex(this.namePrefix)}` },
      serversPage,
    );
    return servers.filter((server) => this.owns(server)).map((server) => this.toInstance(server));
  }

  async poolInstances(): Promise<PoolInstance[]> {
    const prefix = `${this.context.pool}-`;
    const servers = await this.allPages(
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
    const status: InstanceStatus = deleting ? "gone" : (STATUS_BY_NOVA[server.status] ?? "running");
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
      const answer = await this.request("compute", { method: "GET", path });
      if (answer.status === 404) return true;
      return answer.status === 200 && /"OS-EXT-STS:task_state":\s*"deleting"/.test(answer.body);
    } catch {
      return false;
    }
  }

  async terminate(instanceIds: readonly string[]): Promise<TerminateResult> {
    const tasks = instanceIds.map((id) => async () => {
      const path = `/servers/${encodeURIComponent(id)}`;
      const answer = await this.request("compute", { method: "DELETE", path });
      // 404: already gone, which is what was asked.
      if (answer.status === 204 || answer.status === 202 || answer.status === 200) return id;
      if (answer.status === 404) return id;
      // A 5xx may come after the delete went through (seen on a real Nova): if the server is
      // gone or being deleted, what was asked is done.
      if (answer.status >= 500 && (await this.deleted(path))) return id;
      throw classifyAnswer(answer, "nova DELETE /servers/{id}", this.context.clock.now());
    });
    const { done, error } = await untilFirstError(tasks, this.settings.concurrency);
    if (done.length > 0) this.limitsCache = undefined;
    return error === undefined ? { terminated: done } : { terminated: done, error };
  }

  // ---- preflight ----

  async preflight(): Promise<PreflightCheck[]> {
    return openstackPreflight(this.cloud, this.settings, {
      flavor: () => this.flavor(),
      image: () => this.image(),
      keyPairExists: async (name) => {
        const path = `/os-keypairs/${encodeURIComponent(name)}`;
        const answer = await this.request("compute", { method: "GET", path });
        if (answer.status === 404) return false;
        if (answer.status !== 200)
          throw classifyAnswer(answer, "nova GET /os-keypairs/{name}", this.context.clock.now());
        return true;
      },
      availableZones: async () => {
        const answer = await this.get("compute", "/os-availability-zone", zonesAnswer);
        return answer.availabilityZoneInfo
          .filter((zone) => zone.zoneState.available)
          .map((zone) => zone.zoneName);
      },
    });
  }

  // ---- headroom ----

  /** What the project's quota leaves (all its users' servers counted), from GET /limits. */
  async headroom(): Promise<Headroom> {
    const cached = this.fresh(this.limitsCache);
    if (cached !== undefined) return cached;
    const absolute = (await this.get("compute", "/limits", limitsAnswer)).limits.absolute;
    const headroom: Headroom = {};
    const instances = left(absolute.maxTotalInstances, absolute.totalInstancesUsed);
    const cpus = left(absolute.maxTotalCores, absolute.totalCoresUsed);
    const memoryMb = left(absolute.maxTotalRAMSize, absolute.totalRAMUsed);
    if (instances !== undefined) headroom.instances = instances;
    if (cpus !== undefined) headroom.cpus = cpus;
    if (memoryMb !== undefined) headroom.memoryMb = memoryMb;
    this.limitsCache = {
      value: headroom,
      until: this.context.clock.now() + OPENSTACK_LIMITS_CACHE,
    };
    return headroom;
  }
}
