/** The window of recent values and its quantiles (src/policy/sliding-window.ts). */
import test from "ava";
import { quantileOf, slide } from "../../src/policy/sliding-window.js";
import { seededRandom } from "../../src/random.js";

function plainQuantile(values: readonly number[], q: number): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

test("slide keeps the newest values in arrival order, at most size of them", (t) => {
  t.deepEqual(slide([1, 2, 3], [4, 5], 4), [2, 3, 4, 5]);
  t.deepEqual(slide([1, 2], [3, 4, 5, 6, 7], 3), [5, 6, 7]);
  t.deepEqual(slide([], [9], 3), [9]);
  t.is(quantileOf([], 0.5), undefined);
});

test("quantiles of a window slid tick after tick equal those of sorting it afresh (2000 slides, repeats and drops of every size)", (t) => {
  const random = seededRandom(5);
  let window: number[] = [];
  const size = 64;
  for (let step = 0; step < 2000; step += 1) {
    const added = Array.from({ length: Math.floor(random() * 5) }, () => Math.floor(random() * 40));
    // A burst now and then pushes more than the whole window through at once.
    if (step % 250 === 0)
      added.push(...Array.from({ length: 100 }, () => Math.floor(random() * 40)));
    window = slide(window, added, size);
    // Asked every step, so each window's sorted copy is carried into the next.
    for (const q of [0, 0.5, 0.75, 0.965, 1])
      if (quantileOf(window, q) !== plainQuantile(window, q)) {
        t.fail(`step ${step}, q ${q}: ${quantileOf(window, q)} ≠ ${plainQuantile(window, q)}`);
        return;
      }
  }
  t.is(window.length, size);
});
