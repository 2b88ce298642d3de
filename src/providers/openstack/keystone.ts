/**
 * Keystone v3: a project-scoped token (password or application credential), kept until shortly
 * before it expires, and the service catalog it comes with. Every OpenStack call goes through
 * `request`, which re-authenticates once when a service answers 401.
 */
import type Logger from "bunyan";
import { z } from "zod";
import { KEYSTONE_TOKEN_MARGIN } from "../../config/defaults.js";
import type { Clock } from "../../model/clock.js";
import { ProviderError } from "../../model/errors.js";
import type { Identity, OpenStackCredentials } from "./credentials.js";
import { classifyAnswer, type HttpAnswer, headerValue } from "./errors.js";
import { type HttpMethod, joinUrl, parseAnswer, type Send } from "./http.js";
import type { EndpointInterface } from "./schema.js";

/** Service types of the catalog this adapter uses. */
export type ServiceType = "compute" | "image";

const endpointShape = z.object({
  interface: z.string(),
  url: z.string().min(1),
  region: z.string().nullish(),
  region_id: z.string().nullish(),
});
const catalogShape = z.array(
  z.object({
    type: z.string(),
    name: z.string().optional(),
    endpoints: z.array(endpointShape),
  }),
);
export type Catalog = z.infer<typeof catalogShape>;

const tokenAnswer = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    catalog: catalogShape.optional(),
    project: z.object({ id: z.string(), name: z.string().optional() }).optional(),
  }),
});

export interface Token {
  /** The X-Subject-Token; never logged. */
  readonly value: string;
  /** Epoch seconds (our clock) after which a new token is asked for. */
  readonly renewAt: number;
  readonly expiresAt: string;
  readonly catalog: Catalog;
}

export interface KeystoneOptions {
  send: Send;
  clock: Clock;
  interface: EndpointInterface;
  region?: string;
  log?: Logger;
}

export interface ServiceRequest {
  method: HttpMethod;
  /** Path below the service's catalog URL, query included. */
  path: string;
  headers?: Readonly<Record<string, string>>;
  json?: unknown;
}

/** `{auth_url}/v3/auth/tokens`, whether the auth URL names the version or not. */
export function tokensUrl(authUrl: string): string {
  const trimmed = authUrl.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new ProviderError("config", `auth_url "${trimmed}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ProviderError("config", `auth_url "${trimmed}" is not an http(s) URL`);
  const base = trimmed.replace(/\/+$/, "").replace(/\/v(?:3|2\.0)$/, "");
  return `${base}/v3/auth/tokens`;
}

/** The POST /v3/auth/tokens body. Holds the secret: never log it. */
export function authBody(identity: Identity): unknown {
  if (identity.method === "password") {
    return {
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { ...identity.user, password: identity.password } },
        },
        scope: { project: identity.project },
      },
    };
  }
  const reference =
    identity.id !== undefined
      ? { id: identity.id }
      : { name: identity.name, ...(identity.user === undefined ? {} : { user: identity.user }) };
  return {
    auth: {
      identity: {
        methods: ["application_credential"],
        application_credential: { ...reference, secret: identity.secret },
      },
    },
  };
}

/**
 * The URL of `type` in the catalog for `endpointInterface` (and `region` when given). Without a
 * region, a service offered in several regions is an error: launching in the wrong one is worse.
 */
export function selectEndpoint(
  catalog: Catalog,
  type: string,
  endpointInterface: EndpointInterface,
  region?: string,
): string {
  const endpoints = catalog
    .filter((service) => service.type === type)
    .flatMap((service) => service.endpoints);
  const offered = endpoints.filter((e) => e.interface === endpointInterface);
  const inRegion =
    region === undefined
      ? offered
      : offered.filter((e) => e.region_id === region || e.region === region);
  const regions = [...new Set(inRegion.map((e) => e.region_id ?? e.region ?? ""))];
  const [first] = inRegion;
  if (first !== undefined && (region !== undefined || regions.length <= 1)) return first.url;
  if (first !== undefined) {
    throw new ProviderError(
      "config",
      `the ${type} service is offered in several regions (${regions.join(", ")}): set region in the policy file or region_name in clouds.yaml`,
    );
  }
  const have = endpoints
    .map(
      (e) => `${e.interface}${(e.region_id ?? e.region) ? ` in ${e.region_id ?? e.region}` : ""}`,
    )
    .join(", ");
  throw new ProviderError(
    "config",
    `no ${type} endpoint with interface ${endpointInterface}${region === undefined ? "" : ` in region ${region}`} in the service catalog (${have === "" ? `no ${type} service at all` : `it has: ${have}`})`,
  );
}

function epochSeconds(text: string): number {
  // Keystone writes UTC with or without a zone suffix; microseconds are fine for Date.parse.
  return Date.parse(/(?:Z|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`) / 1000;
}

