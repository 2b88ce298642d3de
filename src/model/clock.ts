/** Time as the daemon sees it, in epoch seconds. Tests and the simulator substitute their own. */
export interface Clock {
  now(): number;
}

export const wallClock: Clock = { now: () => Date.now() / 1000 };
