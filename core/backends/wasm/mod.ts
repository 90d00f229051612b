/**
 * Shears' additions to tfjs-backend-wasm: gradient kernels it lacks and faster
 * replacements for slow ones, all composed from wasm's own kernels.
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-wasm";
 * registerWasmKernels();
 * await tf.setBackend("wasm");
 * ```
 * @module
 */
import { tf } from "../../tf.ts";
import {
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
} from "./conv_grads.ts";

const kernels: tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
];

/** Registers (or replaces) Shears' wasm kernels. Safe to call more than once. */
export function registerWasmKernels(): void {
  for (const k of kernels) {
    if (tf.getKernel(k.kernelName, "wasm") === k) continue;
    if (tf.getKernel(k.kernelName, "wasm") != null) tf.unregisterKernel(k.kernelName, "wasm");
    tf.registerKernel(k);
  }
}
