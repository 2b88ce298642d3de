/** Bounded concurrency for provider calls that create or delete many things at once. */
import { asProviderError, type ProviderError } from "../model/errors.js";

/** Runs tasks with at most `limit` in flight; after the first failure no further task starts. */
export async function untilFirstError<T>(
  tasks: ReadonlyArray<() => Promise<T>>,
  limit: number,
): Promise<{ done: T[]; error?: ProviderError }> {
  const done: T[] = [];
  let error: ProviderError | undefined;
  let next = 0;
  const worker = async () => {
    while (error === undefined && next < tasks.length) {
      const task = tasks[next];
      next += 1;
      if (task === undefined) break;
      try {
        done.push(await task());
      } catch (failure) {
        error ??= asProviderError(failure);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  return error === undefined ? { done } : { done, error };
}
