/**
 * Folding BatchNorm into the linear layer before it — Conv1D / Conv2D /
 * Conv3D, Dense, DepthwiseConv2D, SeparableConv2D (its pointwise kernel),
 * Conv2DTranspose / Conv3DTranspose (Intra-Fusion's reference does this
 * before fusing, its `merge_bn`; {@link inferenceModel} does it for
 * deployment): with s = gamma / sqrt(var), each output channel's kernel
 * slice W' = W s and b' = (b - mean) s + beta; the BN layer is then set to the
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
import { resolveAxis } from "./channelwise.ts";
import { layerWeight } from "./graph.ts";
import { readScalars } from "./read.ts";
import { functionalView, type LayerSpec, rewriteLayers, wiring } from "./rewrite.ts";

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

/** A kernel scaled by s per output channel. */
type Scale = (kernel: tf.Tensor, s: tf.Tensor1D) => tf.Tensor;

const lastAxis: Scale = (k, s) => k.mul(s);
/** [..., out, in]: the output channels on the second-last axis. */
const transposed: Scale = (k, s) => k.mul(s.reshape([-1, 1]));
/** [kh, kw, in, m]: output channel c * m + i is [.., c, i]. */
const depthwise: Scale = (k, s) => k.mul(s.reshape(k.shape.slice(2)));

/** The layers a BN folds into: the weight that makes their output channels, and how to scale it. */
const FOLDS = new Map<string, { kernel: string; scale: Scale }>([
  ...["Conv1D", "Conv2D", "Conv3D", "Dense"].map((c) => [c, { kernel: "kernel", scale: lastAxis }]),
  ["SeparableConv2D", { kernel: "pointwise_kernel", scale: lastAxis }],
  ["Conv2DTranspose", { kernel: "kernel", scale: transposed }],
  ["Conv3DTranspose", { kernel: "kernel", scale: transposed }],
  ["DepthwiseConv2D", { kernel: "depthwise_kernel", scale: depthwise }],
] as [string, { kernel: string; scale: Scale }][]);

/**
 * Whether a BN after a layer of this class can be folded into it (and an activation fused).
 * @example
 * ```ts
 * isFoldTarget("DepthwiseConv2D"); // true
 * ```
 */
export function isFoldTarget(className: string): boolean {
  return FOLDS.has(className);
}

/** Pairs (producer, BN) where BN reads only the producer and nothing else reads the producer. */
function foldablePairs(model: tf.LayersModel): FoldedPair[] {
  model = functionalView(model);
  const layers = (model.getConfig() as unknown as { layers: LayerSpec[] }).layers;
  const { sources, readers } = wiring(layers);
  const outputs = new Set(model.outputs.map((o) => o.sourceLayer.name));
  const byName = new Map(layers.map((l) => [l.name, l]));
  const pairs: FoldedPair[] = [];
  for (const l of layers) {
    if (l.className !== "BatchNormalization") continue;
    const from = sources.get(l.name)!;
    const p = byName.get(from[0])!;
    // one call each: a shared layer's weights serve its other calls too
    if (from.length !== 1 || l.inboundNodes.length > 1 || p.inboundNodes.length > 1) continue;
    if (!FOLDS.has(p.className) || p.config.dataFormat === "channelsFirst") continue;
    if (p.config.activation !== undefined && p.config.activation !== "linear") continue;
    if (readers.get(p.name)!.length !== 1 || outputs.has(p.name)) continue;
    const rank = (model.getLayer(l.name).outputShape as number[]).length;
    if (resolveAxis(l.config.axis ?? -1, rank) !== rank - 1) continue;
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
      const fold = FOLDS.get(p.getClassName())!;
      const kernel = layerWeight(p, fold.kernel)!.read();
      const bias = layerWeight(p, "bias")?.read() ?? tf.zerosLike(mean);
      let newBias = bias.sub(mean).mul(s);
      if (beta) newBias = newBias.add(beta);
      values.set(key(producer, fold.kernel), tf.keep(fold.scale(kernel, s as tf.Tensor1D)));
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
