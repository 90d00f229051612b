/**
 * The magnitude plugin's part options, declared as core flag definitions
 * (core converts and checks them), and `p_prune` from the options or the
 * budget.
 * @module
 */
import { type Budget, type FlagDefs, keepFraction } from "@shears/core";

/** Layer kinds that can join the Conv2D kernels in pruning. */
export const INCLUDABLE = ["dense"] as const;
/** A layer kind of {@link INCLUDABLE}. */
export type Includable = typeof INCLUDABLE[number];

/** Options of the scorers. */
export const scorerOptions = {
  include: {
    type: "strings",
    default: [] as string[],
    choices: INCLUDABLE,
    help: "also score these layer kinds besides Conv2D",
  },
} satisfies FlagDefs;

/** Options of the `global` and `gradient` pruners. */
export const prunerOptions = {
  p_prune: {
    type: "number",
    min: 0,
    max: 1,
    help: "fraction of units below the threshold (default: 1 - the budget's keep fraction)",
  },
  p_bern: {
    type: "number",
    default: 1,
    min: 0,
    max: 1,
    help: "probability that each unit below the threshold is pruned",
  },
} satisfies FlagDefs;

/** `p_prune`: from the options, else 1 - the budget's keep fraction of `units`. */
export function pPrune(p: number | undefined, budget: Budget, units: number): number {
  return p ?? 1 - keepFraction(budget, units);
}
