/**
 * Folding BatchNorm into the Conv2D / Dense layer before it (Intra-Fusion's
 * reference does this before fusing, its `merge_bn`; {@link inferenceModel}
 * does it for deployment): with s = gamma / sqrt(var),
 * W' = W s and b' = (b - mean) s + beta; the BN layer is then set to the
 * identity (gamma 1, beta 0, mean 0, variance 1 - epsilon, so tfjs'
 * (x - mean) / sqrt(var + epsilon) is x). The reference leaves epsilon out of
 * s; `includeEps: true` puts it in (then the folded model computes exactly
 * what the original does in inference mode). A producer without a bias gets
 * one. Only a BN that is the sole reader of its producer's output is folded.
 *
 * @example
 * ```ts
 * const { model: folded, folded: pairs } = await foldBatchNorm(model, { includeEps: true });
 * // pairs: [{ producer: "features_conv1", bn: "features_bn1" }, ...]
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import { layerWeight } from "./graph.ts";
import { readScalars } from "./read.ts";
import { type LayerSpec, rewriteLayers, wiring } from "./rewrite.ts";

/** Options of {@link foldBatchNorm}. */
export interface FoldOptions {
  /** Put BN's epsilon into the scale (exact); default false, as the reference. */
  includeEps?: boolean;
}

/** A producer and the BN folded into it. */
export interface FoldedPair {
  producer: string;
  bn: string;
}

/** Pairs (producer, BN) where BN reads only the producer and nothing else reads the producer. */
function foldablePairs(model: tf.LayersModel): FoldedPair[] {
  const layers = (model.getConfig() as unknown as { layers: LayerSpec[] }).layers;
  const { sources, readers } = wiring(layers);
  const outputs = new Set(model.outputs.map((o) => o.sourceLayer.name));
  const byName = new Map(layers.map((l) => [l.name, l]));
  const pairs: FoldedPair[] = [];
  for (const l of layers) {
    if (l.className !== "BatchNormalization") continue;
    const from = sources.get(l.name)!;
    if (from.length !== 1) continue;
    const p = byName.get(from[0])!;
    if (p.className !== "Conv2D" && p.className !== "Dense") continue;
    if (p.config.activation !== undefined && p.config.activation !== "linear") continue;
    if (readers.get(p.name)!.length !== 1 || outputs.has(p.name)) continue;
    const axis = l.config.axis;
    if (axis !== -1 && !(Array.isArray(axis) && axis.length === 1 && axis[0] === -1)) {
      const rank = (model.getLayer(l.name).outputShape as number[]).length;
      if (axis !== rank - 1 && !(Array.isArray(axis) && axis[0] === rank - 1)) continue;
    }
    pairs.push({ producer: p.name, bn: l.name });
  }
  return pairs;
}

/** BN parameter values (defaults for absent gamma / beta). */
function bnParams(layer: tf.layers.Layer) {
  const get = (p: string) => layerWeight(layer, p)?.read();
  const eps = (layer.getConfig() as { epsilon: number }).epsilon;
  return {
    gamma: get("gamma"),
    beta: get("beta"),
    mean: get("moving_mean")!,
    variance: get("moving_variance")!,
    eps,
  };
}

/** Whether a BN layer already computes the identity (folded before). */
export async function isIdentityBn(layer: tf.layers.Layer): Promise<boolean> {
  const { gamma, beta, mean, variance, eps } = bnParams(layer);
  const all: [tf.Tensor | undefined, number, number][] = [
    [gamma, 1, 0],
    [beta, 0, 0],
    [mean, 0, 0],
    [variance, 1 - eps, 1e-7],
  ];
  const checks = all.filter((c): c is [tf.Tensor, number, number] => c[0] !== undefined);
  const gaps = await readScalars(() => checks.map(([t, v]) => t.sub(v).abs().max()));
  return gaps.every((gap, i) => gap <= checks[i][2]);
}

/**
 * A new model with every foldable BN folded into its producer (see the module
 * doc); the input model is left as it was. BNs that already are the identity
 * are skipped, so folding twice changes nothing.
 */
export async function foldBatchNorm(
  model: tf.LayersModel,
  options: FoldOptions = {},
): Promise<{ model: tf.LayersModel; folded: FoldedPair[] }> {
  const candidates = foldablePairs(model);
  const identity = await Promise.all(candidates.map((p) => isIdentityBn(model.getLayer(p.bn))));
  const pairs = candidates.filter((_, i) => !identity[i]);
  const values = new Map<string, tf.Tensor>(); // "layer/param" -> new value
  const key = (layer: string, param: string) => `${layer}/${param}`;
  tf.tidy(() => {
    for (const { producer, bn } of pairs) {
      const p = model.getLayer(producer), b = model.getLayer(bn);
      const { gamma, beta, mean, variance, eps } = bnParams(b);
      const denom = (options.includeEps ? variance.add(eps) : variance.maximum(1e-30)).sqrt();
      const s = gamma ? gamma.div(denom) : tf.onesLike(denom).div(denom);
      const kernel = layerWeight(p, "kernel")!.read();
      const bias = layerWeight(p, "bias")?.read() ?? tf.zerosLike(mean);
      let newBias = bias.sub(mean).mul(s);
      if (beta) newBias = newBias.add(beta);
      values.set(key(producer, "kernel"), tf.keep(kernel.mul(s))); // s broadcasts on the last axis
      values.set(key(producer, "bias"), tf.keep(newBias));
      if (gamma) values.set(key(bn, "gamma"), tf.keep(tf.onesLike(gamma)));
      if (beta) values.set(key(bn, "beta"), tf.keep(tf.zerosLike(beta)));
      values.set(key(bn, "moving_mean"), tf.keep(tf.zerosLike(mean)));
      values.set(key(bn, "moving_variance"), tf.keep(tf.onesLike(variance).mul(1 - eps)));
    }
  });
  const producers = new Set(pairs.map((p) => p.producer));
  try {
    const out = rewriteLayers(
      model,
      (spec) =>
        producers.has(spec.name) ? { ...spec, config: { ...spec.config, useBias: true } } : spec,
      { weight: (layer, param, value) => values.get(key(layer, param))?.clone() ?? value.clone() },
    );
    // Producers that had no bias: their new bias is not copied by rewriteLayers.
    for (const name of producers) {
      layerWeight(out.getLayer(name), "bias")!.write(values.get(key(name, "bias"))!);
    }
    return { model: out, folded: pairs };
  } finally {
    for (const v of values.values()) v.dispose();
  }
}
