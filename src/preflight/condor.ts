/**
 * The HTCondor side of the preflight, run as the daemon's user: the queue and the collector
 * answer, this user may withdraw ads, and the workers' token file is readable.
 */
import { userInfo } from "node:os";
import { readBoundedFile } from "../bounded-file.js";
import type { HTCondorPool } from "../condor/htcondor.js";
import type { JobSelector } from "../condor/pool.js";
import { MAX_CONFIG_FILE_BYTES } from "../config/defaults.js";
import type { HTCondorSettings } from "../config/schema.js";
import { CondorError } from "../model/errors.js";
import { type PreflightCheck, passed, skipped } from "../model/preflight.js";
import { bounded } from "./bounded.js";

/** The fix for a tool that failed, by how it failed. */
function toolFix(error: unknown, authorization: string): string {
  if (error instanceof CondorError && error.failure === "spawn")
    return "condor.binDir: the directory of condor_q and condor_status (or put them on PATH)";
  return `this user (${userInfo().username}) needs ${authorization}; see docs/start-on-your-pool.md`;
}

export async function condorPreflight(
  pool: HTCondorPool,
  settings: HTCondorSettings,
  selectors: readonly JobSelector[],
  seconds: number,
  queries: boolean,
): Promise<PreflightCheck[]> {
  const withFix = async (
    what: string,
    authorization: string,
    run: () => Promise<string>,
  ): Promise<PreflightCheck[]> => {
    let fix: string | undefined;
    const checks = await bounded(what, seconds, undefined, async () => {
      try {
        return passed(what, await run());
      } catch (error) {
        fix = toolFix(error, authorization);
        // The check names the tool: its long command line would hide what went wrong.
        if (error instanceof CondorError)
          throw new Error(
            `${error.detail}${error.stderr === "" ? "" : ` (stderr: ${error.stderr})`}`,
          );
        throw error;
      }
    });
    return checks.map((check) =>
      check.outcome === "FAIL" && fix !== undefined ? { ...check, fix } : check,
    );
  };
  const reads = queries
    ? [
        withFix("condor_q -global answers", "READ on every schedd (ALLOW_READ)", async () => {
          const jobs = await pool.idleJobs(selectors);
          return `${jobs.length} idle job${jobs.length === 1 ? "" : "s"} the clouds' constraints select`;
        }),
        withFix("condor_status -slots answers", "READ on the collector (ALLOW_READ)", async () => {
          const machines = await pool.machines();
          return `${machines.length} worker${machines.length === 1 ? "" : "s"} of this pool in the collector`;
        }),
      ]
    : [];
  const checks = await Promise.all([
    ...reads,
    withFix(
      "condor_advertise may withdraw worker ads (INVALIDATE_STARTD_ADS, INVALIDATE_MASTER_ADS)",
      "ADVERTISE_STARTD and ADVERTISE_MASTER on the collector",
      async () => {
        await pool.probeWithdraw();
        return "the collector accepted invalidations that match no ad";
      },
    ),
    tokenFileCheck(settings.tokenFile, seconds),
  ]);
  return checks.flat();
}

async function tokenFileCheck(
  file: string | undefined,
  seconds: number,
): Promise<PreflightCheck[]> {
  if (file === undefined)
    return [skipped("condor.tokenFile", "not set: the workers get no token in their user-data")];
  const what = `condor.tokenFile ${file} is readable`;
  return bounded(
    what,
    seconds,
    "condor_token_create … > that file, readable by this user (mode 0600)",
    async () => {
      const token = (await readBoundedFile(file, { maxBytes: MAX_CONFIG_FILE_BYTES })).trim();
      if (token === "") throw new Error("the file is empty");
      return passed(what, `${token.length} characters`);
    },
  );
}
