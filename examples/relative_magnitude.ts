/**
 * An example Shears plugin: each Conv2D weight scored by |w| divided by the
 * mean |w| of its layer, so one global threshold does not empty a layer
 * whose weights are all small. Combine it with any `weights` pruner, e.g.
 * `magnitude/global`.
 * @module
 */
import { type Plugin, type Scorer, tf } from "@shears/core";

const relative: Scorer = {
  target: "weights",
  description: "|w| / mean |w| of the layer, for every Conv2D kernel",
  batches: 0, // from the weights alone: no data pass
  start: (ctx) => ({
    taps: [],
    scores: () => {
      const values = new Map<string, tf.Tensor>();
      for (const layer of ctx.model!.layers) {
        if (layer.getClassName() !== "Conv2D") continue;
        const kernel = layer.getWeights()[0];
        values.set(`${layer.name}/kernel`, tf.tidy(() => kernel.abs().div(kernel.abs().mean())));
      }
      return { target: "weights", values };
    },
    dispose() {},
  }),
};

const plugin: Plugin = { name: "relative_magnitude", scorers: { relative } };
export default plugin;
