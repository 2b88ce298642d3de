/**
 * Amazon EC2 (or any EC2-compatible API): CernVM workers as instances tagged with the pool and
 * the cloud's policy name. Translates; the planner decides.
 */
import { createHash } from "node:crypto";
import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  EC2Client,
  type Instance as Ec2Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { EC2_IDEMPOTENCY_WINDOW, EC2_TERMINATE_BATCH } from "../../config/defaults.js";
import type { Ec2ProviderSettings } from "../../config/schema.js";
import { ProviderError } from "../../model/errors.js";
import type { PreflightCheck } from "../../model/preflight.js";
import type { Headroom, Instance, InstanceStatus } from "../../model/snapshot.js";
import { MANAGED_BY, OWNER_TAGS, type ProviderContext } from "../context.js";
import { lookup } from "../lookup.js";
import type {
  LaunchRequest,
  LaunchResult,
  PoolInstance,
  Provider,
  TerminateResult,
} from "../provider.js";
import { classifyEc2Error, ec2ErrorCode } from "./errors.js";
import { dryRunLaunches } from "./preflight.js";

/** One place to launch: an instance type, in a subnet (hence a zone) or the default one. */
interface Placement {
  instanceType: string;
  subnet?: string;
  /** The backoff scope of a capacity error here. */
  scope: string;
}

const STATUS_BY_STATE: Readonly<Record<string, InstanceStatus>> = {
  pending: "booting",
  running: "running",
  stopping: "failed",
  stopped: "failed",
  "shutting-down": "gone",
  terminated: "gone",
};

const SPOT_TERMINATION = "Server.SpotInstanceTermination";

export function placementScope(instanceType: string, subnet?: string): string {
  return subnet === undefined
    ? `instanceType=${instanceType}`
    : `instanceType=${instanceType},subnet=${subnet}`;
}

export class Ec2Provider implements Provider {
  readonly cloud: string;
  private readonly client: EC2Client;
  /** Ids of every instance the last list() found (sorted), part of each launch's intent. */
  private listed: readonly string[] = [];

  constructor(
    private readonly settings: Ec2ProviderSettings,
    private readonly context: ProviderContext,
    client?: EC2Client,
  ) {
    this.cloud = context.cloud;
    this.client =
      client ??
      new EC2Client({
        region: settings.region,
        ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
        ...(settings.profile === undefined ? {} : { profile: settings.profile }),
        // One attempt: the planner must see throttling and capacity answers, not an SDK retrying them.
        maxAttempts: 1,
        requestHandler: {
          requestTimeout: settings.requestTimeout * 1000,
          connectionTimeout: settings.requestTimeout * 1000,
          // Without this the SDK only warns (on the console) when requestTimeout passes and keeps
          // waiting: a silent endpoint would hold the tick for ever.
          throwOnRequestTimeout: true,
        },
      });
  }

  /** Where a launch may go, in order, without the scopes backing off. */
  placements(avoid: readonly string[]): Placement[] {
    const subnets: Array<string | undefined> =
      this.settings.subnets.length > 0 ? this.settings.subnets : [undefined];
    const all = this.settings.instanceTypes.flatMap((instanceType) =>
      subnets.map((subnet) => ({
        instanceType,
        ...(subnet === undefined ? {} : { subnet }),
        scope: placementScope(instanceType, subnet),
      })),
    );
    return all.filter(
      (p) => !avoid.includes(p.scope) && !avoid.includes(placementScope(p.instanceType)),
    );
  }

  /**
   * Same parameters in the same window, with the same instances listed, give the same token: a
   * request repeated after a crash (before DescribeInstances shows what it launched) launches
   * nothing twice. Once the instances of a launch are listed, a new launch of the same size is a
   * new intent: EC2 would otherwise answer it with the first launch's instances and start none.
   */
  clientToken(placement: Placement, count: number, now: number): string {
    const window = Math.floor(now / EC2_IDEMPOTENCY_WINDOW);
    const owned = createHash("sha256").update(this.listed.join(",")).digest("hex");
    const intent = JSON.stringify([
      this.context.pool,
      this.cloud,
      placement.scope,
      count,
      window,
      owned,
    ]);
    return createHash("sha256").update(intent).digest("hex").slice(0, 40);
  }

