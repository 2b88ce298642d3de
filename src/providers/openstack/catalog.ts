/**
 * What a launch looks up before it creates anything, each kept for a while: the flavor (Nova), the
 * image (Glance) and the project's quota headroom (GET /limits).
 */
import { z } from "zod";
import { OPENSTACK_LIMITS_CACHE, OPENSTACK_LOOKUP_CACHE } from "../../config/defaults.js";
import { ProviderError } from "../../model/errors.js";
import type { Headroom } from "../../model/snapshot.js";
import type { ProviderContext } from "../context.js";
import { link, type OpenStackApi, type Page } from "./api.js";
import { classifyAnswer } from "./errors.js";
import { parseAnswer, query } from "./http.js";
import type { OpenStackProviderSettings } from "./schema.js";

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

const flavorShape = z.object({
  id: z.string().min(1),
  name: z.string(),
  vcpus: z.number(),
  ram: z.number(),
});
export type Flavor = z.infer<typeof flavorShape>;
const flavorsPage = z
  .object({ flavors: z.array(flavorShape), flavors_links: z.array(link).optional() })
  .transform((page): Page<Flavor> => ({ items: page.flavors, links: page.flavors_links ?? [] }));

const imageShape = z.object({
  id: z.string().min(1),
  name: z.string().nullish(),
  status: z.string(),
});
export type Image = z.infer<typeof imageShape>;
const imagesPage = z.object({ images: z.array(imageShape), next: z.string().optional() });

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

interface Cached<T> {
  value: T;
  until: number;
}

/** What is left of a limit; undefined when unlimited (−1) or not reported. */
function left(max: number | undefined, used: number | undefined): number | undefined {
  if (max === undefined || max < 0) return undefined;
  return Math.max(0, max - (used ?? 0));
}

export class OpenStackCatalog {
  private flavorCache: Cached<Flavor> | undefined;
  private imageCache: Cached<Image> | undefined;
  private limitsCache: Cached<Headroom> | undefined;

  constructor(
    private readonly api: OpenStackApi,
    private readonly settings: OpenStackProviderSettings,
    private readonly context: ProviderContext,
  ) {}

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
    const flavors = await this.api.allPages("/flavors/detail", {}, flavorsPage);
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
      const answer = await this.api.request("image", { method: "GET", path });
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
        const page: z.infer<typeof imagesPage> = await this.api.get("image", path, imagesPage);
        for (const image of page.images) found.push(image);
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

  /** Drops the flavor and image ids, e.g. after Nova said one of them is wrong. */
  forget(): void {
    this.flavorCache = undefined;
    this.imageCache = undefined;
  }

  /** Servers were created: the quota's use changed. */
  forgetLimits(): void {
    this.limitsCache = undefined;
  }

  /** What the project's quota leaves (all its users' servers counted), from GET /limits. */
  async headroom(): Promise<Headroom> {
    const cached = this.fresh(this.limitsCache);
    if (cached !== undefined) return cached;
    const absolute = (await this.api.get("compute", "/limits", limitsAnswer)).limits.absolute;
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
