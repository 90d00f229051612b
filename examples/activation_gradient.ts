/**
 * An example Shears plugin for the `activations` target: each ReLU element
 * (of every MaskedReLU layer) scored by the mean over batches of
 * mean_batch |x * dx|, x the ReLU's input and dx the loss gradient there,
 * seen through taps. A tap `{ layer, at: "input" }` asks the training loop
 * for the layer's input and its gradient on every batch: `onTap(key, x, dy)`
 * runs inside the backward pass (synchronous, tensors only; x and dy live
 * only during the call), `onBatchEnd` after each step. Scores are keyed by
 * MaskedReLU layer name, one value per element (H, W, C). Combine it with
 * any `activations` pruner, e.g. `relu_taylor/global_topk`.
 * @module
 */
import {
  activationMaskLayers,
  type Plugin,
  type Scorer,
  type Scores,
  type ScoreSession,
  tapKey,
  tf,
} from "@shears/core";

const xg: Scorer = {
  target: "activations",
  description: "mean |x * dx| at each MaskedReLU element (an example plugin)",
  batches: 20, // the one-shot score stage runs 20 batches (no optimizer step)
  start: (ctx): ScoreSession => {
    const layers = activationMaskLayers(ctx.model!);
    const taps = layers.map((l) => ({ layer: l.name, at: "input" as const }));
    const sums = new Map<string, tf.Tensor>();
    let batches = 0;
    return {
      taps,
      onTap(key, x, dy) {
        const layer = taps.find((t) => tapKey(t) === key)!.layer;
        const old = sums.get(layer);
        sums.set(layer, tf.keep(tf.tidy(() => x.mul(dy).abs().mean(0).add(old ?? 0))));
        old?.dispose();
      },
      onBatchEnd() {
        batches++;
      },
      scores(): Scores {
        const values = new Map<string, tf.Tensor>();
        for (const l of layers) {
          const s = sums.get(l.name);
          values.set(l.name, s ? s.div(Math.max(1, batches)) : tf.zeros(l.mask.shape as number[]));
        }
        return { target: "activations", values };
      },
      dispose() {
        sums.forEach((t) => t.dispose());
        sums.clear();
      },
    };
  },
};

const plugin: Plugin = { name: "activation_gradient", scorers: { xg } };
export default plugin;
