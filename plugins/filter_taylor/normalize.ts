/**
 * The seed's per-layer rank normalisation (`normalize_ranks_per_layer`):
 * r <- |r|, then r <- r / ||r||_2 within each layer (channel group), so
 * ranks of layers of different scale compete in one global selection.
 * @module
 */
import { tf } from "@shears/core";

/**
 * |r| / ||r||_2 of a 1-D rank vector; an all-zero vector stays zero.
 *
 * @example
 * ```ts
 * normalizeRanks(tf.tensor1d([3, -4])); // [0.6, 0.8]
 * ```
 */
export function normalizeRanks(r: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const a = tf.abs(r);
    const norm = tf.sqrt(tf.sum(tf.square(a)));
    return tf.div(a, tf.maximum(norm, 1e-30)) as tf.Tensor1D;
  });
}

/** The `normalize` option of both scorers. */
export const normalizeOption = {
  type: "boolean",
  default: true,
  help: "|r| / ||r||_2 per layer (the seed); false gives the raw signed sums",
} as const;
