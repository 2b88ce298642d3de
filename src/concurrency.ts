/** The one bounded-concurrency helper: the tick's actions and the providers' batch calls use it. */

export interface BoundedRun<T> {
  /** Results of the tasks that completed, in task order. */
  results: T[];
  /** The first throw, when a task threw: no task started after it. */
  failure?: { error: unknown };
}

/** Runs tasks with at most `limit` in flight; after the first throw no further task starts. */
export async function runBounded<T>(
  tasks: ReadonlyArray<() => Promise<T>>,
  limit: number,
): Promise<BoundedRun<T>> {
  const slots: Array<{ value: T } | undefined> = new Array(tasks.length);
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (failure === undefined && next < tasks.length) {
      const index = next;
      next += 1;
      const task = tasks[index];
      if (task === undefined) continue;
      try {
        slots[index] = { value: await task() };
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  const results = slots.flatMap((slot) => (slot === undefined ? [] : [slot.value]));
  return failure === undefined ? { results } : { results, failure };
}
