/**
 * The OpenStack provider over HTTP (nock, answers built from the Nova/Glance/Keystone samples of
 * test/fixtures/openstack): launch, list, terminate, headroom, and the errors each can meet.
 */
import test from "ava";
import nock from "nock";
import { OPENSTACK_LIMITS_CACHE, OPENSTACK_LOOKUP_CACHE } from "../../src/config/defaults.js";
import { ProviderError } from "../../src/model/errors.js";
import type { Send } from "../../src/providers/openstack/http.js";
import { isolateNock } from "./nock-hooks.js";
import {
  CLOUD,
  fixture,
  fixtureText,
  GLANCE_HOST,
  glance,
  KEYSTONE,
  keystone,
  NOVA_PATH,
  nova,
  openstack,
  ourServer,
  POOL,
  SAMPLE_TOKEN,
  sampleCatalog,
  TOKENS_PATH,
  tokenBody,
} from "./openstack-support.js";
import { START } from "./settings.js";

isolateNock(test);

function allDone(t: import("ava").ExecutionContext): void {
  t.deepEqual(nock.pendingMocks(), [], "every expected call was made");
}

const SAMPLE_SERVER_ID = "f5dc173b-6804-445a-a6d8-c705dad5b5eb";
const IMAGE_ID = "1bea47ed-f6a9-463b-b423-14b9cca9ad27";

/** The server id of the n-th create answer (the sample's id with its last digit changed). */
function createdId(n: number): string {
  return `${SAMPLE_SERVER_ID.slice(0, -1)}${n}`;
}

/** The 202 sample of POST /servers with another id. */
function createAnswer(n: number): Record<string, unknown> {
  const answer = fixture("nova_servers_server-create-resp.json");
  (answer.server as Record<string, unknown>).id = createdId(n);
  return answer;
}

/** Flavor and image lookups as the sample answers give them (m1.large is id 4). */
function lookups(): void {
  nova()
    .get(`${NOVA_PATH}/flavors/detail`)
    .query({ limit: "200" })
    .reply(200, fixture("nova_flavors_flavors-detail-resp.json"));
  glance()
    .get("/v2/images")
    .query({ name: "cirros-0.3.2-x86_64-disk" })
    .reply(200, fixture("glance_v2_images-list-response.json"));
}

const QUOTA_403 = fixture("nova-error_403_quota-exceeded-instances.json");

// ---- launch ----

test.serial(
  "launch: POST /servers per server with microversion, metadata, base64 user-data",
  async (t) => {
    const { provider } = openstack({ provider: { networks: "none" } });
    keystone(START);
    lookups();
    const bodies: unknown[] = [];
    let n = 0;
    nova()
      .post(`${NOVA_PATH}/servers`, (body) => {
        bodies.push(body);
        return true;
      })
      .matchHeader("openstack-api-version", "compute 2.79")
      .matchHeader("x-openstack-nova-api-version", "2.79")
      .matchHeader("x-auth-token", SAMPLE_TOKEN)
      .times(3)
      .reply(202, () => {
        n += 1;
        return createAnswer(n);
      });

    const result = await provider.launch({ count: 3, avoid: [] });
    t.is(result.error, undefined);
    t.deepEqual(result.instances.map((i) => i.id).sort(), [
      createdId(1),
      createdId(2),
      createdId(3),
    ]);
    t.deepEqual(result.instances.map((i) => i.name).sort(), [
      "cms-cern-00000001",
      "cms-cern-00000002",
      "cms-cern-00000003",
    ]);
    for (const instance of result.instances) {
      t.is(instance.status, "booting");
      t.is(instance.launchedAt, START);
      t.is(instance.image, IMAGE_ID);
      t.is(instance.cloud, CLOUD);
    }
    const first = bodies.find(
      (body) => (body as { server: { name: string } }).server.name === "cms-cern-00000001",
    );
    t.deepEqual(first, {
      server: {
        name: "cms-cern-00000001",
        imageRef: IMAGE_ID,
        flavorRef: "4",
        networks: "none",
        metadata: {
          "condor-autoscaler:pool": POOL,
          "condor-autoscaler:cloud": CLOUD,
          "managed-by": "condor-autoscaler",
        },
        user_data: Buffer.from('#!/bin/sh\necho "I am cms-cern-00000001"\n').toString("base64"),
      },
    });
    allDone(t);
  },
);

