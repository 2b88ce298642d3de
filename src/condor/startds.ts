/**
 * Workers as HTCondor sees them: startd slot ads grouped per machine.
 *
 * A machine is idle only when every slot is Unclaimed/Idle and no partitionable slot has dynamic
 * slots left; any busy slot, or any slot ad that cannot be read, makes it busy. Idle time is read
 * on the worker's own clock (MyCurrentTime − EnteredCurrentActivity), so clock skew with the head
 * node does not matter. A partitionable slot stays Unclaimed/Idle while its dynamic slots run: its
 * idle time starts when the last of them went, which the startd stamps as NumDynamicSlotsTime (the
 * default SYSTEM_STARTD_LATCH_EXPRS). A startd that does not publish it is timed from when this
 * daemon first saw the machine idle: a restart can only make a worker look idle for less time,
 * never more.
 */
import type { StartdMachine } from "../model/snapshot.js";
import { type ClassAd, numberValue, textValue } from "./classads.js";

export const STARTD_ATTRIBUTES = [
  "MyType",
  "Name",
  "Machine",
  "State",
  "Activity",
  "EnteredCurrentState",
  "EnteredCurrentActivity",
  "MyCurrentTime",
  "PartitionableSlot",
  "DynamicSlot",
  "NumDynamicSlots",
  "NumDynamicSlotsTime",
  "TotalSlotCpus",
  "Cpus",
  "Memory",
  "StartdIpAddr",
  "AutoscalerInstanceId",
  "AutoscalerCloud",
  "AutoscalerPool",
] as const;

/** The startd's own name: a slot's Name without its `slotN@` / `slotN_M@` prefix. */
export function startdName(slotName: string): string {
  const at = slotName.indexOf("@");
  if (at < 5 || !slotName.startsWith("slot")) return slotName;
  return /^slot\d+(?:_\d+)?$/.test(slotName.slice(0, at)) ? slotName.slice(at + 1) : slotName;
}

/** The host of a sinful string such as `<10.0.0.5:9618?addrs=...>` or `<[2001:db8::5]:9618>`. */
export function sinfulHost(sinful: string): string | undefined {
  const match = /^<(?:\[([^\]>]+)\]|([^:[\]>?]+)):\d+/.exec(sinful);
  return match?.[1] ?? match?.[2];
}

/** One machine while its slots are read. */
interface Accumulator {
  key: string;
  machine: StartdMachine;
  /** Every slot so far is readable, Unclaimed/Idle and has no dynamic slots. */
  idle: boolean;
  /** Every idle slot so far carried both timestamps. */
  clocked: boolean;
  /** Shortest idle time of its slots on the worker's clock. */
  idleSeconds: number;
}

function newMachine(
  ad: ClassAd,
  key: string,
  name: string | undefined,
  instanceId: string | undefined,
): Accumulator {
  const host = textValue(ad.Machine);
  const machine: StartdMachine = {
    name: name ?? host ?? key,
    machine: host ?? name ?? key,
    activity: "busy",
  };
  const sinful = textValue(ad.StartdIpAddr);
  const address = sinful === undefined ? undefined : sinfulHost(sinful);
  if (address !== undefined) machine.address = address;
  if (instanceId !== undefined) machine.instanceId = instanceId;
  const cloud = textValue(ad.AutoscalerCloud);
  if (cloud !== undefined) machine.cloud = cloud;
  const pool = textValue(ad.AutoscalerPool);
  if (pool !== undefined) machine.pool = pool;
  return {
    key,
    machine,
    idle: true,
    clocked: true,
    idleSeconds: Number.POSITIVE_INFINITY,
  };
}

/** Folds one slot into its machine; anything unreadable makes the machine busy. */
function addSlot(into: Accumulator, ad: ClassAd): void {
  const partitionable = ad.PartitionableSlot === true;
  if (!into.idle) return;
  const state = textValue(ad.State);
  const activity = textValue(ad.Activity);
  // Only the partitionable slot's own count says whether it has dynamic slots left.
  const children = partitionable ? numberValue(ad.NumDynamicSlots) : 0;
  if (state !== "Unclaimed" || activity !== "Idle" || ad.DynamicSlot === true || children !== 0) {
    into.idle = false;
    return;
  }
  const clock = numberValue(ad.MyCurrentTime);
  const since = numberValue(partitionable ? ad.NumDynamicSlotsTime : ad.EnteredCurrentActivity);
  if (clock === undefined || since === undefined) into.clocked = false;
  else into.idleSeconds = Math.min(into.idleSeconds, Math.max(0, clock - since));
}

export interface GroupedMachines {
  machines: StartdMachine[];
  /** First time each idle machine was seen idle (epoch seconds), for the next call. */
  firstSeenIdle: Map<string, number>;
  /** Slot ads with neither an instance id, a Name nor a Machine: nothing to join them to. */
  unattributed: number;
}

/**
 * Groups slot ads into machines, in one pass: by the instance id a machine advertises, else by
 * its startd's name. `now` is the head node's time, used only for the first-seen-idle fallback;
 * `firstSeenIdle` is what the previous call returned.
 */
export function groupMachines(
  ads: readonly ClassAd[],
  now: number,
  firstSeenIdle: ReadonlyMap<string, number>,
): GroupedMachines {
  const byInstance = new Map<string, Accumulator>();
  const byName = new Map<string, Accumulator>();
  let unattributed = 0;
  for (const ad of ads) {
    // A startd's own daemon ad is not a slot.
    if (ad.MyType === "StartD") continue;
    const instanceId = textValue(ad.AutoscalerInstanceId);
    const slotName = textValue(ad.Name);
    if (instanceId !== undefined) {
      let machine = byInstance.get(instanceId);
      if (machine === undefined) {
        machine = newMachine(
          ad,
          `id:${instanceId}`,
          slotName === undefined ? undefined : startdName(slotName),
          instanceId,
        );
        byInstance.set(instanceId, machine);
      }
      addSlot(machine, ad);
      continue;
    }
    const name = slotName === undefined ? textValue(ad.Machine) : startdName(slotName);
    if (name === undefined) {
      unattributed += 1;
      continue;
    }
    let machine = byName.get(name);
    if (machine === undefined) {
      machine = newMachine(ad, `name:${name}`, name, undefined);
      byName.set(name, machine);
    }
    addSlot(machine, ad);
  }

  const machines: StartdMachine[] = [];
  const seen = new Map<string, number>();
  for (const group of [byInstance, byName]) {
    for (const { key, machine, idle, clocked, idleSeconds } of group.values()) {
      if (idle) {
        machine.activity = "idle";
        const since = firstSeenIdle.get(key) ?? now;
        seen.set(key, since);
        machine.idleSeconds = clocked ? idleSeconds : Math.max(0, now - since);
      }
      machines.push(machine);
    }
  }
  return { machines, firstSeenIdle: seen, unattributed };
}
