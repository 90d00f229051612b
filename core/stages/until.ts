/**
 * When an iterated prune is done (the `until` of core's `iterate`): after a
 * number of iterations, or, for a MAC budget, once the model is small enough
 * or the last prune could remove nothing more. {@link iterateToBudget} runs
 * such a prune and then checks that a MAC target was reached.
 * @module
 */
import { iterate, type RunContext, type Stage, stage } from "../pipeline.ts";
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

/** A MAC target of an iterated prune (e.g. `--speed_up 2`: half the MACs). */
export interface MacGoal {
  /** What set it, named when the prune stops short of it, e.g. "--speed_up 2". */
  flag: string;
  /** The model's MACs before the prune. */
  base: (ctx: RunContext) => number;
  /** The most MACs the pruned model may have, given `base`. */
  goal: (base: number) => number;
}

/** What {@link iterateToBudget} runs, and until when. */
export interface BudgetLoopSpec {
  /** Stage name of the loop. */
  name: string;
  /** One iteration, e.g. score, mask, fine-tune, measure. */
  stages: Stage[];
  /** Iterations; with `macs`, at most this many (none: until the MAC goal). */
  iterations?: number;
  /** A MAC target; none: `iterations` alone. */
  macs?: MacGoal;
}

/**
 * An iterated prune to a budget: `stages` repeated ({@link untilBudget})
 * for `iterations`, or until the model has at most the goal's MACs or the
 * last prune removed nothing; then a "target" stage that, with a MAC goal,
 * records `target_reached` in the report and, when it was not, warns in one
 * line how far the prune got (the run still completes).
 *
 * @example
 * ```ts
 * const base = (ctx: RunContext) => evaluation(ctx, "before").macs;
 * iterateToBudget({
 *   name: "prune steps", stages: [score(s), mask(m), finetune(f)], iterations: 100,
 *   macs: { flag: "--speed_up 2", base, goal: (b) => b / 2 },
 * });
 * ```
 */
export function iterateToBudget(spec: BudgetLoopSpec): Stage[] {
  const { iterations, macs } = spec;
  const maxMacs = macs && ((ctx: RunContext) => macs.goal(macs.base(ctx)));
  return [
    iterate({
      name: spec.name,
      total: (_, i) => iterations ?? i + 1,
      until: untilBudget({ iterations, maxMacs }),
      stages: spec.stages,
    }),
    stage("target", (ctx, emit) => {
      if (!macs) return;
      const base = macs.base(ctx), goal = macs.goal(base), now = countMacs(ctx.model!);
      const reached = now <= goal;
      ctx.report.target_reached = reached;
      if (!reached) {
        emit.log(
          `${macs.flag} not reached: the pruning stopped at x${(base / now).toFixed(2)} fewer ` +
            `MACs (${base} -> ${now}; the target needs <= ${Math.floor(goal)})`,
          "warn",
        );
      }
    }),
  ];
}
