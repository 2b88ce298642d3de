/**
 * Joins our instances with the startd machines HTCondor shows: by the instance id the worker
 * advertises, else by private IP, else by host name. Machines that match no instance of ours are
 * not ours and are ignored.
 */
import type { Instance, OrphanAds, StartdMachine, Worker } from "../model/snapshot.js";

function shortName(host: string): string {
  const dot = host.indexOf(".");
  return (dot < 0 ? host : host.slice(0, dot)).toLowerCase();
}

export function joinWorkers(
  instances: readonly Instance[],
  machines: readonly StartdMachine[],
): Worker[] {
  const byInstanceId = new Map<string, StartdMachine>();
  const byAddress = new Map<string, StartdMachine>();
  const byHost = new Map<string, StartdMachine>();
  for (const machine of machines) {
    // A machine that says which instance it is matches that instance only: private networks of
    // two clouds may well hand out the same address.
    if (machine.instanceId !== undefined) {
      byInstanceId.set(machine.instanceId, machine);
      continue;
    }
    if (machine.address !== undefined) byAddress.set(machine.address, machine);
    byHost.set(shortName(machine.machine), machine);
  }

  return instances.map((instance) => {
    const worker: Worker = {
      cloud: instance.cloud,
      instanceId: instance.id,
      name: instance.name,
      state: "booting",
      launchedAt: instance.launchedAt,
    };
    if (instance.address !== undefined) worker.address = instance.address;
    if (instance.image !== undefined) worker.image = instance.image;
    if (instance.fault !== undefined) worker.fault = instance.fault;
    if (instance.launchToken !== undefined) worker.launchToken = instance.launchToken;
    if (instance.status === "failed" || instance.status === "gone") {
      worker.state = instance.status;
      return worker;
    }
    const machine =
      byInstanceId.get(instance.id) ??
      (instance.address === undefined ? undefined : byAddress.get(instance.address)) ??
      byHost.get(shortName(instance.hostname ?? instance.name));
    if (machine !== undefined) {
      worker.startd = machine.name;
      worker.state = machine.activity;
      if (machine.activity === "idle") worker.idleSeconds = machine.idleSeconds ?? 0;
    }
    return worker;
  });
}

/**
 * Machines of this pool that name an instance of a cloud listed without error this tick, which
 * that listing does not have (or has as gone). Only machines that advertise their instance id and
 * pool count: a guess by address or name is no ground to remove anything.
 */
export function orphanAds(
  instances: readonly Instance[],
  machines: readonly StartdMachine[],
  pool: string,
  listedClouds: ReadonlySet<string>,
): OrphanAds[] {
  const alive = new Set(
    instances.filter((instance) => instance.status !== "gone").map((instance) => instance.id),
  );
  const orphans: OrphanAds[] = [];
  for (const machine of machines) {
    const { instanceId, cloud } = machine;
    if (instanceId === undefined || cloud === undefined || machine.pool !== pool) continue;
    if (listedClouds.has(cloud) && !alive.has(instanceId))
      orphans.push({ cloud, instanceId, startd: machine.name });
  }
  return orphans;
}
