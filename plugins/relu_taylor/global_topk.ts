/**
 * The `global_topk` pruner: one global top-k over the importance of every
 * ReLU element of every MaskedReLU layer. The masks are rebuilt from scratch
 * at each call (a ReLU pruned earlier may come back) and written into the
 * layers. Ties are broken deterministically: at equal importance the element
 * earlier in model order (layer, then row-major H, W, C) is kept.
 *
 * @example
 * ```ts
 * const result = await globalTopk.prune(ctx, scores, { keepRatio: 0.1 }, {});
 * console.log(result.kept, "of", result.total);
 * ```
 * @module
 */
import {
  activationMaskLayers,
  type Budget,
  type FlagDefs,
  keepCount,
  type Options,
  type Pruner,
  type PruneResult,
  readOptions,
  type RunContext,
  type Scores,
  tf,
} from "@shears/core";

/**
 * A 0/1 mask over `values` keeping exactly `k` of them: the k largest, ties
 * broken by lower index. NaN counts as the smallest value.
 *
 * @example
 * ```ts
 * topkMask(new Float32Array([1, 3, 3, 2]), 2); // [0, 1, 1, 0]
 * ```
 */
export function topkMask(values: Float32Array, k: number): Float32Array {
  const n = values.length;
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new Error(`top-k count must be an integer in [0, ${n}], got ${k}`);
  }
  const mask = new Float32Array(n);
  if (k === 0) return mask;
  const clean = values.map((v) => (Number.isNaN(v) ? -Infinity : v));
  const sorted = clean.slice().sort();
  const threshold = sorted[n - k];
  let above = 0;
  for (let i = 0; i < n; i++) {
    if (clean[i] > threshold) {
      mask[i] = 1;
      above++;
    }
  }
  for (let i = 0, ties = k - above; i < n && ties > 0; i++) {
    if (clean[i] === threshold) {
      mask[i] = 1;
      ties--;
    }
  }
  return mask;
}

/**
 * Writes global top-k masks from `scores` (target "activations", keyed by
 * MaskedReLU layer name) into the MaskedReLU layers of `model`, and returns
 * the per-layer table (before = elements, after = ReLUs still active) and how
 * many kept ReLUs had been pruned by the masks it replaced (`revived`).
 */
export async function applyGlobalTopk(
  model: tf.LayersModel,
  scores: Scores,
  budget: Budget,
  opts: GlobalTopkOptions = {},
): Promise<PruneResult> {
  if (scores.target !== "activations") {
    throw new Error(`global_topk needs activation scores, got '${scores.target}' scores`);
  }
  const layers = activationMaskLayers(model);
  if (layers.length === 0) throw new Error("global_topk: the model has no MaskedReLU layers");
  const sizes = layers.map((l) => (l.mask.shape as number[]).reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const parts = layers.map((layer, i) => {
    const s = scores.values.get(layer.name);
    if (!s) {
      throw new Error(
        `global_topk: no scores for MaskedReLU '${layer.name}'; scores have: ${
          [...scores.values.keys()].join(", ")
        }`,
      );
    }
    if (s.size !== sizes[i]) {
      throw new Error(
        `global_topk: scores for '${layer.name}' have shape [${s.shape}], mask has [${layer.mask.shape}]`,
      );
    }
    return s;
  });
  const all = new Float32Array(total), before = new Float32Array(total);
  let offset = 0;
  for (const [i, s] of parts.entries()) {
    const values = await s.data() as Float32Array;
    all.set(opts.layerNorm === "mean" ? byLayerMean(values) : values, offset);
    before.set(await layers[i].mask.read().data() as Float32Array, offset);
    offset += sizes[i];
  }
  const k = keepCount(budget, total); // max(1, floor(N * keep)), or an exact count
  const mask = opts.monotone ? shrinkingTopk(all, before, k) : topkMask(all, k);
  offset = 0;
  let revived = 0;
  const perLayer = [];
  for (const [i, layer] of layers.entries()) {
    const part = mask.subarray(offset, offset + sizes[i]);
    const old = before.subarray(offset, offset + sizes[i]);
    offset += sizes[i];
    for (let j = 0; j < part.length; j++) if (part[j] === 1 && old[j] === 0) revived++;
    tf.tidy(() => layer.setMask(tf.tensor(part, layer.mask.shape as number[])));
    perLayer.push({ name: layer.name, before: sizes[i], after: part.reduce((a, b) => a + b, 0) });
  }
  return { kept: k, total, perLayer, revived };
}

/**
 * How scores are made comparable across layers before the global top-k:
 * `none` (the reference: raw scores), or `mean` (each layer's scores divided by
 * their mean, so a layer competes by how its elements stand against each
 * other rather than by the scale of its gradients).
 */
export type LayerNorm = "none" | "mean";

/** Options of {@link applyGlobalTopk}. */
export interface GlobalTopkOptions {
  /** Cross-layer normalisation [none]. */
  layerNorm?: LayerNorm;
  /**
   * Masks only shrink: the top-k is taken among the ReLUs kept now (a pruned
   * one never returns while k <= the kept count). Default false: the
   * reference rebuilds from scratch.
   */
  monotone?: boolean;
}

/**
 * The top-k of `values` among the elements `kept` marks; when k exceeds their
 * count, all of them and the best of the others.
 */
function shrinkingTopk(values: Float32Array, kept: Float32Array, k: number): Float32Array {
  const n = kept.reduce((a, b) => a + b, 0);
  const among = (inKept: boolean) =>
    values.map((v, j) => (kept[j] === 1) === inKept ? v : -Infinity);
  if (k <= n) return topkMask(among(true), k);
  const extra = topkMask(among(false), k - n);
  return kept.map((m, j) => Math.max(m, extra[j]));
}

/** `values` over their mean (unchanged when the mean is 0 or not finite). */
function byLayerMean(values: Float32Array): Float32Array {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  return mean > 0 && Number.isFinite(mean) ? values.map((v) => v / mean) : values;
}

const topkOptions = {
  layer_norm: {
    type: "string",
    default: "none",
    choices: ["none", "mean"],
    help: "scores per layer before the global top-k: none (the reference) or over their mean",
  },
  monotone: {
    type: "boolean",
    default: false,
    help: "masks only shrink (a pruned ReLU never returns); the reference rebuilds them",
  },
} satisfies FlagDefs;

/** The `global_topk` pruner: {@link applyGlobalTopk} on `ctx.model`. */
export const globalTopk: Pruner = {
  target: "activations",
  description:
    "one global top-k over all ReLU elements (k = max(1, floor(N * keep)) or an exact count); " +
    "masks rebuilt from scratch, ties to the earlier element",
  options: topkOptions,
  async prune(
    ctx: RunContext,
    scores: Scores,
    budget: Budget,
    options: Options = {},
  ): Promise<PruneResult> {
    if (!ctx.model) throw new Error("global_topk: the run has no model loaded");
    const o = readOptions(topkOptions, options, "relu_taylor/global_topk");
    return await applyGlobalTopk(ctx.model, scores, budget, {
      layerNorm: o.layer_norm as LayerNorm,
      monotone: o.monotone,
    });
  },
};
