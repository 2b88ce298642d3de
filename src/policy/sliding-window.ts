/**
 * A bounded window of recent values, oldest first, whose quantiles the planner asks for every
 * tick (the gaps between arrivals: thousands of them). The window stays a plain array in the
 * planner's memory; its sorted copy is kept beside it by identity and carried from one window to
 * the next by removing the values that left and inserting those that came, so a tick costs a
 * copy of the array instead of a sort.
 */

const sortedCopies = new WeakMap<readonly number[], readonly number[]>();

function sorted(window: readonly number[]): readonly number[] {
  let copy = sortedCopies.get(window);
  if (copy === undefined) {
    copy = [...window].sort((a, b) => a - b);
    sortedCopies.set(window, copy);
  }
  return copy;
}

/** The first index of `values` (sorted) whose value is not below `value`. */
function lowerBound(values: readonly number[], value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((values[middle] ?? 0) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The value that the share `q` of the window stays under; undefined for an empty window. */
export function quantileOf(window: readonly number[], q: number): number | undefined {
  if (window.length === 0) return undefined;
  const values = sorted(window);
  return values[Math.min(values.length - 1, Math.floor(q * values.length))];
}

/** The window with `added` appended and the oldest values dropped beyond `size`. */
export function slide(window: readonly number[], added: readonly number[], size: number): number[] {
  const all = [...window, ...added];
  const dropped = Math.max(0, all.length - size);
  const next = dropped > 0 ? all.slice(dropped) : all;
  const before = sortedCopies.get(window);
  if (before !== undefined && dropped + added.length < before.length) {
    const copy = [...before];
    for (const value of all.slice(0, dropped)) copy.splice(lowerBound(copy, value), 1);
    for (const value of all.slice(Math.max(window.length, dropped)))
      copy.splice(lowerBound(copy, value), 0, value);
    sortedCopies.set(next, copy);
  }
  return next;
}
