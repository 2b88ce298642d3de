/**
 * The error taxonomy. Every provider failure is mapped to exactly one kind; the policy reacts to
 * the kind, never to a provider's message text.
 */
export const ERROR_KINDS = [
  "quota",
  "capacity",
  "throttled",
  "auth",
  "config",
  "transient",
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface ProviderErrorOptions {
  /** Seconds the cloud asked us to wait (Retry-After); only meaningful for `throttled`. */
  retryAfterSeconds?: number;
  /**
   * The part of the cloud the error is about, when narrower than the whole cloud, such as
   * `instanceType=m5.large` or `zone=us-east-1a`. Backoff then applies to that scope only.
   */
  scope?: string;
  cause?: unknown;
}

/** A classified failure of a cloud API call. */
export class ProviderError extends Error {
  override readonly name = "ProviderError";
  readonly kind: ErrorKind;
  readonly retryAfterSeconds?: number;
  readonly scope?: string;

  constructor(kind: ErrorKind, message: string, options: ProviderErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options.scope !== undefined) this.scope = options.scope;
  }
}

/**
 * Wraps anything a provider threw that it did not classify. Unclassified failures are treated as
 * `transient` (retry soon) and flagged so the adapter can be taught the error.
 */
export function asProviderError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError("transient", `unclassified error: ${message}`, { cause: error });
}

/** One problem found in a policy file: where it is and what is wrong. */
export interface ConfigProblem {
  file: string;
  /** 1-based line, when the problem can be tied to a place in the file. */
  line?: number;
  /** Dotted path of the field at fault, e.g. `worker.cpus`; empty for the whole file. */
  field: string;
  message: string;
}

/** An invalid configuration directory: every problem found, not just the first. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatConfigProblem).join("\n"));
    this.problems = problems;
  }
}

export function formatConfigProblem(problem: ConfigProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  const field = problem.field === "" ? "" : ` ${problem.field}:`;
  return `${where}:${field} ${problem.message}`;
}

/** Why an HTCondor command gave no usable answer. */
export type CondorFailure = "spawn" | "timeout" | "exit" | "output";

/** A failed HTCondor query: the command, what went wrong, and what the tool said on stderr. */
export class CondorError extends Error {
  override readonly name = "CondorError";
  readonly failure: CondorFailure;
  /** The command as a person would type it (for logs; arguments quoted where needed). */
  readonly command: string;
  /** What went wrong, without the command and stderr. */
  readonly detail: string;
  readonly stderr: string;

  constructor(failure: CondorFailure, command: string, detail: string, stderr = "") {
    super(`${command}: ${detail}${stderr === "" ? "" : ` (stderr: ${stderr})`}`);
    this.failure = failure;
    this.command = command;
    this.detail = detail;
    this.stderr = stderr;
  }
}
