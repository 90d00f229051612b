/**
 * The recalibrateBatchNorm stage: re-estimates the moving statistics of every
 * BatchNormalization layer of `ctx.model` on training batches, after a prune
 * or a short fine-tune left them stale (a layer with momentum 0.99, Keras'
 * default, moves only 1% of the way per batch; every evaluation and the
 * export normalise with them).
 *
 * Each batch (no augmentation) runs forward in training mode, as a training
 * step does (core/train.ts), so every BN layer sees its input as in training
 * (normalised upstream by batch statistics; dropout active). Its momentum is
 * set to 0 meanwhile, so tfjs's update leaves exactly that batch's mean and
 * (biased) variance in the moving statistics, which are merged into the
 * population statistics of all the batches' examples (Chan et al.'s pairwise
 * update): the moving mean and variance become the mean and variance of the
 * layer's inputs over those batches, whatever the momentum (the PreciseBN of
 * Wu & Johnson, "Rethinking Batch in BatchNorm", 2021). Then each layer's
 * momentum is restored; no other weight changes. A cancel or an error
 * restores the statistics as they were.
 *
 * Only tfjs's own BatchNormalization is re-estimated; layers of their own
 * that hold statistics too (rni's SigmoidBatchNorm) are left as they are.
 * @module
 */
import { tf } from "../tf.ts";
import { cancelPoint, type Stage, stage } from "../pipeline.ts";
import { layerWeight } from "../graph.ts";
import { leafLayers } from "../metrics.ts";
import { batchCount } from "../data.ts";

/** What {@link recalibrateBatchNorm} runs on. */
export interface RecalibrateSpec {
  /** Training batches to estimate on (at most the whole training split). */
  batches: number;
  /** Default 64. */
  batchSize?: number;
  /** Seed of the batches' shuffle; default 0. */
  seed?: number;
}

/**
 * The BatchNormalization layers of `model`, nested models included, in model order.
 *
 * @example
 * ```ts
 * const keras = batchNormLayers(model).some((l) => l.getConfig().momentum === 0.99);
 * ```
 */
export function batchNormLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return leafLayers(model).filter((l) => l.getClassName() === "BatchNormalization");
}

/** tfjs declares a BatchNormalization's momentum private; it reads it at each call. */
type WithMomentum = { momentum: number };

/**
 * Re-estimates the moving mean and variance of every BatchNormalization layer
 * of `ctx.model` on `batches` training batches (see the module doc); logs
 * "BN statistics re-estimated on N batches (L layers)" and records N as the
 * metric `bn_batches` (step: the enclosing step's, from 1).
 *
 * @example
 * ```ts
 * [mask({ pruner, scores, budget }), finetune({ epochs: 1 }), recalibrateBatchNorm({ batches: 50 })];
 * ```
 */
export function recalibrateBatchNorm(spec: RecalibrateSpec): Stage {
  return stage("recalibrate BN", async (ctx, emit, cancel) => {
    const { model, data } = ctx;
    if (!model || !data) throw new Error("recalibrateBatchNorm needs ctx.model and ctx.data");
    if (!Number.isInteger(spec.batches) || spec.batches < 1) {
      throw new Error(`recalibrateBatchNorm needs batches >= 1, got ${spec.batches}`);
    }
    const layers = batchNormLayers(model);
    if (!layers.length) {
      return emit.log("no BatchNormalization layer: no BN statistics to re-estimate");
    }
    const stats = layers.map((l) =>
      ["moving_mean", "moving_variance"].map((p) => layerWeight(l, p)!)
    );
    const momenta = layers.map((l) => (l as unknown as WithMomentum).momentum);
    const saved = stats.map((s) => s.map((v) => v.read().clone()));
    let pooled: tf.Tensor[][] = [], n = 0, b = 0, done = false;
    const batchSize = spec.batchSize ?? 64;
    const opts = {
      batchSize,
      shuffle: true,
      seed: spec.seed ?? 0,
      limit: spec.batches * batchSize,
      dropLast: data.size("train") >= batchSize, // a tiny last batch has noisy statistics
    };
    const total = batchCount(data, "train", opts);
    try {
      for (const l of layers) (l as unknown as WithMomentum).momentum = 0;
      for (const batch of data.batches("train", opts)) {
        try {
          await cancelPoint(cancel);
          tf.tidy(() => stats.forEach((s) => s.forEach((v) => v.write(tf.zerosLike(v.read())))));
          tf.tidy(() => void model.apply(batch.x, { training: true }));
          const k = batch.x.shape[0], t = n + k;
          // Chan et al.: pool the n examples so far with this batch's k
          const next = tf.tidy(() =>
            stats.map(([mean, variance], i) => {
              if (!n) return [mean.read().clone(), variance.read().clone()];
              const [m, v] = pooled[i], delta = mean.read().sub(m);
              return [
                m.add(delta.mul(k / t)),
                v.mul(n / t).add(variance.read().mul(k / t)).add(delta.square().mul(n * k / t / t)),
              ];
            })
          );
          tf.dispose(pooled);
          pooled = next;
          n = t;
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
        emit.progress("BN statistics", ++b, total);
      }
      if (!b) throw new Error("recalibrateBatchNorm: the training split has no examples");
      stats.forEach((s, i) => s.forEach((v, j) => v.write(pooled[i][j]))); // a copy: freed below
      done = true;
    } finally {
      layers.forEach((l, i) => ((l as unknown as WithMomentum).momentum = momenta[i]));
      if (!done) stats.forEach((s, i) => s.forEach((v, j) => v.write(saved[i][j])));
      tf.dispose([saved, pooled]);
    }
    emit.metric("bn_batches", b, ctx.step.index + 1);
    emit.log(`BN statistics re-estimated on ${b} batches (${layers.length} layers)`);
  });
}
