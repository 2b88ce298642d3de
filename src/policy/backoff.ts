/**
 * Backoff and slow start, as pure functions of memory, outcomes and time.
 *
 * quota/capacity: exponential backoff with jitter up to a cap; then a probe of one worker, and
 *   batches double with each full success (slow start).
 * throttled: wait at least the Retry-After the cloud gave.
 * auth/config: the cloud is disabled until the configuration is reloaded.
 * transient: a short exponential backoff.
 * A launch that gets everything it asked for resets the cloud's backoff.
 */
import { formatDuration } from "../config/duration.js";
import type { ErrorKind } from "../model/errors.js";
import type { Backoff, CloudMemory, Memory } from "../model/memory.js";
import type { BackoffPolicy, CloudPolicy } from "../model/policy.js";
import type { Worker } from "../model/snapshot.js";

/** What a launch or terminate call came to, as memory needs it. */
export interface CallOutcome {
  cloud: string;
  operation: "launch" | "terminate";
  requested: number;
  succeeded: number;
  /** For terminate: the ids now gone; for launch: the ids created. */
  instanceIds?: string[];
  error?: OutcomeError;
  /** Scopes that said no while others were tried: each backs off on its own. */
  scopeErrors?: OutcomeError[];
  /** No call was made (every scope already backing off): nothing to learn from it. */
  skipped?: boolean;
}

export interface OutcomeError {
  kind: ErrorKind;
  message: string;
  retryAfterSeconds?: number;
  scope?: string;
}

export function cloudMemory(memory: Memory, cloud: string): CloudMemory {
  return memory.clouds[cloud] ?? { scoped: {} };
}

/** The memory with `change` written into one cloud's part of it. */
export function withCloudMemory(
  memory: Memory,
  cloud: string,
  change: Partial<CloudMemory>,
): Memory {
  return {
    ...memory,
    clouds: { ...memory.clouds, [cloud]: { ...cloudMemory(memory, cloud), ...change } },
  };
}

/** Why launches into the cloud are held back now, or undefined when they are not. */
export function launchBlock(state: CloudMemory, now: number): string | undefined {
  if (state.disabled !== undefined) {
    return `disabled after ${state.disabled.kind} error until the config is reloaded: ${state.disabled.message}`;
  }
  const backoff = state.backoff;
  if (backoff !== undefined && backoff.until > now) {
    return `backing off after ${backoff.kind} (${formatDuration(backoff.until - now)} left): ${backoff.message}`;
  }
  return undefined;
}

/** Throttling applies to every call, terminations included. */
export function isThrottled(state: CloudMemory, now: number): boolean {
  return state.backoff?.kind === "throttled" && state.backoff.until > now;
}

/** Scopes (instance types, zones) still backing off. */
export function avoidedScopes(state: CloudMemory, now: number): string[] {
  return Object.entries(state.scoped)
    .filter(([, backoff]) => backoff.until > now)
    .map(([scope]) => scope)
    .sort();
}

/**
 * Delay of the n-th consecutive failure: base × 2^(n−1), capped, with "equal jitter" (between half
 * and all of it) so that many daemons do not retry in step. `random` is in [0, 1).
 */
export function backoffDelay(base: number, cap: number, failures: number, random: number): number {
  const exponential = Math.min(cap, base * 2 ** Math.max(0, failures - 1));
  return exponential / 2 + (exponential / 2) * random;
}

function nextBackoff(
  previous: Backoff | undefined,
  error: OutcomeError,
  policy: BackoffPolicy,
  now: number,
  random: number,
): Backoff {
  const failures = (previous?.failures ?? 0) + 1;
  let delay: number;
  switch (error.kind) {
    case "throttled":
      delay = Math.max(
        error.retryAfterSeconds ?? 0,
        backoffDelay(policy.transient, policy.max, failures, random),
      );
      break;
    case "transient":
      delay = backoffDelay(policy.transient, policy.max, failures, random);
      break;
    default:
      delay = backoffDelay(policy.initial, policy.max, failures, random);
  }
  const next: Backoff = { kind: error.kind, until: now + delay, failures, message: error.message };
  // A later answer never cuts short a backoff the cloud asked for earlier.
  if (previous !== undefined && previous.until > next.until) {
    return { ...previous, failures };
  }
  return next;
}

