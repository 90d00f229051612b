/**
 * Shears' replacements for slow tfjs-backend-webgpu kernels, composed from the
 * backend's own kernels (see filter_grads.ts for why and how).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * registerWebGpuKernels();
 * await tf.setBackend("webgpu");
 * ```
 * @module
 */
import { tf } from "../../tf.ts";
import { convFilterGradConfig, depthwiseFilterGradConfig } from "./filter_grads.ts";

const replacements: [string, (original: tf.KernelConfig) => tf.KernelConfig][] = [
  ["Conv2DBackpropFilter", convFilterGradConfig],
  ["DepthwiseConv2dNativeBackpropFilter", depthwiseFilterGradConfig],
];

let registered = false;

/**
 * Replaces tfjs-backend-webgpu's filter-gradient kernels with Shears' (the
 * originals stay in use for NCHW). Safe to call more than once; call it after
 * importing tfjs-backend-webgpu.
 */
export function registerWebGpuKernels(): void {
  if (registered) return;
  for (const [name, replace] of replacements) {
    const original = tf.getKernel(name, "webgpu");
    if (original == null) throw new Error(`tfjs-backend-webgpu has no ${name} kernel`);
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel(replace(original));
  }
  registered = true;
}
