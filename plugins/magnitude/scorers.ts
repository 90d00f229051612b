/**
 * Magnitude scorers (target `weights`, computed from the weights alone):
 * - `abs`: |w| for every single weight (value of the weight's shape);
 * - `kernel_l1`: Σ|w| over each kernel's kh×kw, one score per (in, out) pair,
 *   as the seed's code scores. The value has shape [1, 1, in, out] for a conv
 *   kernel [kh, kw, in, out] — broadcastable to the weight, one element per
 *   pruning unit — and the weight's own shape for a Dense kernel (a 1x1 unit).
 *
 * Both score the kernels of {@link prunableKernels} (Conv2D; Dense with
 * `include: "dense"`).
 *
 * @example
 * ```ts
 * const session = absScorer.start(ctx, {});
 * const scores = await session.scores(); // Map "conv1/kernel" -> |W|
 * ```
 * @module
 */
import {
  type Options,
  readOptions,
  type RunContext,
  type Scorer,
  type Scores,
  tf,
} from "@shears/core";
import { type Includable, scorerOptions } from "./options.ts";
import { prunableKernels } from "./prunable.ts";

/** Reduces one kernel to its score tensor. */
type Reduce = (w: tf.Tensor) => tf.Tensor;

function magnitudeScorer(name: string, description: string, reduce: Reduce): Scorer {
  return {
    target: "weights",
    description,
    options: scorerOptions,
    batches: 0,
    start(ctx: RunContext, options: Options) {
      const include = readOptions(scorerOptions, options, name).include as Includable[];
      return {
        taps: [],
        scores(): Scores {
          if (!ctx.model) throw new Error("magnitude scorer: the run has no model loaded");
          const values = new Map<string, tf.Tensor>();
          for (const k of prunableKernels(ctx.model, include)) {
            values.set(k.name, tf.tidy(() => reduce(k.variable.read())));
          }
          return { target: "weights", values };
        },
        dispose() {},
      };
    },
  };
}

/** |w| per single weight. */
export const absScorer: Scorer = magnitudeScorer(
  "magnitude/abs",
  "|w| of every single Conv2D (and optionally Dense) weight",
  (w) => tf.abs(w),
);

/** Σ|w| over each kernel's kh×kw (shape [1, 1, in, out]); Dense weights score |w|. */
export const kernelL1Scorer: Scorer = magnitudeScorer(
  "magnitude/kernel_l1",
  "sum of |w| over each kh×kw kernel of every Conv2D layer (one score per in/out pair)",
  (w) => w.rank === 4 ? tf.sum(tf.abs(w), [0, 1], true) : tf.abs(w),
);
