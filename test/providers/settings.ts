/**
 * Settings of simulated clouds for tests, parsed through the real cloud schema so that every
 * field a policy file may leave out gets its real default.
 */
import { cloudPolicy } from "../../src/config/policies.js";
import { cloudSchema, type SimulatedProviderSettings } from "../../src/config/schema.js";
import type { CloudPolicy } from "../../src/model/policy.js";
import type { Random } from "../../src/random.js";

/** Epoch seconds at which every test clock starts. */
export const START = 1_700_000_000;

/** The fields of a cloud file, as a policy file would spell them (durations as text allowed). */
export type CloudFile = Record<string, unknown> & { provider?: Record<string, unknown> };

function parseCloud(file: CloudFile) {
  const { provider, ...rest } = file;
  return cloudSchema.parse({
    maxWorkers: 10,
    worker: { cpus: 4, memoryMb: 8000 },
    ...rest,
    provider: { kind: "simulated", ...provider },
  });
}

/** A simulated provider's settings: defaults for everything not given. */
export function simulatedSettings(
  provider: Record<string, unknown> = {},
): SimulatedProviderSettings {
  const settings = parseCloud({ provider }).provider;
  if (settings.kind !== "simulated") throw new Error("not a simulated provider");
  return settings;
}

/** The planner's policy of a cloud file named `name`. */
export function policyOf(name: string, file: CloudFile = {}): CloudPolicy {
  return cloudPolicy({ ...parseCloud(file), name, file: `${name}.yaml` });
}

/** A "random" source that always answers `value`. */
export function constant(value: number): Random {
  return () => value;
}
