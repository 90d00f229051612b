/**
 * The mask stage: hands stored scores and a budget to a plugin's pruner,
 * which writes masks or edits the model, and records what it removed.
 * @module
 */
import type { Budget, LayerPruneRow, Options } from "../plugin.ts";
import type { PartRef } from "../parts.ts";
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { resolve } from "./score.ts";

/** Which pruner, fed by which scores, under which budget. */
export interface MaskSpec {
  /**
   * Registry name, e.g. "relu_taylor/global_topk", or a chosen part (its
   * options as defaults); a function chooses per step.
   */
  pruner: string | PartRef | ((ctx: RunContext) => string | PartRef);
  /** Key of the scores in ctx.scores (the scorer's name). */
  scores: string;
  /**
   * The budget, or a function of the context and the number of units the
   * scores cover (the total a `keep` count is out of).
   */
  budget: Budget | ((ctx: RunContext, units: number) => Budget);
  options?: Options | ((ctx: RunContext) => Options);
}

/** One pruning step as recorded in `ctx.report.pruning`. */
export interface PruneRecord {
  step: number;
  pruner: string;
  kept: number;
  total: number;
  perLayer: LayerPruneRow[];
}

/**
 * The last `mask` stage's record (report.json `pruning`): what it kept of how many units.
 *
 * @example
 * ```ts
 * record({ key: "sweep", row: (ctx) => ({ kept: lastPruning(ctx).kept }) });
 * ```
 */
export function lastPruning(ctx: RunContext): PruneRecord {
  const last = (ctx.report.pruning as PruneRecord[] | undefined)?.at(-1);
  if (!last) throw new Error("no pruning in the run yet; run mask first");
  return last;
}

/**
 * Prunes with a registered pruner.
 *
 * @example
 * ```ts
 * mask({ pruner: "magnitude/global", scores: "magnitude/abs", budget: { keepRatio: 0.5 } });
 * ```
 */
export function mask(spec: MaskSpec): Stage {
  return stage("mask", async (ctx, emit) => {
    const scores = ctx.scores.get(spec.scores);
    if (!scores) throw new Error(`no scores '${spec.scores}' in the run; run score first`);
    const picked = resolve(spec.pruner, ctx);
    const ref = typeof picked === "string" ? { name: picked } : picked;
    const name = ref.name;
    const pruner = ctx.registry.pruner(name);
    if (pruner.target !== scores.target) {
      throw new Error(
        `${name} prunes ${pruner.target}, but ${spec.scores} scores ${scores.target}`,
      );
    }
    const units = [...scores.values.values()].reduce((n, t) => n + t.size, 0);
    const budget = typeof spec.budget === "function" ? spec.budget(ctx, units) : spec.budget;
    const options = { ...ref.options, ...resolve(spec.options ?? {}, ctx) };
    const res = await pruner.prune(ctx, scores, budget, options);
    const step = ctx.step.index + 1;
    emit.metric("kept", res.kept, step);
    emit.metric("kept_ratio", res.kept / Math.max(1, res.total), step);
    emit.log(`${name}: kept ${res.kept} of ${res.total} ${pruner.target}`);
    const log = (ctx.report.pruning ??= []) as PruneRecord[];
    log.push({ step, pruner: name, ...res });
  });
}
