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
import { maxPoolGradConfig } from "./max_pool_grad.ts";
import { leadingReduceConfig, padConfig, sharingConfig } from "./fast_paths.ts";
import { tileConfig } from "./tile.ts";

const kernels: tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  maxPoolGradConfig,
];

let registered = false;

/** Registers (or replaces) Shears' wasm kernels. Safe to call more than once. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const original = (name: string) => tf.getKernel(name, "wasm");
  const wrapped = [
    tileConfig(original("Tile")),
    leadingReduceConfig("Sum", original("Sum")),
    leadingReduceConfig("Mean", original("Mean")),
    sharingConfig("Identity", original("Identity")),
    sharingConfig("Cast", original("Cast")),
    sharingConfig("Slice", original("Slice")),
    padConfig(original("PadV2")),
  ];
  for (const k of [...kernels, ...wrapped]) {
    if (tf.getKernel(k.kernelName, "wasm") === k) continue;
    if (tf.getKernel(k.kernelName, "wasm") != null) tf.unregisterKernel(k.kernelName, "wasm");
    tf.registerKernel(k);
  }
}
