/** Joining our instances with the startd machines HTCondor shows. */
import test from "ava";
import type { Instance, StartdMachine } from "../../src/model/snapshot.js";
import { joinWorkers } from "../../src/tick/join.js";
import { START } from "../providers/settings.js";

function instance(id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    cloud: "alpha",
    name: `test-alpha-${id}`,
    status: "running",
    launchedAt: START - 600,
    ...overrides,
  };
}

function machine(name: string, overrides: Partial<StartdMachine> = {}): StartdMachine {
  return { name, machine: name, activity: "busy", ...overrides };
}

test("an instance is matched to the machine advertising its instance id", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1", { address: "10.0.0.1" })],
    [machine("elsewhere.example.org", { instanceId: "i-1", activity: "idle", idleSeconds: 42 })],
  );
  t.like(worker, { instanceId: "i-1", state: "idle", idleSeconds: 42 });
});

test("the advertised instance id wins over a matching address or host name", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1", { address: "10.0.0.1", hostname: "node1" })],
    [
      machine("node1", { activity: "busy" }),
      machine("other", { address: "10.0.0.1", activity: "busy" }),
      machine("third", { instanceId: "i-1", activity: "idle", idleSeconds: 7 }),
    ],
  );
  t.like(worker, { state: "idle", idleSeconds: 7 });
});

test("with no advertised instance id an instance is matched by address", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1", { address: "10.0.0.9" })],
    [machine("unrelated-name", { address: "10.0.0.9", activity: "idle", idleSeconds: 300 })],
  );
  t.like(worker, { state: "idle", idleSeconds: 300 });
});

test("the address wins over a matching host name", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1", { address: "10.0.0.9", hostname: "node1" })],
    [
      machine("node1", { activity: "busy" }),
      machine("node2", { address: "10.0.0.9", activity: "idle", idleSeconds: 5 }),
    ],
  );
  t.like(worker, { state: "idle", idleSeconds: 5 });
});

test("with neither id nor address an instance is matched by its host name", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1", { address: "10.0.0.1", hostname: "node1" })],
    [machine("node1", { address: "192.168.1.1", activity: "idle", idleSeconds: 60 })],
  );
  t.like(worker, { state: "idle", idleSeconds: 60 });
});

test("host names match on the short name, ignoring the domain and case", (t) => {
  const workers = joinWorkers(
    [
      instance("i-1", { hostname: "Node1.cloud.internal" }),
      instance("i-2", { hostname: "node2" }),
      instance("i-3", { hostname: "NODE3" }),
    ],
    [
      machine("node1.example.org", { activity: "idle", idleSeconds: 1 }),
      machine("NODE2.Example.Org", { activity: "idle", idleSeconds: 2 }),
      machine("node3", { activity: "idle", idleSeconds: 3 }),
    ],
  );
  t.deepEqual(
    workers.map((w) => [w.state, w.idleSeconds]),
    [
      ["idle", 1],
      ["idle", 2],
      ["idle", 3],
    ],
  );
});

test("an instance with no host name is matched by its name", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1", { name: "test-alpha-0001" })],
    [machine("test-alpha-0001.cern.ch", { activity: "busy" })],
  );
  t.is(worker?.state, "busy");
});

test("machines that match no instance are not ours and are ignored", (t) => {
  const workers = joinWorkers(
    [instance("i-1", { address: "10.0.0.1" })],
    [
      machine("static-node", { address: "10.9.9.9", activity: "idle", idleSeconds: 99_999 }),
      machine("other-pool", { instanceId: "i-999", activity: "idle", idleSeconds: 99_999 }),
    ],
  );
  t.is(workers.length, 1);
  t.like(workers[0], { instanceId: "i-1", state: "booting" });
  t.is(workers[0]?.idleSeconds, undefined);
});

test("no instances give no workers, whatever machines there are", (t) => {
  t.deepEqual(joinWorkers([], [machine("static", { activity: "idle", idleSeconds: 1 })]), []);
});