test.serial(
  "launch: key pair, security groups, zone and network uuids go into the body",
  async (t) => {
    const { provider } = openstack({
      provider: {
        networks: ["3fd3bd07-bc6d-4f5b-9b0c-e1a0a5b5b2a1"],
        keyName: "condor",
        securityGroups: ["default", "condor-worker"],
        availabilityZone: "nova",
        computeMicroversion: "2.37",
      },
      userData: async () => undefined,
    });
    keystone(START);
    lookups();
    let body: unknown;
    nova()
      .post(`${NOVA_PATH}/servers`, (sent) => {
        body = sent;
        return true;
      })
      .matchHeader("openstack-api-version", "compute 2.37")
      .reply(202, createAnswer(1));
    const result = await provider.launch({ count: 1, avoid: [] });
    t.is(result.instances.length, 1);
    t.like(body, {
      server: {
        networks: [{ uuid: "3fd3bd07-bc6d-4f5b-9b0c-e1a0a5b5b2a1" }],
        key_name: "condor",
        security_groups: [{ name: "default" }, { name: "condor-worker" }],
        availability_zone: "nova",
      },
    });
    t.false(
      "user_data" in ((body as { server: object }).server ?? {}),
      "no template, no user_data",
    );
    allDone(t);
  },
);

test.serial("launch: an image given by id is fetched by id from Glance", async (t) => {
  const { provider } = openstack({
    provider: { image: "781b3762-9469-4cec-b58d-3349e5de4e9c", flavor: "4" },
  });
  keystone(START);
  const images = fixture("glance_v2_images-list-response.json") as {
    images: Array<Record<string, unknown>>;
  };
  nova()
    .get(`${NOVA_PATH}/flavors/detail`)
    .query(true)
    .reply(200, fixture("nova_flavors_flavors-detail-resp.json"));
  glance().get("/v2/images/781b3762-9469-4cec-b58d-3349e5de4e9c").reply(200, images.images[1]);
  let body: unknown;
  nova()
    .post(`${NOVA_PATH}/servers`, (sent) => {
      body = sent;
      return true;
    })
    .reply(202, createAnswer(1));
  await provider.launch({ count: 1, avoid: [] });
  t.like(body, {
    server: { imageRef: "781b3762-9469-4cec-b58d-3349e5de4e9c", flavorRef: "4" },
  });
  allDone(t);
});

test.serial("launch: flavor and image ids are cached for the lookup interval", async (t) => {
  const { provider, clock } = openstack();
  keystone(START);
  lookups();
  nova().post(`${NOVA_PATH}/servers`).times(2).reply(202, createAnswer(1));
  await provider.launch({ count: 1, avoid: [] });
  clock.advance(OPENSTACK_LOOKUP_CACHE - 1);
  await provider.launch({ count: 1, avoid: [] });
  allDone(t);
  clock.advance(1);
  lookups();
  nova().post(`${NOVA_PATH}/servers`).reply(202, createAnswer(1));
  await provider.launch({ count: 1, avoid: [] });
  allDone(t);
});

test.serial(
  "launch: fewer created than asked is a partial success with the quota error",
  async (t) => {
    const { provider } = openstack({ provider: { concurrency: 1 } });
    keystone(START);
    lookups();
    nova()
      .post(`${NOVA_PATH}/servers`)
      .reply(202, createAnswer(1))
      .post(`${NOVA_PATH}/servers`)
      .reply(202, createAnswer(2))
      .post(`${NOVA_PATH}/servers`)
      .reply(403, QUOTA_403);
    const result = await provider.launch({ count: 5, avoid: [] });
    t.deepEqual(
      result.instances.map((i) => i.id),
      [createdId(1), createdId(2)],
    );
    t.is(result.error?.kind, "quota");
    t.regex(
      result.error?.message ?? "",
      /Quota exceeded for instances: Requested 1, but already used 10 of 10/,
    );
    allDone(t); // nothing was tried after the "no"
  },
);

