/**
 * core/budget.ts: the one place budgets become unit counts, with each
 * method's rounding (relu_taylor max(1, floor(N keep)), intra_fusion
 * floor(C (1 - s)), filter_taylor's ceil for what stays), robust to
 * floating-point products such as 0.7 * 10.
 */
import {
  BudgetError,
  countOf,
  isUserFacing,
  iterationsFor,
  keepCount,
  keepFraction,
  removeCount,
} from "@shears/core";
import { equal, throws } from "./assert.ts";

Deno.test("countOf rounds the exact product: 0.3 of 7 is 2.1, 0.7 of 10 is 7", () => {
  equal(countOf(0.3, 7), 2);
  equal(countOf(0.3, 7, "ceil"), 3);
  equal(countOf(0.3, 7, "round"), 2);
  equal(countOf(0.7, 10), 7); // 0.7 * 10 = 6.999999999999999 in floating point
  equal(countOf(1 - 0.7, 10, "ceil"), 3); // 0.30000000000000004 * 10
  equal(countOf(0.5, 7, "round"), 4);
  equal(countOf(0.1, 48_000), 4800);
});

Deno.test("keepCount: ratio, exact count or removal; at least min; multiples of round_to", () => {
  equal(keepCount({ keepRatio: 0.1 }, 491_520), 49_152); // ReLUPruner's 10% budget
  equal(keepCount({ keepRatio: 1e-9 }, 100), 1); // never zero by default
  equal(keepCount({ keepRatio: 0.3 }, 7), 2);
  equal(keepCount({ keepRatio: 0.3 }, 7, { rounding: "ceil" }), 3);
  equal(keepCount({ keepRatio: 1 - 0.7 }, 64), 19); // intra_fusion: floor(C (1 - s))
  equal(keepCount({ keepRatio: 0.1 }, 3), 1);
  equal(keepCount({ keep: 12_779 }, 491_520), 12_779);
  equal(keepCount({ remove: 5 }, 8), 3);
  equal(keepCount({ remove: 50 }, 8), 1); // removal stops at min
  equal(keepCount({ remove: 50 }, 8, { min: 0 }), 0);
  equal(keepCount({ keepRatio: 0.5 }, 30, { roundTo: 8 }), 8); // 15 -> 8
  equal(keepCount({ keepRatio: 0.9 }, 30, { roundTo: 8 }), 24); // 27 -> 24
  equal(keepCount({ keepRatio: 0.05 }, 30, { roundTo: 8 }), 8); // at least one multiple
  equal(keepCount({ keepRatio: 1 }, 30, { roundTo: 8 }), 30); // keeping all is allowed
  equal(keepCount({ keepRatio: 0.5 }, 0, { min: 0 }), 0);
});

Deno.test("removeCount and keepFraction read the same budgets", () => {
  equal(removeCount({ remove: 42 }, 344), 42);
  equal(removeCount({ keep: 40 }, 64), 24);
  equal(removeCount({ keepRatio: 0.5 }, 7, { rounding: "ceil" }), 3); // keeps ceil(3.5) = 4
  equal(keepFraction({ keepRatio: 0.25 }, 99), 0.25);
  equal(keepFraction({ keep: 30 }, 120), 0.25);
  equal(keepFraction({ remove: 90 }, 120), 0.25);
  equal(iterationsFor(4224, 512, 2 / 3), 5);
  equal(iterationsFor(344, 42, 2 / 3), 5);
});

Deno.test("bad budgets are one-line user errors naming the value", () => {
  const cases: [() => unknown, RegExp][] = [
    [() => keepCount({ keepRatio: 1.5 }, 10), /keep ratio must be in \(0, 1\], got 1.5/],
    [() => keepCount({ keepRatio: 0 }, 10), /keep ratio must be in \(0, 1\], got 0/],
    [() => keepCount({ keep: 11 }, 10), /keeps 11 units; it must be an integer in \[1, 10\]/],
    [() => keepCount({ keep: 2.5 }, 10), /keeps 2.5 units/],
    [() => keepCount({ remove: -1 }, 10), /remove must be an integer >= 0, got -1/],
    [() => keepCount({}, 10), /needs keepRatio, keep or remove/],
    [() => keepCount({ keepRatio: 0.5 }, 10.5), /whole number of units, got 10.5/],
    [() => keepCount({ keepRatio: 0.5 }, 10, { roundTo: 0 }), /round_to must be an integer >= 1/],
  ];
  for (const [f, re] of cases) {
    throws(f, (e: Error) => e instanceof BudgetError && isUserFacing(e) && re.test(e.message));
  }
});
