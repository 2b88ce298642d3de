/**
 * Workers as HTCondor sees them: startd slot ads grouped per machine.
 *
 * A machine is idle only when every slot is Unclaimed/Idle and no partitionable slot has dynamic
 * slots left; any busy slot, or any slot ad that cannot be read, makes it busy. Idle time is read
 * on the worker's own clock (MyCurrentTime − EnteredCurrentActivity), so clock skew with the head
 * node does not matter. A partitionable slot's timestamps do not move when its last job leaves, so
 * there the time this daemon first saw the machine idle is used: a restart can only make a worker
 * look idle for less time, never more.
 */
import type { StartdMachine } from "../model/snapshot.js";
import { booleanAttr, type ClassAd, numberAttr, stringAttr } from "./classads.js";

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
  const match = /^slot\d+(?:_\d+)?@(.+)$/.exec(slotName);
  return match?.[1] ?? slotName;
}

/** The host of a sinful string such as `<10.0.0.5:9618?addrs=...>` or `<[2001:db8::5]:9618>`. */
export function sinfulHost(sinful: string): string | undefined {
  const match = /^<(?:\[([^\]>]+)\]|([^:[\]>?]+)):\d+/.exec(sinful);
  return match?.[1] ?? match?.[2];
}

interface SlotView {
  /** Unclaimed/Idle with no dynamic children; undefined when the ad cannot tell. */
  idle: boolean | undefined;
  partitionable: boolean;
  /** Seconds idle on the worker's clock, when the slot's timestamps say. */
  idleSeconds?: number;
}

function slotView(ad: ClassAd): SlotView {
  const state = stringAttr(ad, "State");
  const activity = stringAttr(ad, "Activity");
  const partitionable = booleanAttr(ad, "PartitionableSlot") === true;
  if (state === undefined || activity === undefined) return { idle: undefined, partitionable };
  const dynamic = booleanAttr(ad, "DynamicSlot") === true;
  const children = numberAttr(ad, "NumDynamicSlots");
  // Only the partitionable slot's own count says whether it has dynamic slots left.
  if (partitionable && children === undefined) return { idle: undefined, partitionable };
  const idle = state === "Unclaimed" && activity === "Idle" && !dynamic && (children ?? 0) === 0;
  const view: SlotView = { idle, partitionable };
  const clock = numberAttr(ad, "MyCurrentTime");
  const since = numberAttr(ad, "EnteredCurrentActivity");
  if (idle && clock !== undefined && since !== undefined)
    view.idleSeconds = Math.max(0, clock - since);
  return view;
}

/** Which machine a slot belongs to: the instance it says it is, else its startd's name. */
function machineKey(ad: ClassAd): string | undefined {
  const instance = stringAttr(ad, "AutoscalerInstanceId");
  if (instance !== undefined) return `id:${instance}`;
  const name = stringAttr(ad, "Name");
  if (name !== undefined) return `name:${startdName(name)}`;
  const machine = stringAttr(ad, "Machine");
  return machine === undefined ? undefined : `name:${machine}`;
}

export interface GroupedMachines {
  machines: StartdMachine[];
  /** First time each idle machine was seen idle (epoch seconds), for the next call. */
  firstSeenIdle: Map<string, number>;
  /** Slot ads with neither an instance id, a Name nor a Machine: nothing to join them to. */
  unattributed: number;
}

/**
 * Groups slot ads into machines. `now` is the head node's time, used only for the first-seen-idle
 * fallback; `firstSeenIdle` is what the previous call returned.
 */
export function groupMachines(
  ads: readonly ClassAd[],
  now: number,
  firstSeenIdle: ReadonlyMap<string, number>,
): GroupedMachines {
  const groups = new Map<string, ClassAd[]>();
  let unattributed = 0;
  for (const ad of ads) {
    // A startd's own daemon ad is not a slot.
    if (stringAttr(ad, "MyType") === "StartD") continue;
    const key = machineKey(ad);
    if (key === undefined) {
      unattributed += 1;
      continue;
    }
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [ad]);
    else group.push(ad);
  }

  const machines: StartdMachine[] = [];
  const seen = new Map<string, number>();
  for (const [key, slots] of groups) {
    const first = slots[0] ?? {};
    const name = stringAttr(first, "Name");
    const host = stringAttr(first, "Machine");
    const machine: StartdMachine = {
      name: name === undefined ? (host ?? key) : startdName(name),
      machine: host ?? (name === undefined ? key : startdName(name)),
      activity: "busy",
    };
    const sinful = stringAttr(first, "StartdIpAddr");
    const address = sinful === undefined ? undefined : sinfulHost(sinful);
    if (address !== undefined) machine.address = address;
    const instanceId = stringAttr(first, "AutoscalerInstanceId");
    if (instanceId !== undefined) machine.instanceId = instanceId;
    const cloud = stringAttr(first, "AutoscalerCloud");
    if (cloud !== undefined) machine.cloud = cloud;
    const pool = stringAttr(first, "AutoscalerPool");
    if (pool !== undefined) machine.pool = pool;

    const views = slots.map(slotView);
    if (views.every((view) => view.idle === true)) {
      machine.activity = "idle";
      const since = firstSeenIdle.get(key) ?? now;
      seen.set(key, since);
      const clocked = views.map((view) => view.idleSeconds);
      const partitionable = views.some((view) => view.partitionable);
      if (!partitionable && clocked.every((seconds) => seconds !== undefined)) {
        machine.idleSeconds = Math.min(...(clocked as number[]));
      } else {
        machine.idleSeconds = Math.max(0, now - since);
      }
    }
    machines.push(machine);
  }
  return { machines, firstSeenIdle: seen, unattributed };
}
