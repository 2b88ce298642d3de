/**
 * The Docker provider's list against an engine on 127.0.0.1 that answers GET /info and
 * GET /containers/json as the Engine API documents them, with what the fuzz suite (test/fuzz)
 * found the provider could not take.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { DockerProvider } from "../../src/providers/docker/docker.js";
import { dockerProviderSchema } from "../../src/providers/docker/schema.js";
import { ManualClock } from "../../src/sim/clock.js";
import { memoryLog } from "../tick/support.js";
import { START } from "./settings.js";

/** A read-only provider of cloud "alpha" on an engine whose GET /containers/json is `containers`. */
async function providerListing(
  t: ExecutionContext,
  containers: unknown[],
): Promise<DockerProvider> {
  const body = JSON.stringify(containers);
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const path = (request.url ?? "").split("?")[0];
      response.writeHead(200, { "content-type": "application/json", connection: "close" });
      response.end(path === "/info" ? JSON.stringify({ NCPU: 8, MemTotal: 2 ** 34 }) : body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const workDir = await mkdtemp(join(tmpdir(), "condor-autoscaler-docker-list-"));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(workDir, { recursive: true, force: true });
  });
  const { port } = server.address() as AddressInfo;
  const settings = dockerProviderSchema.parse({
    kind: "docker",
    hosts: [{ url: `tcp://127.0.0.1:${port}`, name: "h1" }],
    image: "pilot:1",
    workDir,
  });
  return new DockerProvider(
    settings,
    {
      pool: "test",
      cloud: "alpha",
      shape: { cpus: 1, memoryMb: 1000, gpus: 0 },
      clock: new ManualClock(START),
      log: memoryLog().log,
      readOnly: true,
      userData: async () => undefined,
    },
    { env: {} },
  );
}

function container(name: string, state: string): Record<string, unknown> {
  return {
    Names: [`/${name}`],
    Created: START - 60,
    State: state,
    Labels: { "condor-autoscaler:pool": "test", "condor-autoscaler:cloud": "alpha" },
  };
}

test("list reads an engine's 130 k containers of ours without overflowing the stack", async (t) => {
  // Found by test/fuzz: each host's instances were appended with push(...seen).
  const containers = Array.from({ length: 130_000 }, (_, i) =>
    container(`test-alpha-${i}`, "running"),
  );
  const instances = await (await providerListing(t, containers)).list();
  t.is(instances.length, 130_000);
  t.like(instances[0], { id: "test-alpha-0", status: "running" });
});

test("a container state that is a name every object has (constructor, toString) is an unknown one", async (t) => {
  // Found by test/fuzz: STATUS_BY_STATE was indexed through the prototype, giving Object.
  const states = ["constructor", "__proto__", "toString"];
  const provider = await providerListing(
    t,
    states.map((state, i) => container(`test-alpha-${i}`, state)),
  );
  t.deepEqual(
    (await provider.list()).map((instance) => instance.status),
    ["booting", "booting", "booting"],
  );
});