export class KeystoneSession {
  private token: Token | undefined;
  private pending: Promise<Token> | undefined;
  private readonly url: string;

  constructor(
    private readonly credentials: OpenStackCredentials,
    private readonly options: KeystoneOptions,
  ) {
    this.url = tokensUrl(credentials.authUrl);
  }

  /** A valid token: the cached one until its renewal time, else a new one (one request at a time). */
  async currentToken(): Promise<Token> {
    const cached = this.token;
    if (cached !== undefined && this.options.clock.now() < cached.renewAt) return cached;
    if (this.pending === undefined) {
      this.pending = this.authenticate().finally(() => {
        this.pending = undefined;
      });
    }
    return this.pending;
  }

  /** Forgets `token` (a service rejected it) unless a newer one already replaced it. */
  invalidate(token: Token): void {
    if (this.token === token) this.token = undefined;
  }

  async endpoint(type: ServiceType): Promise<string> {
    const token = await this.currentToken();
    return selectEndpoint(token.catalog, type, this.options.interface, this.options.region);
  }

  private async authenticate(): Promise<Token> {
    const call = "keystone POST /v3/auth/tokens";
    const issuedBy = this.options.clock.now();
    const answer = await this.options.send({
      method: "POST",
      url: this.url,
      headers: { "content-type": "application/json" },
      json: authBody(this.credentials.identity),
      call,
    });
    if (answer.status !== 201 && answer.status !== 200) {
      const error = classifyAnswer(answer, call, issuedBy);
      throw new ProviderError(
        error.kind,
        `${error.message} (credentials from ${this.credentials.source})`,
        error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds },
      );
    }
    const value = headerValue(answer, "x-subject-token");
    if (value === undefined || value === "")
      throw new ProviderError("config", `${call}: the answer has no X-Subject-Token header`);
    const body = parseAnswer(tokenAnswer, answer, call).token;
    const expiresAt = epochSeconds(body.expires_at);
    if (Number.isNaN(expiresAt))
      throw new ProviderError("transient", `${call}: unreadable expires_at "${body.expires_at}"`);
    if (body.catalog === undefined || body.catalog.length === 0) {
      throw new ProviderError(
        "config",
        `${call}: the token has no service catalog (is it scoped to a project?)`,
      );
    }
    // Measure the lifetime on Keystone's clock (issued → expires) so that a skewed local clock
    // neither renews on every call nor keeps an expired token.
    const issuedAt = body.issued_at === undefined ? Number.NaN : epochSeconds(body.issued_at);
    const lifetime = Number.isNaN(issuedAt) ? expiresAt - issuedBy : expiresAt - issuedAt;
    const margin = Math.min(KEYSTONE_TOKEN_MARGIN, Math.max(0, lifetime) / 2);
    const token: Token = {
      value,
      renewAt: issuedBy + lifetime - margin,
      expiresAt: body.expires_at,
      catalog: body.catalog,
    };
    this.token = token;
    this.options.log?.debug(
      {
        expiresAt: body.expires_at,
        method: this.credentials.identity.method,
        project: body.project?.name ?? body.project?.id,
      },
      "keystone: token issued",
    );
    return token;
  }

  /**
   * One call to a service of the catalog. A 401 makes it authenticate again and retry once; a
   * second 401 is an `auth` error. Any other answer is returned as it is.
   */
  async request(service: ServiceType, request: ServiceRequest): Promise<HttpAnswer> {
    const call = `${service === "compute" ? "nova" : "glance"} ${request.method} ${request.path.split("?")[0]}`;
    const send = async (token: Token) => {
      const found = selectEndpoint(
        token.catalog,
        service,
        this.options.interface,
        this.options.region,
      );
      // Glance paths carry their version (/v2/images); some catalogs register the versioned URL.
      const base = service === "image" ? found.replace(/\/v2(?:\.\d+)?\/*$/, "") : found;
      return this.options.send({
        method: request.method,
        url: joinUrl(base, request.path),
        headers: {
          ...request.headers,
          "x-auth-token": token.value,
          ...(request.json === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(request.json === undefined ? {} : { json: request.json }),
        call,
      });
    };
    const first = await this.currentToken();
    const answer = await send(first);
    if (answer.status !== 401) return answer;
    this.invalidate(first);
    this.options.log?.info(`${call}: token rejected (401), authenticating again`);
    const again = await send(await this.currentToken());
    if (again.status !== 401) return again;
    const error = classifyAnswer(again, call, this.options.clock.now());
    throw new ProviderError(
      "auth",
      `${error.message} (again after a fresh token from ${this.credentials.source})`,
    );
  }
}
