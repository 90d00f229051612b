/**
 * The RNI reference's training settings: SGD, momentum 0.9, Nesterov,
 * weight decay 1e-4; when the model has SigmoidBatchNorm layers their thetas
 * get 10x the learning rate and no weight decay (standard BN parameters are
 * treated like conv/dense ones); the learning rate drops x0.1 at 50% and 75%
 * of the epochs.
 *
 * @example
 * ```ts
 * await train(ctx, { epochs: 160, batchSize: 64, ...rniTrainConfig(model, { epochs: 160, lr: 0.1 }) }, emit, cancel);
 * ```
 * @module
 */
import type { OptimizerConfig, ParamGroup, Schedule, tf } from "@shears/core";
import { sigmoidBatchNorms } from "./regularizers.ts";

/** The parameter groups: SigmoidBatchNorm weights at 10x lr, no weight decay (none without SigBN). */
export function rniParamGroups(model: tf.LayersModel): ParamGroup[] {
  const sig = new Set(sigmoidBatchNorms(model).map((l) => l.name));
  if (sig.size === 0) return [];
  return [{
    match: (name) => sig.has(name.slice(0, name.lastIndexOf("/"))),
    lrMult: 10,
    weightDecay: false,
  }];
}

/** The multistep schedule: x0.1 at floor(50%) and floor(75%) of `epochs`. */
export function rniSchedule(epochs: number): Schedule {
  return {
    kind: "multistep",
    milestones: [Math.floor(epochs * 0.5), Math.floor(epochs * 0.75)],
    gamma: 0.1,
  };
}

/** Optimizer, schedule and groups of the reference for training `model` `epochs` epochs at `lr`. */
export function rniTrainConfig(
  model: tf.LayersModel,
  o: { epochs: number; lr: number; weightDecay?: number; momentum?: number },
): { optimizer: OptimizerConfig; schedule: Schedule; groups: ParamGroup[] } {
  return {
    optimizer: {
      kind: "sgd",
      lr: o.lr,
      momentum: o.momentum ?? 0.9,
      nesterov: true,
      weightDecay: o.weightDecay ?? 1e-4,
    },
    schedule: rniSchedule(o.epochs),
    groups: rniParamGroups(model),
  };
}
