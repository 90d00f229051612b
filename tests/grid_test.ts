/**
 * core's grid: every combination of a sweep's axes, the last axis fastest,
 * read per point and from ctx.step.index.
 */
import { grid } from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal } from "./assert.ts";

Deno.test("grid: the product of the axes, the last varying fastest", () => {
  const g = grid({ group: [0, 2], sparsity: [0.3, 0.5, 0.7], method: ["a", "b"] });
  equal(g.size, 12);
  const all = Array.from({ length: g.size }, (_, i) => g.point(i));
  deepEqual(all.slice(0, 3), [
    { group: 0, sparsity: 0.3, method: "a" },
    { group: 0, sparsity: 0.3, method: "b" },
    { group: 0, sparsity: 0.5, method: "a" },
  ]);
  deepEqual(all[11], { group: 2, sparsity: 0.7, method: "b" });
  equal(new Set(all.map((p) => JSON.stringify(p))).size, 12, "every combination once");
  const ctx = testContext({ step: { index: 7, total: 12 } });
  deepEqual(g.at(ctx), { group: 2, sparsity: 0.3, method: "b" });
  equal(grid({ only: [1, 2, 3] }).point(2).only, 3);
  equal(grid({ a: [1], none: [] }).size, 0);
});