  private tags(): Array<{ Key: string; Value: string }> {
    return [
      { Key: OWNER_TAGS.pool, Value: this.context.pool },
      { Key: OWNER_TAGS.cloud, Value: this.cloud },
      { Key: OWNER_TAGS.managedBy, Value: MANAGED_BY },
      { Key: "Name", Value: `${this.context.pool}-${this.cloud}` },
    ];
  }

  /** The RunInstances request for one placement. */
  runRequest(
    placement: Placement,
    count: number,
    now: number,
    userData?: string,
    /** The launch intent's token and the placement's place in the launch. */
    intent?: { token: string; index: number },
  ): RunInstancesCommandInput {
    const s = this.settings;
    const tags = this.tags();
    return {
      ...(s.image === undefined ? {} : { ImageId: s.image }),
      ...(s.launchTemplate === undefined
        ? {}
        : {
            LaunchTemplate: {
              ...(s.launchTemplate.id === undefined
                ? {}
                : { LaunchTemplateId: s.launchTemplate.id }),
              ...(s.launchTemplate.name === undefined
                ? {}
                : { LaunchTemplateName: s.launchTemplate.name }),
              ...(s.launchTemplate.version === undefined
                ? {}
                : { Version: s.launchTemplate.version }),
            },
          }),
      InstanceType: placement.instanceType as RunInstancesCommandInput["InstanceType"],
      MinCount: 1,
      MaxCount: count,
      // From the write-ahead launch intent when there is one: `<token>.<placement>`, one per
      // RunInstances (a token reused with other parameters is IdempotentParameterMismatch).
      ClientToken:
        intent === undefined
          ? this.clientToken(placement, count, now)
          : `${intent.token}.${intent.index}`,
      ...(placement.subnet === undefined ? {} : { SubnetId: placement.subnet }),
      ...(s.securityGroups.length === 0 ? {} : { SecurityGroupIds: s.securityGroups }),
      ...(s.keyName === undefined ? {} : { KeyName: s.keyName }),
      ...(s.instanceProfile === undefined
        ? {}
        : {
            IamInstanceProfile: s.instanceProfile.startsWith("arn:")
              ? { Arn: s.instanceProfile }
              : { Name: s.instanceProfile },
          }),
      ...(s.spot === undefined
        ? {}
        : {
            InstanceMarketOptions: {
              MarketType: "spot",
              SpotOptions: {
                SpotInstanceType: "one-time",
                InstanceInterruptionBehavior: "terminate",
                ...(s.spot.maxPrice === undefined ? {} : { MaxPrice: s.spot.maxPrice }),
              },
            },
          }),
      ...(userData === undefined ? {} : { UserData: Buffer.from(userData).toString("base64") }),
      TagSpecifications: [
        { ResourceType: "instance", Tags: tags },
        { ResourceType: "volume", Tags: tags },
      ],
    };
  }

  /** The calls a launch would make, for dry runs and `plan`. */
  describeLaunch(request: LaunchRequest): string[] {
    const now = this.context.clock.now();
    const placements = this.placements(request.avoid);
    const [first, ...rest] = placements;
    if (first === undefined)
      return [`no placement left: every instance type/subnet is backing off`];
    const call = this.runRequest(
      first,
      request.count,
      now,
      undefined,
      request.token === undefined ? undefined : { token: request.token, index: 0 },
    );
    const tags = this.tags()
      .map((t) => `${t.Key}=${t.Value}`)
      .join(",");
    const then =
      rest.length > 0 ? ` (on a capacity answer then: ${rest.map((p) => p.scope).join("; ")})` : "";
    return [
      `RunInstances ${call.ImageId ?? "LaunchTemplate"} InstanceType=${first.instanceType}${first.subnet === undefined ? "" : ` SubnetId=${first.subnet}`} MinCount=1 MaxCount=${request.count}${this.settings.spot === undefined ? "" : " spot"} Tags=${tags} ClientToken=${call.ClientToken}${then}`,
    ];
  }

