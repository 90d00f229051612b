/**
 * The one place Shears imports TensorFlow.js from, so every module shares one
 * engine (one set of registered kernels, one memory tracker).
 *
 * @example
 * ```ts
 * import { tf } from "@shears/core";
 * const y = tf.tidy(() => tf.ones([2]).add(1));
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

// Production mode: no debug checks, and no "install tfjs-node" banner on the cpu backend.
tf.env().set("PROD", true);

export { tf };
