/**
 * Budgets: how much of a target a pruner keeps, and the one place where a
 * budget becomes a number of units (weights, channels, ReLU elements).
 *
 * A {@link Budget} says `keepRatio` (a fraction of the units), `keep` (an
 * exact count) or `remove` (a count to take away now). A global pruner
 * (one ranking over all units) converts it over the total; a per-layer one
 * (each layer or channel group alone) over each layer's size. Either reads it with
 * {@link keepCount} (or {@link removeCount}, {@link keepFraction}) and its
 * method's {@link CountRule}: how a fraction of a count is rounded, the
 * fewest units that must stay, and a multiple the count is rounded to.
 * Fractions of counts are rounded as the exact product would be (0.7 of 10
 * is 7, though 0.7 * 10 is 6.999... in floating point).
 *
 * @example
 * ```ts
 * keepCount({ keepRatio: 0.1 }, 48_000);                          // 4800
 * keepCount({ keepRatio: 0.3 }, 7);                               // 2 (floor)
 * keepCount({ keepRatio: 0.3 }, 7, { rounding: "ceil" });         // 3
 * keepCount({ keepRatio: 0.5 }, 64, { roundTo: 8 });              // 32
 * removeCount({ keep: 40 }, 64);                                  // 24
 * ```
 * @module
 */
import { markUserFacing } from "./errors.ts";

/** How much to keep; a pruner reads what applies to it. */
export interface Budget {
  /** Fraction of the target to keep, in (0, 1]. */
  keepRatio?: number;
  /** Exact number of units to keep. */
  keep?: number;
  /** Exact number of units to remove (this step). */
  remove?: number;
}

/** How a fraction of a count becomes a count. */
export type Rounding = "floor" | "ceil" | "round";

/** A method's way of turning a budget into a count. */
export interface CountRule {
  /** Rounding of `keepRatio * total` [floor]. */
  rounding?: Rounding;
  /** Fewest units kept [1]; a count of 0 needs `min: 0`. */
  min?: number;
  /**
   * Kept counts are multiples of this [1] (rounded down, at least `roundTo`);
   * keeping everything is always allowed.
   */
  roundTo?: number;
}

/** A budget that cannot be met, or is malformed: a user error (exit 2). */
export class BudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BudgetError";
  }
}
markUserFacing(BudgetError);

/** Relative tolerance that makes 0.7 * 10 count as 7. */
const EPS = 1e-9;

/**
 * `fraction * total` rounded as `rounding` says, robust to floating-point
 * error in the product.
 *
 * @example
 * ```ts
 * countOf(0.7, 10);           // 7
 * countOf(0.3, 7, "round");   // 2
 * ```
 */
export function countOf(fraction: number, total: number, rounding: Rounding = "floor"): number {
  const x = fraction * total;
  const tol = EPS * Math.max(1, Math.abs(x));
  if (rounding === "floor") return Math.floor(x + tol);
  if (rounding === "ceil") return Math.ceil(x - tol);
  return Math.round(x);
}

function checkTotal(total: number): void {
  if (!Number.isInteger(total) || total < 0) {
    throw new BudgetError(`a budget needs a whole number of units, got ${total}`);
  }
}

/**
 * Units to keep of `total` under `budget`: `keep`, else `total - remove`,
 * else `keepRatio * total` rounded by `rule`; then at least `rule.min` [1]
 * (never more than `total`) and a multiple of `rule.roundTo`.
 *
 * @throws {BudgetError} for a ratio outside (0, 1], a count that is not an
 *   integer in [min, total], or a budget that says nothing.
 * @example
 * ```ts
 * keepCount({ keepRatio: 0.1 }, 491_520); // 49_152
 * ```
 */
export function keepCount(budget: Budget, total: number, rule: CountRule = {}): number {
  checkTotal(total);
  const min = Math.min(rule.min ?? 1, total);
  let k: number;
  if (budget.keep !== undefined) {
    if (!Number.isInteger(budget.keep) || budget.keep < min || budget.keep > total) {
      throw new BudgetError(
        `the budget keeps ${budget.keep} units; it must be an integer in [${min}, ${total}]`,
      );
    }
    k = budget.keep;
  } else if (budget.remove !== undefined) {
    if (!Number.isInteger(budget.remove) || budget.remove < 0) {
      throw new BudgetError(`units to remove must be an integer >= 0, got ${budget.remove}`);
    }
    k = Math.max(min, total - budget.remove);
  } else if (budget.keepRatio !== undefined) {
    const r = budget.keepRatio;
    if (!(r > 0 && r <= 1)) throw new BudgetError(`keep ratio must be in (0, 1], got ${r}`);
    k = Math.max(min, countOf(r, total, rule.rounding));
  } else {
    throw new BudgetError("a budget needs keepRatio, keep or remove");
  }
  const to = rule.roundTo ?? 1;
  if (!Number.isInteger(to) || to < 1) {
    throw new BudgetError(`round_to must be an integer >= 1, got ${to}`);
  }
  if (to > 1 && k < total) k = Math.min(total, Math.max(to, Math.floor(k / to) * to));
  return Math.min(total, k);
}

/**
 * Units to remove of `total`: `remove` when the budget says it, else
 * `total - keepCount(budget, total, rule)`.
 *
 * @example
 * ```ts
 * removeCount({ keepRatio: 0.5 }, 7, { rounding: "ceil" }); // 3
 * ```
 */
export function removeCount(budget: Budget, total: number, rule: CountRule = {}): number {
  if (budget.remove !== undefined && budget.keep === undefined) {
    checkTotal(total);
    if (!Number.isInteger(budget.remove) || budget.remove < 0) {
      throw new BudgetError(`units to remove must be an integer >= 0, got ${budget.remove}`);
    }
    return budget.remove;
  }
  return total - keepCount(budget, total, rule);
}

/**
 * The fraction of `total` a budget keeps, for pruners that threshold a
 * quantile rather than count units: `keepRatio`, `keep / total`, or
 * `1 - remove / total`.
 *
 * @example
 * ```ts
 * keepFraction({ keep: 30 }, 120); // 0.25
 * ```
 */
export function keepFraction(budget: Budget, total: number): number {
  if (budget.keepRatio !== undefined) {
    if (!(budget.keepRatio > 0 && budget.keepRatio <= 1)) {
      throw new BudgetError(`keep ratio must be in (0, 1], got ${budget.keepRatio}`);
    }
    return budget.keepRatio;
  }
  checkTotal(total);
  if (total === 0) return 1;
  if (budget.keep !== undefined || budget.remove !== undefined) {
    return keepCount(budget, total, { min: 0 }) / total;
  }
  throw new BudgetError("a budget needs keepRatio, keep or remove");
}

/**
 * Iterations that remove about `fraction` of `total` units, `perIteration`
 * at a time: floor(floor(total / perIteration) * fraction) (the
 * pytorch-pruning seed's schedule uses 2/3).
 *
 * @example
 * ```ts
 * iterationsFor(4224, 512, 2 / 3); // 5 (VGG-16's 4224 filters, 512 per iteration)
 * ```
 */
export function iterationsFor(total: number, perIteration: number, fraction: number): number {
  if (!(perIteration >= 1)) {
    throw new BudgetError(`units per iteration must be >= 1, got ${perIteration}`);
  }
  return Math.floor(Math.floor(total / perIteration) * fraction);
}
