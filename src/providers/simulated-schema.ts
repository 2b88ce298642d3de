/** The `provider:` section of a simulated cloud file (demo, tests, dry runs, the simulator). */
import { z } from "zod";
import * as d from "../config/defaults.js";
import { duration } from "../config/duration.js";
import { ERROR_KINDS } from "../model/errors.js";

const count = z.number().int().nonnegative();

const injectedFailure = z.strictObject({
  kind: z.enum(ERROR_KINDS),
  operation: z.enum(["launch", "terminate", "list"]).default("launch"),
  from: duration.default(0).meta({ description: "Start of the window, from the start of the run" }),
  until: duration.optional().meta({ description: "End of the window; open-ended if absent" }),
  probability: z.number().min(0).max(1).default(1),
  retryAfter: duration.optional().meta({ description: "Retry-After of throttled answers" }),
  scope: z.string().min(1).optional().meta({ description: "e.g. zone=a: fail only that scope" }),
});

export const simulatedProviderSchema = z
  .strictObject({
    kind: z.literal("simulated"),
    bootDelay: duration.default(d.DEFAULT_SIM_BOOT_DELAY),
    bootSpread: duration.default(d.DEFAULT_SIM_BOOT_SPREAD),
    joinDelay: duration.default(d.DEFAULT_SIM_JOIN_DELAY),
    quota: z
      .strictObject({
        instances: count.optional(),
        cpus: count.optional(),
        memoryMb: count.optional(),
      })
      .optional(),
    reportsHeadroom: z.boolean().default(true).meta({
      description: "false: the quota is only discovered by hitting it (a competitive cloud)",
    }),
    failures: z.array(injectedFailure).default([]),
    preemptionRate: z.number().nonnegative().default(0).meta({
      description:
        "Spot-style reclaims: the chance per running instance-hour that the cloud takes it back",
    }),
    existing: z
      .array(
        z.strictObject({
          id: z.string().min(1),
          name: z.string().min(1).optional(),
          address: z.string().min(1).optional(),
          age: duration.default(3600).meta({ description: "How long ago it was launched" }),
        }),
      )
      .default([])
      .meta({ description: "Instances the cloud already has when the daemon starts (adopted)" }),
  })
  .meta({ description: "An in-memory cloud with boot delays, quota and injected errors" });

export type SimulatedProviderSettings = z.output<typeof simulatedProviderSchema>;
export type InjectedFailure = z.output<typeof injectedFailure>;