test.serial("launch: at most `concurrency` creates are in flight at once", async (t) => {
  let inFlight = 0;
  let most = 0;
  let created = 0;
  const send: Send = async (request) => {
    const json = (body: unknown, status = 200, headers: Record<string, string> = {}) => ({
      status,
      headers,
      body: JSON.stringify(body),
    });
    if (request.url.endsWith(TOKENS_PATH))
      return json(tokenBody(START), 201, { "x-subject-token": SAMPLE_TOKEN });
    if (request.url.includes("/flavors/detail"))
      return json(fixture("nova_flavors_flavors-detail-resp.json"));
    if (request.url.includes("/v2/images"))
      return json(fixture("glance_v2_images-list-response.json"));
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 10));
    inFlight -= 1;
    created += 1;
    return json(createAnswer(created), 202);
  };
  const { provider } = openstack({ provider: { concurrency: 2 }, send });
  const result = await provider.launch({ count: 7, avoid: [] });
  t.is(result.instances.length, 7);
  t.is(most, 2);
});

test.serial("launch: the multi-resource quota message of a real Nova is `quota` too", async (t) => {
  const { provider } = openstack();
  keystone(START);
  lookups();
  // Observed from Nova Zed (../shared/tools/mini-openstack/README.md).
  nova()
    .post(`${NOVA_PATH}/servers`)
    .reply(403, {
      forbidden: {
        code: 403,
        message:
          "Quota exceeded for cores, ram: Requested 4, 8192, but already used 1, 512 of 4, 8192 cores, ram",
      },
    });
  const result = await provider.launch({ count: 1, avoid: [] });
  t.is(result.instances.length, 0);
  t.is(result.error?.kind, "quota");
});

test.serial("launch: 413 with retryAfter (a string, as Nova copies it) is throttled", async (t) => {
  const { provider } = openstack();
  keystone(START);
  lookups();
  nova()
    .post(`${NOVA_PATH}/servers`)
    .reply(413, fixture("nova-error_413_overLimit-retryAfter_test-faults.json"));
  const result = await provider.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "throttled");
  t.is(result.error?.retryAfterSeconds, 4);
});

test.serial("launch: 429 with a Retry-After header is throttled for that long", async (t) => {
  const { provider } = openstack();
  keystone(START);
  lookups();
  nova()
    .post(`${NOVA_PATH}/servers`)
    .reply(
      429,
      { overLimit: { code: 429, message: "Too many requests", retryAfter: "30" } },
      {
        "Retry-After": "30",
      },
    );
  const result = await provider.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "throttled");
  t.is(result.error?.retryAfterSeconds, 30);
});

test.serial(
  "launch: Nova's 400 about the flavor is config, and the lookups are asked again",
  async (t) => {
    const { provider } = openstack();
    keystone(START);
    lookups();
    nova()
      .post(`${NOVA_PATH}/servers`)
      .reply(400, { badRequest: { code: 400, message: "Flavor 4 could not be found." } });
    const result = await provider.launch({ count: 1, avoid: [] });
    t.is(result.error?.kind, "config");
    allDone(t);
    lookups();
    nova().post(`${NOVA_PATH}/servers`).reply(202, createAnswer(1));
    t.is((await provider.launch({ count: 1, avoid: [] })).instances.length, 1);
    allDone(t);
  },
);

test.serial("launch: a 5xx from Nova is transient", async (t) => {
  const { provider } = openstack();
  keystone(START);
  lookups();
  nova()
    .post(`${NOVA_PATH}/servers`)
    .reply(500, { computeFault: { code: 500, message: "Unexpected API Error." } });
  const result = await provider.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "transient");
});

test.serial("launch: an unknown flavor or image is config and nothing is created", async (t) => {
  const { provider } = openstack({ provider: { flavor: "m9.huge", image: "cernvm" } });
  keystone(START);
  nova()
    .get(`${NOVA_PATH}/flavors/detail`)
    .query(true)
    .reply(200, fixture("nova_flavors_flavors-detail-resp.json"));
  glance()
    .get("/v2/images")
    .query({ name: "cernvm" })
    .reply(200, { images: [], schema: "/v2/schemas/images", first: "/v2/images" });
  const result = await provider.launch({ count: 2, avoid: [] });
  t.is(result.instances.length, 0);
  t.is(result.error?.kind, "config");
  t.regex(result.error?.message ?? "", /flavor "m9\.huge" not found|image "cernvm" not found/);
  allDone(t);
});

