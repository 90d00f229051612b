/**
 * The L1 filter norm baseline (Li et al. 2017, "Pruning Filters for
 * Efficient ConvNets"): a filter's rank is Σ|w| over its kernel (kh, kw,
 * cin); a group of convs coupled through residual Adds sums its producers'
 * norms. Computed from the weights alone. With `normalize` (default true) the
 * ranks get the same per-layer |r| / ||r||_2 as the Taylor ranks, so the two
 * scorers meet the global pruner on equal terms (Li et al. prune a fixed
 * share per layer instead; `normalize: false` gives the raw norms).
 *
 * @example
 * ```ts
 * const scores = await l1Scorer.start(ctx, {}).scores(); // group id -> [group size]
 * ```
 * @module
 */
import {
  type FlagDefs,
  type Options,
  producerKernels,
  readOptions,
  type RunContext,
  type Scorer,
  type ScoreRequest,
  type Scores,
  tf,
} from "@shears/core";
import { groupsToScore } from "./groups.ts";
import { normalizeOption, normalizeRanks } from "./normalize.ts";

/**
 * L1 norms of the filters of every filter group of `model` (or of the
 * groups `ids` names): group id -> [group size].
 */
export function filterL1(
  model: tf.LayersModel,
  normalize = true,
  ids?: string[],
): Map<string, tf.Tensor1D> {
  const values = new Map<string, tf.Tensor1D>();
  for (const g of groupsToScore(model, ids)) {
    const kernels = producerKernels(model, g);
    values.set(
      g.id,
      tf.tidy(() => {
        const r = kernels.map((k) => tf.sum(tf.abs(k), 1)).reduce((a, b) => tf.add(a, b));
        return normalize ? normalizeRanks(r as tf.Tensor1D) : r as tf.Tensor1D;
      }),
    );
    tf.dispose(kernels);
  }
  return values;
}

const l1Options = { normalize: normalizeOption } satisfies FlagDefs;

/** The L1 filter-norm scorer (`filter_taylor/l1`). */
export const l1Scorer: Scorer = {
  target: "channels",
  description: "filter L1 norm Σ|w| (Li et al. 2017), |r|/||r||_2 per layer",
  options: l1Options,
  batches: 0,
  start(ctx: RunContext, options: Options, request: ScoreRequest = {}) {
    const { normalize } = readOptions(l1Options, options, "filter_taylor/l1");
    return {
      taps: [],
      scores(): Scores {
        if (!ctx.model) throw new Error("l1 scorer: the run has no model loaded");
        return { target: "channels", values: filterL1(ctx.model, normalize, request.groups) };
      },
      dispose() {},
    };
  },
};
