/**
 * Nova, Glance and Keystone as this provider speaks to them: the Keystone session (made on first
 * use), the compute microversion headers, GETs that must answer 200 and Nova's paging.
 */
import { z } from "zod";
import { ProviderError } from "../../model/errors.js";
import type { ProviderContext } from "../context.js";
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
import type { EndpointInterface, OpenStackProviderSettings } from "./schema.js";

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

/** Items asked for per page of a Nova collection (Nova's default max_limit is 1000). */
const PAGE_SIZE = 200;

export const link = z.object({ href: z.string(), rel: z.string() });

/** One page of a Nova collection: its items and its `*_links`. */
export interface Page<T> {
  items: T[];
  links: Array<z.infer<typeof link>>;
}

export class OpenStackApi {
  private session: Promise<KeystoneSession> | undefined;
  private readonly sources: CredentialSources;

  constructor(
    private readonly settings: OpenStackProviderSettings,
    private readonly context: ProviderContext,
    private readonly options: OpenStackProviderOptions = {},
  ) {
    const real = defaultSources();
    this.sources = {
      env: options.env ?? real.env,
      readFile: options.readFile ?? real.readFile,
      cwd: options.cwd ?? real.cwd,
      home: options.home ?? real.home,
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

  async request(service: ServiceType, request: ServiceRequest): Promise<HttpAnswer> {
    const session = await this.keystone();
    return session.request(service, {
      ...request,
      ...(service === "compute"
        ? { headers: { ...this.computeHeaders(), ...request.headers } }
        : {}),
    });
  }

  /** GET that must answer 200, validated against `shape`. */
  async get<T>(service: ServiceType, path: string, shape: z.ZodType<T>): Promise<T> {
    const answer = await this.request(service, { method: "GET", path });
    const call = `${service === "compute" ? "nova" : "glance"} GET ${path.split("?")[0]}`;
    if (answer.status !== 200) throw classifyAnswer(answer, call, this.context.clock.now());
    return parseAnswer(shape, answer, call);
  }

  /** Every item of a paged Nova collection, following `*_links` rel=next with limit + marker. */
  async allPages<T extends { id: string }>(
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
      // One by one: spreading a page of 100 k items overflows the call stack.
      for (const item of page.items) items.push(item);
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
}