test.serial("launch: two active images of one name are ambiguous (config)", async (t) => {
  const { provider } = openstack({ provider: { image: "cernvm" } });
  keystone(START);
  const sample = fixture("glance_v2_images-list-response.json") as {
    images: Array<Record<string, unknown>>;
  };
  for (const image of sample.images) image.name = "cernvm";
  nova()
    .get(`${NOVA_PATH}/flavors/detail`)
    .query(true)
    .reply(200, fixture("nova_flavors_flavors-detail-resp.json"));
  glance().get("/v2/images").query({ name: "cernvm" }).reply(200, sample);
  const result = await provider.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "config");
  t.regex(result.error?.message ?? "", /ambiguous: 2 active images/);
});

test.serial(
  "launch: a user-data template that cannot be rendered is config, before any call",
  async (t) => {
    const { provider } = openstack({
      userData: async () => {
        throw new Error("template /etc/condor-autoscaler/cernvm.yaml: no such file");
      },
    });
    const result = await provider.launch({ count: 2, avoid: [] });
    t.deepEqual(result.instances, []);
    t.is(result.error?.kind, "config");
    t.regex(result.error?.message ?? "", /user-data cannot be rendered: template/);
  },
);

test.serial("launch: networks none/auto before microversion 2.37 is config", async (t) => {
  const { provider } = openstack({ provider: { networks: "auto", computeMicroversion: "2.36" } });
  keystone(START);
  lookups();
  const result = await provider.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "config");
  t.regex(result.error?.message ?? "", /needs compute microversion 2\.37/);
});

test.serial("launch: credentials from clouds.yaml (OS_CLOUD), with its interface", async (t) => {
  const clouds = `clouds:
  cern:
    auth:
      auth_url: ${KEYSTONE}
      username: condor
      password: pw-from-file
      project_id: a6944d763bf64ee6a275f1263fae0352
      user_domain_id: default
    interface: internal
`;
  const { provider, records } = openstack({
    env: { OS_CLOUD: "cern" },
    files: { "/etc/openstack/clouds.yaml": clouds },
  });
  // The sample catalog with its internal compute endpoint moved to another host.
  const catalog = sampleCatalog() as Array<{
    type: string;
    endpoints: Array<{ interface: string; url: string }>;
  }>;
  for (const service of catalog)
    for (const endpoint of service.endpoints)
      if (service.type === "compute" && endpoint.interface === "internal")
        endpoint.url = "http://nova.internal:8774/v2.1";
  let auth: unknown;
  nock(KEYSTONE)
    .post(TOKENS_PATH, (body) => {
      auth = body;
      return true;
    })
    .reply(201, tokenBody(START, 3600, catalog), { "X-Subject-Token": SAMPLE_TOKEN });
  nock("http://nova.internal:8774")
    .get("/v2.1/servers/detail")
    .query(true)
    .reply(200, { servers: [] });
  t.deepEqual(await provider.list(), []);
  t.deepEqual(auth, {
    auth: {
      identity: {
        methods: ["password"],
        password: { user: { name: "condor", domain: { id: "default" }, password: "pw-from-file" } },
      },
      scope: { project: { id: "a6944d763bf64ee6a275f1263fae0352" } },
    },
  });
  const logged = JSON.stringify(records);
  t.false(logged.includes("pw-from-file"), "the password is never logged");
  t.false(logged.includes(SAMPLE_TOKEN), "the token is never logged");
  allDone(t);
});

test.serial(
  "no credentials anywhere: list fails with auth (then the cloud is disabled after a few ticks), and tries again next time",
  async (t) => {
    const { provider } = openstack({ env: {} });
    const error = await t.throwsAsync(provider.list(), { instanceOf: ProviderError });
    t.is(error?.kind, "auth");
    const again = await t.throwsAsync(provider.list(), { instanceOf: ProviderError });
    t.is(again?.kind, "auth");
  },
);