  describeTerminate(instanceIds: readonly string[]): string[] {
    const calls: string[] = [];
    for (let start = 0; start < instanceIds.length; start += EC2_TERMINATE_BATCH) {
      const batch = instanceIds.slice(start, start + EC2_TERMINATE_BATCH);
      calls.push(`TerminateInstances InstanceIds=${batch.join(",")}`);
    }
    return calls;
  }

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    const now = this.context.clock.now();
    const placements = this.placements(request.avoid);
    if (placements.length === 0)
      return { instances: [], skipped: "every instance type and subnet is backing off" };
    const launched: Instance[] = [];
    const scopeErrors: ProviderError[] = [];
    let userData: string | undefined;
    try {
      userData = await this.context.userData(`${this.context.pool}-${this.cloud}`);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return {
        instances: [],
        error: new ProviderError("config", `user-data cannot be rendered: ${why}`),
      };
    }
    for (const [index, placement] of placements.entries()) {
      const remaining = request.count - launched.length;
      if (remaining <= 0) break;
      const intent = request.token === undefined ? undefined : { token: request.token, index };
      try {
        const answer = await this.client.send(
          new RunInstancesCommand(this.runRequest(placement, remaining, now, userData, intent)),
        );
        const instances = (answer.Instances ?? []).map((i) => this.toInstance(i));
        for (const instance of instances) launched.push(instance);
        // Fewer than asked here: the rest may fit the next type or zone.
        if (instances.length < remaining) {
          scopeErrors.push(
            new ProviderError(
              "capacity",
              `${placement.scope}: ${instances.length} of ${remaining} launched`,
              {
                scope: placement.scope,
              },
            ),
          );
        }
      } catch (error) {
        const classified = classifyEc2Error(error, placement.scope);
        if (classified.kind !== "capacity")
          return { instances: launched, error: classified, scopeErrors };
        scopeErrors.push(classified);
      }
    }
    if (launched.length >= request.count) return { instances: launched, scopeErrors };
    const error = new ProviderError(
      "capacity",
      `launched ${launched.length} of ${request.count}: no capacity in ${placements.map((p) => p.scope).join("; ")}`,
    );
    return { instances: launched, error, scopeErrors };
  }

  async poolInstances(): Promise<PoolInstance[]> {
    try {
      const found = await this.describeAll({
        Filters: [
          { Name: `tag:${OWNER_TAGS.pool}`, Values: [this.context.pool] },
          { Name: `tag:${OWNER_TAGS.managedBy}`, Values: [MANAGED_BY] },
          { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] },
        ],
      });
      return found.map((instance) => {
        const tag = (key: string) => instance.Tags?.find((t) => t.Key === key)?.Value;
        const id = instance.InstanceId ?? "?";
        return { cloud: tag(OWNER_TAGS.cloud) ?? "?", id, name: tag("Name") ?? id };
      });
    } catch (error) {
      throw classifyEc2Error(error);
    }
  }

  /** A DryRun RunInstances per placement: permissions, image, types, subnets, groups. */
  async preflight(): Promise<PreflightCheck[]> {
    const now = this.context.clock.now();
    let userData: string | undefined;
    try {
      userData = await this.context.userData(`${this.context.pool}-${this.cloud}`);
    } catch {
      userData = undefined; // reported by the user-data check
    }
    return dryRunLaunches(
      this.client,
      this.cloud,
      this.placements([]).map((placement) => {
        const { ClientToken: _token, ...request } = this.runRequest(placement, 1, now, userData);
        return { scope: placement.scope, request };
      }),
    );
  }

  private async describeAll(input: DescribeInstancesCommandInput): Promise<Ec2Instance[]> {
    const instances: Ec2Instance[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new DescribeInstancesCommand({
          ...input,
          ...(token === undefined ? {} : { NextToken: token }),
        }),
      );
      // One by one: spreading a reservation of 100 k instances overflows the call stack.
      for (const reservation of page.Reservations ?? [])
        for (const instance of reservation.Instances ?? []) instances.push(instance);
      token = page.NextToken === undefined || page.NextToken === "" ? undefined : page.NextToken;
      // An endpoint that names a page it gave already would be asked for ever.
      if (token !== undefined && tokens.has(token))
        throw new ProviderError(
          "transient",
          `DescribeInstances: paging repeats NextToken ${token}`,
        );
      if (token !== undefined) tokens.add(token);
    } while (token !== undefined);
    return instances;
  }

  async list(): Promise<Instance[]> {
    try {
      const found = await this.describeAll({
        Filters: [
          { Name: `tag:${OWNER_TAGS.pool}`, Values: [this.context.pool] },
          { Name: `tag:${OWNER_TAGS.cloud}`, Values: [this.cloud] },
        ],
      });
      this.listed = found.map((i) => i.InstanceId ?? "").sort();
      return found.map((i) => this.toInstance(i));
    } catch (error) {
      throw classifyEc2Error(error);
    }
  }

  toInstance(found: Ec2Instance): Instance {
    const id = found.InstanceId ?? "";
    const state = found.State?.Name ?? "pending";
    const instance: Instance = {
      id,
      cloud: this.cloud,
      name: `${this.context.pool}-${this.cloud}-${id.replace(/^i-/, "").slice(-8)}`,
      status: lookup(STATUS_BY_STATE, state) ?? "failed",
      launchedAt: (found.LaunchTime?.getTime() ?? this.context.clock.now() * 1000) / 1000,
    };
    if (found.PrivateIpAddress !== undefined) instance.address = found.PrivateIpAddress;
    if (found.PrivateDnsName !== undefined && found.PrivateDnsName !== "")
      instance.hostname = found.PrivateDnsName;
    if (found.ImageId !== undefined) instance.image = found.ImageId;
    if (found.ClientToken !== undefined && found.ClientToken !== "")
      instance.launchToken = found.ClientToken;
    const reason = found.StateReason;
    if (
      reason?.Code === SPOT_TERMINATION ||
      (found.InstanceLifecycle === "spot" &&
        state === "terminated" &&
        reason?.Code?.startsWith("Server.Spot"))
    ) {
      instance.fault = {
        message: reason?.Message ?? "spot instance reclaimed by AWS",
        kind: "capacity",
        scope: placementScope(found.InstanceType ?? "unknown", found.SubnetId),
      };
    } else if (instance.status === "failed" && reason !== undefined) {
      instance.fault = { message: reason.Message ?? reason.Code ?? state };
    }
    return instance;
  }

  async terminate(instanceIds: readonly string[]): Promise<TerminateResult> {
    const terminated: string[] = [];
    for (let start = 0; start < instanceIds.length; start += EC2_TERMINATE_BATCH) {
      const batch = instanceIds.slice(start, start + EC2_TERMINATE_BATCH);
      try {
        await this.client.send(new TerminateInstancesCommand({ InstanceIds: batch }));
        terminated.push(...batch);
      } catch (error) {
        if (ec2ErrorCode(error) !== "InvalidInstanceID.NotFound") {
          return { terminated, error: classifyEc2Error(error) };
        }
        // One unknown id fails the whole call: go one by one, and an id already gone counts as done.
        for (const id of batch) {
          try {
            await this.client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
            terminated.push(id);
          } catch (single) {
            if (ec2ErrorCode(single) === "InvalidInstanceID.NotFound") terminated.push(id);
            else return { terminated, error: classifyEc2Error(single) };
          }
        }
      }
    }
    return { terminated };
  }

  async headroom(): Promise<Headroom> {
    const limits = this.settings.limits;
    if (limits === undefined) return {};
    let running: Ec2Instance[];
    try {
      running = await this.describeAll({
        Filters: [{ Name: "instance-state-name", Values: ["pending", "running"] }],
      });
    } catch (error) {
      throw classifyEc2Error(error);
    }
    const vcpus = running.reduce((sum, i) => {
      const cores = i.CpuOptions?.CoreCount;
      const threads = i.CpuOptions?.ThreadsPerCore ?? 1;
      return sum + (cores === undefined ? this.context.shape.cpus : cores * threads);
    }, 0);
    const headroom: Headroom = {};
    if (limits.instances !== undefined)
      headroom.instances = Math.max(0, limits.instances - running.length);
    if (limits.vcpus !== undefined) headroom.cpus = Math.max(0, limits.vcpus - vcpus);
    return headroom;
  }
}
