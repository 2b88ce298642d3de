/**
 * One preflight check (`condor-autoscaler check`, and `run` at start): what was checked, how it
 * went, and for a failure the fix. Read-only: no check creates, changes or deletes anything.
 */
export type PreflightOutcome = "ok" | "FAIL" | "skip";

export interface PreflightCheck {
  /** What was checked, e.g. `condor_q -global answers` or `cloud aws: image ami-… exists`. */
  what: string;
  outcome: PreflightOutcome;
  /** What was seen: a count, the error text (secrets already masked), why it was skipped. */
  detail: string;
  /** For a failure: what to change, in a few words. */
  fix?: string;
}

export const passed = (what: string, detail: string): PreflightCheck => ({
  what,
  outcome: "ok",
  detail,
});

export const failed = (what: string, detail: string, fix?: string): PreflightCheck => ({
  what,
  outcome: "FAIL",
  detail,
  ...(fix === undefined ? {} : { fix }),
});

export const skipped = (what: string, detail: string): PreflightCheck => ({
  what,
  outcome: "skip",
  detail,
});

/** The text of whatever was thrown. */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