test("an instance with no machine yet is booting, whatever the cloud says", (t) => {
  const workers = joinWorkers(
    [instance("i-1", { status: "booting" }), instance("i-2", { status: "running" })],
    [],
  );
  t.deepEqual(
    workers.map((w) => w.state),
    ["booting", "booting"],
  );
});

test("an instance the cloud still calls booting is busy once its startd runs a job", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1", { status: "booting" })],
    [machine("x", { instanceId: "i-1", activity: "busy" })],
  );
  t.is(worker?.state, "busy");
});

test("failed and gone instances keep that state even when a machine matches", (t) => {
  const fault = { message: "hypervisor lost", kind: "capacity" as const };
  const workers = joinWorkers(
    [instance("i-1", { status: "failed", fault }), instance("i-2", { status: "gone" })],
    [
      machine("a", { instanceId: "i-1", activity: "idle", idleSeconds: 10 }),
      machine("b", { instanceId: "i-2", activity: "busy" }),
    ],
  );
  t.deepEqual(
    workers.map((w) => w.state),
    ["failed", "gone"],
  );
  t.deepEqual(workers[0]?.fault, fault);
  t.is(workers[0]?.idleSeconds, undefined);
});

test("an idle machine gives idleSeconds; a busy one gives none", (t) => {
  const workers = joinWorkers(
    [instance("i-1"), instance("i-2")],
    [
      machine("a", { instanceId: "i-1", activity: "idle", idleSeconds: 1234 }),
      machine("b", { instanceId: "i-2", activity: "busy" }),
    ],
  );
  t.is(workers[0]?.idleSeconds, 1234);
  t.is(workers[1]?.state, "busy");
  t.false(workers[1] !== undefined && "idleSeconds" in workers[1]);
});

test("an idle machine that does not say for how long is idle for 0 s, never for long", (t) => {
  const [worker] = joinWorkers(
    [instance("i-1")],
    [machine("a", { instanceId: "i-1", activity: "idle" })],
  );
  t.like(worker, { state: "idle", idleSeconds: 0 });
});

test("a worker carries its instance's cloud, name, launch time, address and image", (t) => {
  const [worker] = joinWorkers(
    [
      instance("i-1", {
        cloud: "beta",
        name: "test-beta-1",
        address: "10.0.0.1",
        image: "cernvm-4",
        launchedAt: START - 5,
      }),
    ],
    [],
  );
  t.deepEqual(worker, {
    cloud: "beta",
    instanceId: "i-1",
    name: "test-beta-1",
    state: "booting",
    launchedAt: START - 5,
    address: "10.0.0.1",
    image: "cernvm-4",
  });
});

test("workers come out in the order of the instances, one per instance", (t) => {
  const ids = ["i-3", "i-1", "i-2"];
  const workers = joinWorkers(
    ids.map((id) => instance(id)),
    [machine("m", { instanceId: "i-1", activity: "busy" })],
  );
  t.deepEqual(
    workers.map((w) => w.instanceId),
    ids,
  );
});

// Two clouds' private networks can hand out the same IP: a worker that says which instance it is
// must not lend its state (and idle time) to a booting instance of the other cloud.
test("a machine advertising another instance's id is not matched to an instance by address", (t) => {
  const workers = joinWorkers(
    [
      instance("a-1", { cloud: "alpha", address: "10.0.0.5" }),
      instance("b-1", { cloud: "beta", address: "10.0.0.5", status: "booting" }),
    ],
    [
      machine("test-alpha-a-1", {
        instanceId: "a-1",
        cloud: "alpha",
        address: "10.0.0.5",
        activity: "idle",
        idleSeconds: 3600,
      }),
    ],
  );
  t.like(workers[0], { instanceId: "a-1", state: "idle", idleSeconds: 3600 });
  t.like(workers[1], { instanceId: "b-1", state: "booting" });
  t.is(workers[1]?.idleSeconds, undefined);
});