// ---- describe ----

test("describeLaunch and describeTerminate tell the calls without making any", (t) => {
  const { provider } = openstack({
    provider: {
      flavor: "m1.large",
      image: "cernvm",
      keyName: "condor",
      securityGroups: ["default"],
    },
  });
  t.deepEqual(provider.describeLaunch({ count: 3, avoid: [] }), [
    "POST /servers name=cms-cern-… flavor=m1.large image=cernvm x3 networks=auto key_name=condor security_groups=default metadata=condor-autoscaler:pool=cms,condor-autoscaler:cloud=cern,managed-by=condor-autoscaler microversion=2.79",
  ]);
  t.deepEqual(provider.describeTerminate(["a", "b"]), ["DELETE /servers/a", "DELETE /servers/b"]);
});

// ---- list ----

const NAME_FILTER = "^cms-cern-";

test.serial("list: narrowed by name, all pages by marker, confirmed by metadata", async (t) => {
  const { provider } = openstack();
  keystone(START);
  // Page 1 is the GET /servers/detail sample: its servers_links next carries the marker.
  const page1 = fixture("nova_servers_servers-details-resp.json") as {
    servers: Array<Record<string, unknown>>;
  };
  page1.servers = [ourServer(SAMPLE_SERVER_ID)];
  const foreign = fixture("nova_servers_servers-details-resp.json") as {
    servers: Array<Record<string, unknown>>;
  };
  const page2 = {
    servers: [
      ourServer("0b4e5a8c-0000-4000-8000-000000000002", { status: "BUILD", addresses: {} }),
      // Our name prefix, another cloud's metadata: not ours.
      ourServer(
        "0b4e5a8c-0000-4000-8000-000000000003",
        { name: "cms-cern-0b4e5a8c" },
        { cloud: "other" },
      ),
      // Not ours at all (the sample as it is), as if the name filter had been ignored.
      ...foreign.servers,
    ],
  };
  nova()
    .get(`${NOVA_PATH}/servers/detail`)
    .query({ name: NAME_FILTER, limit: "200" })
    .matchHeader("openstack-api-version", "compute 2.79")
    .reply(200, page1)
    .get(`${NOVA_PATH}/servers/detail`)
    .query({ name: NAME_FILTER, limit: "200", marker: SAMPLE_SERVER_ID })
    .reply(200, page2);
  const instances = await provider.list();
  t.deepEqual(
    instances.map((i) => [i.id, i.status]),
    [
      [SAMPLE_SERVER_ID, "running"],
      ["0b4e5a8c-0000-4000-8000-000000000002", "booting"],
    ],
  );
  const first = instances[0];
  t.is(first?.address, "192.168.1.30");
  t.is(first?.launchedAt, Date.parse("2013-09-03T04:01:32Z") / 1000);
  t.is(first?.image, "70a599e0-31e7-49b7-b260-868f441e862b");
  t.is(first?.name, "cms-cern-f5dc173b");
  t.is(instances[1]?.address, undefined);
  allDone(t);
});

test.serial("list: the name filter escapes regex characters of the pool name", async (t) => {
  const { provider } = openstack({ pool: "cms.t2" });
  keystone(START);
  nova()
    .get(`${NOVA_PATH}/servers/detail`)
    .query({ name: "^cms\\.t2-cern-", limit: "200" })
    .reply(200, { servers: [] });
  t.deepEqual(await provider.list(), []);
  allDone(t);
});

test.serial("list: Nova statuses → instance statuses", async (t) => {
  const { provider } = openstack();
  keystone(START);
  const id = (n: number) => `0b4e5a8c-0000-4000-8000-00000000000${n}`;
  nova()
    .get(`${NOVA_PATH}/servers/detail`)
    .query(true)
    .reply(200, {
      servers: [
        ourServer(id(1), { status: "BUILD" }),
        ourServer(id(2), { status: "ACTIVE" }),
        ourServer(id(3), { status: "SHUTOFF" }),
        ourServer(id(4), { status: "DELETED" }),
        ourServer(id(5), { status: "SOFT_DELETED" }),
        // After DELETE, Nova shows ACTIVE with task_state "deleting" for about a second.
        ourServer(id(6), { status: "ACTIVE", "OS-EXT-STS:task_state": "deleting" }),
        ourServer(id(7), { status: "ERROR" }),
      ],
    });
  const instances = await provider.list();
  t.deepEqual(
    instances.map((i) => i.status),
    ["booting", "running", "failed", "gone", "gone", "gone", "failed"],
  );
  t.deepEqual(instances[2]?.fault, { message: "Nova status SHUTOFF" });
  t.is(instances[6]?.fault?.kind, undefined, "an ERROR without a fault is no capacity signal");
});

