/** Batch calls of a provider (create or delete many things at once), classified on failure. */
import { runBounded } from "../concurrency.js";
import { asProviderError, type ProviderError } from "../model/errors.js";

/** At most `limit` calls in flight; after the first failure no further call starts. */
export async function untilFirstError<T>(
  tasks: ReadonlyArray<() => Promise<T>>,
  limit: number,
): Promise<{ done: T[]; error?: ProviderError }> {
  const { results, failure } = await runBounded(tasks, limit);
  return failure === undefined
    ? { done: results }
    : { done: results, error: asProviderError(failure.error) };
}
