/**
 * Shears' replacements for tfjs-backend-webgpu kernels, each behind a tfjs
 * flag read at every call, so a profile or a test can compare both paths in
 * one process:
 *
 * - `SHEARS_WEBGPU_PARALLEL_FILTER_GRADS` (default off; env var of the same
 *   name = 1 turns it on): the filter gradients as parallel matmuls
 *   (filter_grads.ts) instead of one thread per filter element looping over
 *   N*OH*OW. Off until a GPU measures it: on a CPU adapter it cannot gain and
 *   it costs dispatches (BENCH.md).
 *
 * @example
 * ```ts
 * import "@tensorflow/tfjs-backend-webgpu";
 * registerWebGpuKernels();
 * tf.env().set("SHEARS_WEBGPU_PARALLEL_FILTER_GRADS", true);
 * ```
 * @module
 */
import { tf } from "../../tf.ts";
import { convFilterGradConfig, depthwiseFilterGradConfig } from "./filter_grads.ts";

/** The flag that switches the parallel filter-gradient kernels on. */
export const PARALLEL_FILTER_GRADS = "SHEARS_WEBGPU_PARALLEL_FILTER_GRADS";

const replacements: [string, (original: tf.KernelConfig) => tf.KernelConfig, string][] = [
  ["Conv2DBackpropFilter", convFilterGradConfig, PARALLEL_FILTER_GRADS],
  ["DepthwiseConv2dNativeBackpropFilter", depthwiseFilterGradConfig, PARALLEL_FILTER_GRADS],
];

function envFlag(name: string): boolean {
  try {
    return Deno.env.get(name) === "1";
  } catch {
    return false;
  }
}

/** `replacement` when the flag is on, else `original` (decided per call). */
function switched(
  original: tf.KernelConfig,
  replacement: tf.KernelConfig,
  flag: string,
): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) =>
    (tf.env().getBool(flag) ? replacement : original).kernelFunc(args);
  return { ...original, kernelFunc };
}

let registered = false;

/**
 * Installs the switchable replacements over tfjs-backend-webgpu's kernels.
 * Safe to call more than once; call it after importing tfjs-backend-webgpu.
 */
export function registerWebGpuKernels(): void {
  if (registered) return;
  for (const flag of new Set(replacements.map((r) => r[2]))) {
    tf.env().registerFlag(flag, () => envFlag(flag));
  }
  for (const [name, replace, flag] of replacements) {
    const original = tf.getKernel(name, "webgpu");
    if (original == null) throw new Error(`tfjs-backend-webgpu has no ${name} kernel`);
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel(switched(original, replace(original), flag));
  }
  registered = true;
}
