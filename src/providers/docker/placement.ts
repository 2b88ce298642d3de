/** How many more containers of a worker shape each Docker host takes, and where new ones go. */
import type { WorkerShape } from "../../model/policy.js";

export interface HostLoad {
  host: string;
  /** From the engine (GET /info). */
  cpus: number;
  memoryMb: number;
  /** What our containers on the host reserve, and how many there are. */
  reservedCpus: number;
  reservedMemoryMb: number;
  containers: number;
  maxContainers?: number;
}

export interface HostRoom {
  host: string;
  /** Containers of the shape that still fit. */
  fits: number;
  freeCpus: number;
  freeMemoryMb: number;
}

export function roomOn(load: HostLoad, shape: WorkerShape): HostRoom {
  const freeCpus = Math.max(0, load.cpus - load.reservedCpus);
  const freeMemoryMb = Math.max(0, load.memoryMb - load.reservedMemoryMb);
  let fits = Math.min(Math.floor(freeCpus / shape.cpus), Math.floor(freeMemoryMb / shape.memoryMb));
  if (load.maxContainers !== undefined)
    fits = Math.min(fits, Math.max(0, load.maxContainers - load.containers));
  return { host: load.host, fits, freeCpus, freeMemoryMb };
}

/**
 * One host per new container, at most `count`: each goes to the host with the most room left
 * (ties by name), so a launch spreads over hosts instead of filling the first.
 */
export function spread(rooms: readonly HostRoom[], count: number): string[] {
  const left = new Map(rooms.map((room) => [room.host, room.fits]));
  const chosen: string[] = [];
  while (chosen.length < count) {
    let best: string | undefined;
    let bestFits = 0;
    for (const [host, fits] of left) {
      if (fits > bestFits || (fits === bestFits && fits > 0 && best !== undefined && host < best)) {
        best = host;
        bestFits = fits;
      }
    }
    if (best === undefined) break;
    chosen.push(best);
    left.set(best, bestFits - 1);
  }
  return chosen;
}
