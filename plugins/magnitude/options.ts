/**
 * Reading and checking the magnitude plugin's options (flag values by name),
 * with one-line errors that name the bad value and what is accepted.
 * @module
 */
import type { Budget, Options } from "@shears/core";

/** A number option in [0, 1] (or `fallback` when absent). */
export function unitOption(options: Options, name: string, fallback?: number): number {
  const v = options[name] ?? fallback;
  if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
    throw new Error(`${name} must be a number in [0, 1], got ${v}`);
  }
  return v;
}

/** `p_prune`: from the options, else `1 - budget.keepRatio`. */
export function pPrune(options: Options, budget: Budget): number {
  const fallback = budget.keepRatio === undefined ? undefined : 1 - budget.keepRatio;
  return unitOption(options, "p_prune", fallback);
}

/** `p_bern` (default 1: every candidate pruned). */
export function pBern(options: Options): number {
  return unitOption(options, "p_bern", 1);
}

/** Layer kinds that can join the Conv2D kernels in pruning. */
export const INCLUDABLE = ["dense"] as const;
/** A layer kind of {@link INCLUDABLE}. */
export type Includable = typeof INCLUDABLE[number];

/** `include`: extra layer kinds to prune ("dense", a comma list, or an array). */
export function includeOption(options: Options): Includable[] {
  const v = options.include ?? [];
  const list = typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v;
  if (!Array.isArray(list)) {
    throw new Error(`include must be a list of layer kinds (${INCLUDABLE.join(", ")}), got ${v}`);
  }
  for (const k of list) {
    if (!INCLUDABLE.includes(k)) {
      throw new Error(`include: unknown layer kind '${k}'; accepted: ${INCLUDABLE.join(", ")}`);
    }
  }
  return list as Includable[];
}