/** The server of the api-guide fault excerpt (the excerpt's `...` dropped to make it JSON). */
function faultExcerpt(): { id: string; status: string; fault: { message: string; code: number } } {
  const text = fixtureText("nova-server-error-fault-excerpt_api-guide.txt")
    .split("\n")
    .slice(1)
    .filter((line) => line.trim() !== "...")
    .join("\n")
    .replace(/,(\s*})/g, "$1");
  return (JSON.parse(text) as { server: ReturnType<typeof faultExcerpt> }).server;
}

test.serial(
  "list: a server that goes BUILD → ERROR with 'No valid host' is failed with a capacity fault",
  async (t) => {
    const { provider, clock } = openstack();
    keystone(START);
    const excerpt = faultExcerpt();
    nova()
      .get(`${NOVA_PATH}/servers/detail`)
      .query(true)
      .reply(200, { servers: [ourServer(excerpt.id, { status: "BUILD", addresses: {} })] })
      .get(`${NOVA_PATH}/servers/detail`)
      .query(true)
      .reply(200, {
        servers: [
          ourServer(excerpt.id, { status: excerpt.status, fault: excerpt.fault, addresses: {} }),
        ],
      });
    const before = await provider.list();
    t.is(before[0]?.status, "booting");
    t.is(before[0]?.fault, undefined);
    clock.advance(30);
    const after = await provider.list();
    t.is(after[0]?.status, "failed");
    t.deepEqual(after[0]?.fault, { message: "No valid host was found.", kind: "capacity" });
    allDone(t);
  },
);

test.serial(
  "list: a server that Nova accepted over the quota goes ERROR with a quota fault",
  async (t) => {
    const { provider } = openstack();
    keystone(START);
    // The fault of a burst's extra server on a real Nova (Zed): the API's count at POST time
    // missed servers not yet in a cell, the conductor's re-check did not (see
    // test/integration/real-nova.test.ts).
    const fault = {
      code: 500,
      created: "2026-11-24T23:41:02Z",
      message: "Quota exceeded for instances: Requested 1, but already used 3 of 3 instances",
    };
    const id = "0b4e5a8c-0000-4000-8000-000000000001";
    nova()
      .get(`${NOVA_PATH}/servers/detail`)
      .query(true)
      .reply(200, { servers: [ourServer(id, { status: "ERROR", fault, addresses: {} })] });
    const [server] = await provider.list();
    t.is(server?.status, "failed");
    t.deepEqual(server?.fault, { message: fault.message, kind: "quota" });
    allDone(t);
  },
);

test.serial(
  "list: other faults are kept without a kind; hostname comes from 2.90+ answers",
  async (t) => {
    const { provider } = openstack();
    keystone(START);
    const recent = fixture("nova_servers_v2.100_servers-details-resp.json") as {
      servers: Array<Record<string, unknown>>;
    };
    const server = recent.servers[0] ?? {};
    nova()
      .get(`${NOVA_PATH}/servers/detail`)
      .query(true)
      .reply(200, {
        servers: [
          ourServer("0b4e5a8c-0000-4000-8000-000000000001", {
            ...server,
            id: "0b4e5a8c-0000-4000-8000-000000000001",
            name: "cms-cern-0b4e5a8c",
            metadata: { "condor-autoscaler:pool": POOL, "condor-autoscaler:cloud": CLOUD },
            status: "ERROR",
            fault: {
              code: 500,
              message: "Build of instance aborted: Failure prepping block device.",
            },
          }),
        ],
      });
    const [instance] = await provider.list();
    t.is(instance?.hostname, "new-server-test");
    t.deepEqual(instance?.fault, {
      message: "Build of instance aborted: Failure prepping block device.",
    });
  },
);

