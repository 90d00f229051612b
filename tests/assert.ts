/**
 * The one module tests take assertions from (node:assert/strict today, since
 * JSR is out of reach; switching to @std/assert later is this file only).
 * @module
 */
import assert from "node:assert/strict";

type Strict = typeof assert;
/** Strict equality (Object.is). */
export const equal: Strict["equal"] = assert.equal;
/** Deep strict equality. */
export const deepEqual: Strict["deepEqual"] = assert.deepEqual;
/** Strict inequality. */
export const notEqual: Strict["notEqual"] = assert.notEqual;
/** Truthiness. */
export const ok: Strict["ok"] = assert.ok;
/** The function throws (optionally matching). */
export const throws: Strict["throws"] = assert.throws;
/** The promise rejects (optionally matching). */
export const rejects: Strict["rejects"] = assert.rejects;
/** The string matches a RegExp. */
export const match: Strict["match"] = assert.match;
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
