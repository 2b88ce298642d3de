/** Clocks for simulated pools. */
import type { Clock } from "../model/clock.js";

/** Wall time sped up `speed` times from the moment it is made (the demo's clock). */
export class AcceleratedClock implements Clock {
  private readonly realStart = performance.now();
  constructor(
    private readonly speed: number,
    private readonly start: number = Date.now() / 1000,
  ) {}

  now(): number {
    return this.start + ((performance.now() - this.realStart) / 1000) * this.speed;
  }
}

/** A clock that moves only when told to (tests, the discrete-event simulator). */
export class ManualClock implements Clock {
  constructor(private time: number) {}

  now(): number {
    return this.time;
  }

  advance(seconds: number): void {
    this.time += seconds;
  }

  set(time: number): void {
    this.time = time;
  }
}
