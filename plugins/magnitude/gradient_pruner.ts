/**
 * Gradient-only magnitude pruning (DWP): forward outputs and dL/dW use the
 * full weights; only dL/dinput of each Conv2D is computed with pruned
 * weights, re-drawn on every backward pass (see {@link GradientPrunedConv2D}).
 *
 * - transform `gradient_prune`: swaps every Conv2D for a GradientPrunedConv2D
 *   with the given `threshold`, `p_bern`, `seed` (weights copied, names kept);
 * - transform `plain_conv`: swaps them back to Conv2D, so a fine-tuned model
 *   saves in the standard format and loads without this plugin;
 * - pruner `gradient`: τ computed once, globally, over the single-weight
 *   scores (`abs` scorer) exactly as the `global` pruner does, then the model
 *   is swapped (or, already swapped, its layers get the new τ and p_bern).
 *   `ctx.model` becomes the new model; the old one is left usable.
 *
 * @example
 * ```ts
 * const scores = await absScorer.start(ctx, {}).scores();
 * await gradientPruner.prune(ctx, scores, {}, { p_prune: 0.5, p_bern: 1 }); // ctx.model swapped
 * ```
 * @module
 */
import type { LayerPruneRow, Pruner, PruneResult, Scores, Transform } from "@shears/core";
import { findWeight, type FlagDefs, readOptions, rewriteLayers, type tf } from "@shears/core";
import {
  conv2dConfig,
  GradientPrunedConv2D,
  parseThreshold,
  serializeThreshold,
} from "./gradient_pruned_conv2d.ts";
import { requireModel } from "./global_pruner.ts";
import { pPrune, prunerOptions } from "./options.ts";
import { concatScores, globalThreshold } from "./threshold.ts";

/** Parameters of gradient-only pruning. */
export interface GradientPruneParams {
  threshold: number;
  pBern: number;
  seed: number;
}

/** `model` with every Conv2D swapped for a {@link GradientPrunedConv2D}; `model` is untouched. */
export function gradientPrunedModel(
  model: tf.LayersModel,
  { threshold, pBern, seed }: GradientPruneParams,
): tf.LayersModel {
  let i = 0;
  return rewriteLayers(model, (l) =>
    l.className === "Conv2D"
      ? {
        ...l,
        className: GradientPrunedConv2D.className,
        config: {
          ...l.config,
          threshold: serializeThreshold(threshold),
          pBern,
          seed: seed + i++,
        },
      }
      : l);
}

/** `model` with every GradientPrunedConv2D swapped back to a plain Conv2D. */
export function plainConvModel(model: tf.LayersModel): tf.LayersModel {
  return rewriteLayers(model, (l) => {
    if (l.className !== GradientPrunedConv2D.className) return l;
    return { ...l, className: "Conv2D", config: conv2dConfig(l.config) };
  });
}

/** The GradientPrunedConv2D layers of a model. */
export function gradientPrunedLayers(model: tf.LayersModel): GradientPrunedConv2D[] {
  return model.layers.filter((l): l is GradientPrunedConv2D => l instanceof GradientPrunedConv2D);
}

const transformOptions = {
  threshold: {
    type: "string",
    default: "0",
    help: "weights with |w| >= threshold are never pruned (a number, or inf)",
    validate: (v) => Number.isNaN(parseThreshold(v)) ? "must be a number or inf" : undefined,
  },
  p_bern: prunerOptions.p_bern,
  seed: { type: "int", default: 0, help: "seed of the Bernoulli draws (layer i: seed + i)" },
} satisfies FlagDefs;

/** Transform `gradient_prune`. */
export const gradientPruneTransform: Transform = {
  description: "swap Conv2D for GradientPrunedConv2D (dL/dx through magnitude-pruned kernels)",
  options: transformOptions,
  apply(model, options) {
    const o = readOptions(transformOptions, options, "magnitude/gradient_prune");
    return gradientPrunedModel(model, {
      threshold: parseThreshold(o.threshold),
      pBern: o.p_bern,
      seed: o.seed,
    });
  },
};

/** Transform `plain_conv`: GradientPrunedConv2D back to Conv2D. */
export const plainConvTransform: Transform = {
  description: "swap GradientPrunedConv2D back to Conv2D (standard, loadable anywhere)",
  apply: (model) => plainConvModel(model),
};

/** The `gradient` pruner; see the module doc. */
export const gradientPruner: Pruner = {
  target: "weights",
  description: "gradient-only pruning: dL/dinput through kernels pruned below a global τ",
  options: prunerOptions,
  async prune(ctx, scores: Scores, budget, options): Promise<PruneResult> {
    const model = requireModel(ctx, "magnitude/gradient");
    const o = readOptions(prunerOptions, options, "magnitude/gradient");
    const entries = [...scores.values];
    const p = pPrune(o.p_prune, budget, entries.reduce((n, [, s]) => n + s.size, 0));
    const pb = o.p_bern;
    const convNames = new Set(
      model.layers
        .filter((l) => l.getClassName() === "Conv2D" || l instanceof GradientPrunedConv2D)
        .map((l) => `${l.name}/kernel`),
    );
    for (const [name, s] of entries) {
      const w = findWeight(model, name);
      if (!convNames.has(name)) {
        throw new Error(`magnitude/gradient prunes Conv2D kernels only; got scores for ${name}`);
      }
      if (s.shape.join() !== w.shape.join()) {
        throw new Error(
          `magnitude/gradient thresholds single weights (use the abs scorer); ` +
            `scores for ${name} have shape [${s.shape}], the weight [${w.shape}]`,
        );
      }
    }
    const parts = await Promise.all(entries.map(([, s]) => s.data() as Promise<Float32Array>));
    const threshold = globalThreshold(concatScores(parts), p);

    const swapped = gradientPrunedLayers(model);
    if (swapped.length) {
      for (const l of swapped) Object.assign(l, { threshold, pBern: pb });
    } else {
      ctx.model = gradientPrunedModel(model, { threshold, pBern: pb, seed: ctx.rng.int(2 ** 30) });
    }

    const perLayer: LayerPruneRow[] = entries.map(([name], i) => {
      const candidates = parts[i].reduce((n, v) => n + (v < threshold ? 1 : 0), 0);
      return {
        name,
        before: parts[i].length,
        after: parts[i].length - Math.round(candidates * pb),
      };
    });
    const kept = perLayer.reduce((n, r) => n + r.after, 0);
    const total = perLayer.reduce((n, r) => n + r.before, 0);
    return { kept, total, perLayer };
  },
};
