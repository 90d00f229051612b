/**
 * The `bn_scale` scorer: a channel's importance is its batch-norm scale,
 * sigmoid(theta) for a SigmoidBatchNorm, |gamma| for a BatchNormalization.
 * Scores are keyed by channel-group id (core/graph.ts), one per prunable BN.
 *
 * Which BNs are prunable follows the RNI reference: a BN whose channel group
 * it alone normalises. On VGG-16-BN that is all 13; on ResNet-56 it is each
 * block's first BN (conv1 out, bn1, conv2 in): the second BNs, the stem BN
 * and everything joined by residual adds share a group with other BNs and
 * are left alone. Option `layers` names the BNs explicitly instead.
 *
 * @example
 * ```ts
 * const session = bnScaleScorer.start(ctx, {});
 * const scores = await session.scores(); // Map<groupId, Tensor1D>
 * ```
 * @module
 */
import {
  buildChannelGraph,
  type ChannelGraph,
  type ChannelGroup,
  type FlagDefs,
  readOptions,
  type Scorer,
  type Scores,
  tf,
} from "@shears/core";
import { SigmoidBatchNorm } from "./sigmoid_bn.ts";
import { gammaOf } from "./regularizers.ts";

const BN_CLASSES = new Set(["BatchNormalization", "SigmoidBatchNorm"]);

/** A prunable batch norm: its layer, its channel group, and group channel j -> BN channel. */
export interface PrunableBn {
  layer: string;
  group: ChannelGroup;
  /** For each group channel j, the BN's channel carrying it. */
  index: number[];
}

/**
 * The prunable batch norms of `model` (see the module doc), in model order;
 * `layers` picks them by name instead (each must be the only BN of a prunable group).
 */
export function prunableBatchNorms(
  model: tf.LayersModel,
  graph: ChannelGraph = buildChannelGraph(model),
  layers?: string[],
): PrunableBn[] {
  const out: PrunableBn[] = [];
  const named = new Map<string, string>(); // BN layer -> why it cannot be used
  for (const group of graph.groups) {
    const bns = [
      ...new Set(group.followers.filter((f) => BN_CLASSES.has(f.className)).map((f) => f.layer)),
    ];
    const why = !group.prunable
      ? `its channel group '${group.id}' ${group.reason}`
      : bns.length > 1
      ? `its channel group '${group.id}' has ${bns.length} batch norms (${bns.join(", ")})`
      : undefined;
    for (const layer of bns) {
      const ref = group.followers.find((f) => f.layer === layer)!;
      if (why || ref.index.some((c) => c < 0)) {
        named.set(layer, why ?? `it does not see all channels of group '${group.id}'`);
      } else {
        out.push({ layer, group, index: ref.index });
      }
    }
  }
  if (!layers) return out;
  return layers.map((name) => {
    const bn = out.find((b) => b.layer === name);
    if (bn) return bn;
    const why = named.get(name);
    throw new Error(
      why
        ? `batch norm '${name}' cannot be pruned: ${why}`
        : `no batch norm layer '${name}' in the model`,
    );
  });
}

/** The importance of each channel of a BN layer: sigmoid(theta) or |gamma|. Caller disposes. */
export function bnScale(layer: tf.layers.Layer): tf.Tensor1D {
  if (layer instanceof SigmoidBatchNorm) return layer.scales();
  if (layer.getClassName() !== "BatchNormalization") {
    throw new Error(`layer '${layer.name}' (${layer.getClassName()}) is not a batch norm`);
  }
  return tf.tidy(() => gammaOf(layer).read().abs() as tf.Tensor1D);
}

/** bn_scale scores of every prunable BN of `model`, keyed by group id. */
export function bnScaleScores(model: tf.LayersModel, layers?: string[]): Scores {
  const values = new Map<string, tf.Tensor>();
  for (const bn of prunableBatchNorms(model, undefined, layers)) {
    const s = bnScale(model.getLayer(bn.layer));
    values.set(bn.group.id, tf.tidy(() => s.gather(bn.index)));
    s.dispose();
  }
  if (values.size === 0) throw new Error(`model '${model.name}' has no prunable batch norm`);
  return { target: "channels", values };
}

const bnScaleOptions = {
  layers: { type: "strings", help: "the batch norms to score (default: every prunable one)" },
} satisfies FlagDefs;

/** The scorer as the plugin registers it. */
export const bnScaleScorer: Scorer = {
  target: "channels",
  description: "batch-norm scale per channel: sigmoid(theta) (SigmoidBatchNorm) or |gamma| (BN)",
  options: bnScaleOptions,
  batches: 0,
  start(ctx, options) {
    const { layers } = readOptions(bnScaleOptions, options, "rni/bn_scale");
    return {
      taps: [],
      scores: () => {
        if (!ctx.model) throw new Error("the bn_scale scorer needs ctx.model");
        return bnScaleScores(ctx.model, layers);
      },
      dispose() {},
    };
  },
};
