/**
 * The one module tests take assertions from (node:assert/strict today, since
 * JSR is out of reach; switching to @std/assert later is this file only).
 * @module
 */
import assert from "node:assert/strict";

export const { equal, deepEqual, notEqual, ok, throws, rejects, match } = assert;
export { assert };

/** Asserts |a - b| <= atol + rtol * |b| elementwise, naming the first bad index. */
export function allClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6 }: { rtol?: number; atol?: number } = {},
  what = "values",
): void {
  assert.equal(
    actual.length,
    expected.length,
    `${what}: length ${actual.length} != ${expected.length}`,
  );
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], b = expected[i];
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      assert.fail(`${what}[${i}]: ${a} != ${b} (rtol ${rtol}, atol ${atol})`);
    }
  }
}
