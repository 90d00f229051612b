/**
 * Fixtures for the relu_taylor tests: a tiny model with three MaskedReLU
 * layers and a minimal RunContext around a model.
 * @module
 */
import { MaskedReLU, type RunContext, tf } from "@shears/core";
import reluTaylor from "@shears/relu_taylor";
import { testContext } from "./context.ts";

/** Mask shapes (H, W, C) of r0, r1, r2 in {@link tinyModel}. */
export const SHAPES = [[1, 2, 2], [1, 2, 3], [1, 1, 2]];

/**
 * input (1,2,2) -> r0 -> conv 1x1 -> r1 -> conv 1x2 -> r2 -> dense 2, with
 * seeded initial weights: tests that need a live ReLU (e.g. r2 receiving
 * positive inputs) must not depend on the draw.
 */
export function tinyModel(): tf.LayersModel {
  const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }) });
  const inp = tf.input({ shape: [1, 2, 2] });
  let x = new MaskedReLU({ name: "r0" }).apply(inp) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 3, kernelSize: 1, ...init(1) }).apply(x) as tf.SymbolicTensor;
  x = new MaskedReLU({ name: "r1" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 2, kernelSize: [1, 2], ...init(2) }).apply(
    x,
  ) as tf.SymbolicTensor;
  x = new MaskedReLU({ name: "r2" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  return tf.model({
    inputs: inp,
    outputs: tf.layers.dense({ units: 2, ...init(3) }).apply(x) as tf.SymbolicTensor,
  });
}

/** A RunContext holding `model`, with a seeded rng and the relu_taylor plugin registered. */
export function makeCtx(model: tf.LayersModel, seed = 7): RunContext {
  return testContext({ model, seed, plugins: [reluTaylor] });
}