test.serial("list: a malformed answer is a transient failure, not an empty cloud", async (t) => {
  const { provider } = openstack();
  keystone(START);
  nova()
    .get(`${NOVA_PATH}/servers/detail`)
    .query(true)
    .reply(200, { servers: [{ id: 7 }] });
  const error = await t.throwsAsync(provider.list(), { instanceOf: ProviderError });
  t.is(error?.kind, "transient");
  t.regex(error?.message ?? "", /unexpected answer/);
});

test("a Nova status that is a name every object has (constructor, toString) is an unknown one: running", (t) => {
  // Found by test/fuzz: STATUS_BY_NOVA was indexed through the prototype, giving Object.
  const { provider } = openstack();
  for (const status of ["constructor", "__proto__", "toString"]) {
    const server = { id: "9168b536", name: `${POOL}-${CLOUD}-9168b536`, status };
    t.is(provider.toInstance(server).status, "running");
  }
});

test.serial("list: a page of 130 k servers is read without overflowing the stack", async (t) => {
  // Found by test/fuzz: the items of a page were appended with push(...items).
  const servers = Array.from({ length: 130_000 }, (_, i) => ({
    id: `s${i}`,
    name: "",
    status: "",
  }));
  const send: Send = async (request) =>
    request.url.endsWith(TOKENS_PATH)
      ? {
          status: 201,
          headers: { "x-subject-token": SAMPLE_TOKEN },
          body: JSON.stringify(tokenBody(START)),
        }
      : { status: 200, headers: {}, body: JSON.stringify({ servers }) };
  const { provider } = openstack({ send });
  t.deepEqual(await provider.list(), [], "none of them is ours");
});

// ---- terminate ----

test.serial("terminate: DELETE each server; 404 counts as done", async (t) => {
  const { provider } = openstack();
  keystone(START);
  nova()
    .delete(`${NOVA_PATH}/servers/a1`)
    .matchHeader("openstack-api-version", "compute 2.79")
    .reply(204)
    .delete(`${NOVA_PATH}/servers/a2`)
    .reply(404, fixture("nova-error_404_itemNotFound_api-guide.json"));
  const result = await provider.terminate(["a1", "a2"]);
  t.deepEqual([...result.terminated].sort(), ["a1", "a2"]);
  t.is(result.error, undefined);
  allDone(t);
});

test.serial("terminate: a failure is reported with the ids that did go", async (t) => {
  const { provider } = openstack({ provider: { concurrency: 1 } });
  keystone(START);
  nova()
    .delete(`${NOVA_PATH}/servers/a1`)
    .reply(204)
    .delete(`${NOVA_PATH}/servers/a2`)
    .reply(503, "<html><body><h1>503 Service Unavailable</h1></body></html>")
    .get(`${NOVA_PATH}/servers/a2`)
    .reply(200, { server: { id: "a2", status: "ACTIVE", "OS-EXT-STS:task_state": null } });
  const result = await provider.terminate(["a1", "a2", "a3"]);
  t.deepEqual(result.terminated, ["a1"]);
  t.is(result.error?.kind, "transient");
  t.regex(result.error?.message ?? "", /HTTP 503: 503 Service Unavailable/);
  allDone(t);
});

test.serial(
  "terminate: a 500 after which the server is gone counts as done (the delete went through)",
  async (t) => {
    const { provider } = openstack({ provider: { concurrency: 1 } });
    keystone(START);
    nova()
      .delete(`${NOVA_PATH}/servers/a1`)
      .reply(500, { computeFault: { code: 500, message: "Unexpected API Error." } })
      .get(`${NOVA_PATH}/servers/a1`)
      .reply(404, fixture("nova-error_404_itemNotFound_api-guide.json"))
      .delete(`${NOVA_PATH}/servers/a2`)
      .reply(500, { computeFault: { code: 500, message: "Unexpected API Error." } })
      .get(`${NOVA_PATH}/servers/a2`)
      .reply(200, { server: { id: "a2", status: "ACTIVE", "OS-EXT-STS:task_state": "deleting" } });
    const result = await provider.terminate(["a1", "a2"]);
    t.deepEqual(result.terminated, ["a1", "a2"]);
    t.is(result.error, undefined);
    allDone(t);
  },
);

