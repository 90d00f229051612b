/**
 * When an iterated prune is done (the `until` of core's `iterate`): after a
 * number of iterations, or, for a MAC budget, once the model is small enough
 * or the last prune could remove nothing more.
 * @module
 */
import type { RunContext } from "../pipeline.ts";
import { countMacs } from "../metrics.ts";
import type { PruneRecord } from "./mask.ts";

/** The budget {@link untilBudget} stops at. */
export interface UntilSpec {
  /** Stop after this many iterations (with `maxMacs`: at most this many). */
  iterations?: number;
  /**
   * Stop once ctx.model has at most this many MACs (per example), or once
   * the last prune (`ctx.report.pruning`) kept every unit it was given.
   */
  maxMacs?: (ctx: RunContext) => number;
}

/**
 * An `iterate` stopping rule for a budget of iterations and/or MACs; with
 * neither, it stops after the first iteration.
 *
 * @example
 * ```ts
 * iterate({ stages: [score(s), mask(m), finetune(f)], until: untilBudget({ maxMacs: () => 1e6 }) });
 * ```
 */
export function untilBudget(spec: UntilSpec): (ctx: RunContext, i: number) => boolean {
  return (ctx, i) => {
    if (i + 1 >= (spec.iterations ?? (spec.maxMacs ? Infinity : 1))) return true;
    if (!spec.maxMacs) return false;
    const last = (ctx.report.pruning as PruneRecord[] | undefined)?.at(-1);
    return countMacs(ctx.model!) <= spec.maxMacs(ctx) || (!!last && last.kept === last.total);
  };
}