/** Memory after one call's outcome. Pure: `random` supplies the jitter. */
export function rememberOutcome(
  memory: Memory,
  outcome: CallOutcome,
  policy: CloudPolicy,
  now: number,
  random: () => number,
): Memory {
  // No success to grow on, and no failure of the cloud's to back off for.
  if (outcome.skipped === true) return memory;
  const state = cloudMemory(memory, outcome.cloud);
  const next: CloudMemory = { ...state, scoped: { ...state.scoped } };
  for (const scoped of outcome.scopeErrors ?? []) {
    if (scoped.scope === undefined) continue;
    next.scoped[scoped.scope] = nextBackoff(
      next.scoped[scoped.scope],
      scoped,
      policy.backoff,
      now,
      random(),
    );
  }
  const error = outcome.error;

  if (error === undefined) {
    if (outcome.operation === "launch" && outcome.succeeded >= outcome.requested) {
      delete next.backoff;
      if (next.batchLimit !== undefined) {
        const grown = next.batchLimit * 2;
        if (grown >= policy.maxLaunchPerTick) delete next.batchLimit;
        else next.batchLimit = grown;
      }
    }
    return { ...memory, clouds: { ...memory.clouds, [outcome.cloud]: next } };
  }

  // A failed termination says nothing about room for new workers; only throttling and rejected
  // credentials concern launches too.
  if (outcome.operation === "terminate" && error.kind !== "throttled" && error.kind !== "auth") {
    return memory;
  }

  switch (error.kind) {
    case "auth":
    case "config":
      next.disabled = { kind: error.kind, message: error.message, since: now };
      break;
    case "quota":
    case "capacity":
      if (error.scope !== undefined) {
        next.scoped[error.scope] = nextBackoff(
          next.scoped[error.scope],
          error,
          policy.backoff,
          now,
          random(),
        );
      } else {
        next.backoff = nextBackoff(next.backoff, error, policy.backoff, now, random());
        next.batchLimit = 1;
      }
      break;
    case "throttled":
    case "transient":
      next.backoff = nextBackoff(next.backoff, error, policy.backoff, now, random());
      break;
  }
  // Replaced, not merged: `next` may have dropped the backoff or the batch limit.
  return { ...memory, clouds: { ...memory.clouds, [outcome.cloud]: next } };
}

/**
 * Memory after what the clouds reported of our instances: an instance the cloud took back (a spot
 * instance reclaimed, a server failed for lack of room) is a quota/capacity answer for its scope,
 * counted once per instance.
 */
export function rememberFaults(
  memory: Memory,
  workers: readonly Worker[],
  policies: readonly CloudPolicy[],
  now: number,
  random: () => number,
): Memory {
  let next = memory;
  for (const policy of policies) {
    const mine = workers.filter((w) => w.cloud === policy.name);
    const seen = new Set(cloudMemory(next, policy.name).faultsSeen ?? []);
    const stillListed = new Set(mine.map((w) => w.instanceId));
    for (const worker of mine) {
      const fault = worker.fault;
      if (fault?.kind === undefined || seen.has(worker.instanceId)) continue;
      seen.add(worker.instanceId);
      next = rememberOutcome(
        next,
        {
          cloud: policy.name,
          operation: "launch",
          requested: 0,
          succeeded: 0,
          error: {
            kind: fault.kind,
            message: `${worker.instanceId}: ${fault.message}`,
            ...(fault.scope === undefined ? {} : { scope: fault.scope }),
          },
        },
        policy,
        now,
        random,
      );
    }
    const faultsSeen = [...seen].filter((id) => stillListed.has(id));
    const state = cloudMemory(next, policy.name);
    if (faultsSeen.length > 0 || state.faultsSeen !== undefined) {
      next = withCloudMemory(next, policy.name, { faultsSeen });
    }
  }
  return next;
}

/**
 * Memory after a configuration reload: disabled clouds get another chance, clouds no longer
 * configured are forgotten, backoff of the others is kept (the cloud's answer still stands).
 */
export function rememberReload(memory: Memory, clouds: readonly string[]): Memory {
  const next: Memory = { clouds: {} };
  for (const cloud of clouds) {
    const state = memory.clouds[cloud];
    if (state === undefined) continue;
    const { disabled: _disabled, ...rest } = state;
    next.clouds[cloud] = rest;
  }
  return next;
}
