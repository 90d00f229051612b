/**
 * Which weights magnitude pruning looks at: the kernel of every Conv2D layer
 * (stem and 1x1 shortcuts included, gradient-pruned convs too), plus Dense
 * kernels when asked. Biases, BN parameters and depthwise kernels are never
 * included.
 *
 * @example
 * ```ts
 * const names = prunableKernels(model, ["dense"]).map((k) => k.name); // ["conv1/kernel", ...]
 * ```
 * @module
 */
import type { tf } from "@shears/core";
import type { Includable } from "./options.ts";

type LayerVariable = tf.LayersModel["weights"][number];

/** A prunable kernel: its weight name (`conv1/kernel`) and variable. */
export interface PrunableKernel {
  name: string;
  variable: LayerVariable;
}

const CONV_CLASSES = new Set(["Conv2D", "GradientPrunedConv2D"]);

/** The prunable kernels of `model`, in layer order. */
export function prunableKernels(
  model: tf.LayersModel,
  include: readonly Includable[] = [],
): PrunableKernel[] {
  const classes = new Set(CONV_CLASSES);
  if (include.includes("dense")) classes.add("Dense");
  const out: PrunableKernel[] = [];
  for (const layer of model.layers) {
    if (!classes.has(layer.getClassName())) continue;
    const kernel = layer.weights.find((w) => w.originalName === `${layer.name}/kernel`);
    if (kernel) out.push({ name: kernel.originalName, variable: kernel });
  }
  return out;
}