// ---- headroom ----

function limits(absolute: Record<string, number>): Record<string, unknown> {
  const sample = fixture("nova_limits_limit-get-resp.json") as {
    limits: { absolute: Record<string, number> };
  };
  Object.assign(sample.limits.absolute, absolute);
  return sample;
}

test.serial("headroom: max − used from GET /limits (the sample: nothing used)", async (t) => {
  const { provider } = openstack();
  keystone(START);
  nova().get(`${NOVA_PATH}/limits`).reply(200, fixture("nova_limits_v2.57_limit-get-resp.json"));
  t.deepEqual(await provider.headroom(), { instances: 10, cpus: 20, memoryMb: 51200 });
});

test.serial(
  "headroom: usage of the whole project is subtracted; −1 is unlimited; never below 0",
  async (t) => {
    const { provider } = openstack();
    keystone(START);
    nova()
      .get(`${NOVA_PATH}/limits`)
      .reply(
        200,
        limits({
          maxTotalInstances: -1,
          totalInstancesUsed: 7,
          maxTotalCores: 20,
          totalCoresUsed: 24,
          maxTotalRAMSize: 51200,
          totalRAMUsed: 16384,
        }),
      );
    t.deepEqual(await provider.headroom(), { cpus: 0, memoryMb: 34816 });
  },
);

test.serial("headroom: cached for the limits interval, and dropped after a launch", async (t) => {
  const { provider, clock } = openstack();
  keystone(START);
  nova()
    .get(`${NOVA_PATH}/limits`)
    .reply(200, limits({ totalInstancesUsed: 3 }));
  t.is((await provider.headroom()).instances, 7);
  clock.advance(OPENSTACK_LIMITS_CACHE - 1);
  t.is((await provider.headroom()).instances, 7, "cached: no second request");
  allDone(t);
  clock.advance(1);
  nova()
    .get(`${NOVA_PATH}/limits`)
    .reply(200, limits({ totalInstancesUsed: 4 }));
  t.is((await provider.headroom()).instances, 6);

  lookups();
  nova().post(`${NOVA_PATH}/servers`).reply(202, createAnswer(1));
  await provider.launch({ count: 1, avoid: [] });
  nova()
    .get(`${NOVA_PATH}/limits`)
    .reply(200, limits({ totalInstancesUsed: 5 }));
  t.is((await provider.headroom()).instances, 5, "asked again after our own launch");
  allDone(t);
});

// ---- transport faults ----

test.serial("a call that takes longer than the request timeout is transient", async (t) => {
  const { provider } = openstack({ requestTimeoutMs: 100 });
  keystone(START);
  nova().get(`${NOVA_PATH}/limits`).delay(500).reply(200, limits({}));
  const error = await t.throwsAsync(provider.headroom(), { instanceOf: ProviderError });
  t.is(error?.kind, "transient");
  t.regex(error?.message ?? "", /nova GET \/limits: ETIMEDOUT/);
});

test.serial("a reset connection is transient", async (t) => {
  const { provider } = openstack();
  keystone(START);
  nova()
    .get(`${NOVA_PATH}/servers/detail`)
    .query(true)
    .replyWithError(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
  const error = await t.throwsAsync(provider.list(), { instanceOf: ProviderError });
  t.is(error?.kind, "transient");
  t.regex(error?.message ?? "", /ECONNRESET/);
});

test.serial("Glance answering the image lookup with 5xx is transient for the launch", async (t) => {
  const { provider } = openstack();
  keystone(START);
  nova()
    .get(`${NOVA_PATH}/flavors/detail`)
    .query(true)
    .reply(200, fixture("nova_flavors_flavors-detail-resp.json"));
  nock(GLANCE_HOST).get("/v2/images").query(true).reply(502, "Bad Gateway");
  const result = await provider.launch({ count: 1, avoid: [] });
  t.is(result.error?.kind, "transient");
});
