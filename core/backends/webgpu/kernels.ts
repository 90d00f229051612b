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
 * - `SHEARS_WEBGPU_FUSED_BN_GRAD` (default on; env var = 0 turns it off):
 *   FusedBatchNorm's gradient in at most 6 dispatches instead of ~25
 *   (batch_norm_grad.ts); other backends keep tfjs-core's gradient.
 * - `SHEARS_WEBGPU_FUSED_OPTIMIZER` (default on; env var = 0 turns it off):
 *   core/optim.ts updates each variable in one dispatch (optimizer_update.ts)
 *   instead of its 6 (SGD) to 16 (Adam) elementwise ops.
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
import { batchNormGradConfig, batchNormGradKernels } from "./batch_norm_grad.ts";
import { optimizerKernels } from "./optimizer_update.ts";

/** The flag that switches the parallel filter-gradient kernels on. */
export const PARALLEL_FILTER_GRADS = "SHEARS_WEBGPU_PARALLEL_FILTER_GRADS";
/** The flag that switches the fused BatchNorm gradient off (on by default). */
export const FUSED_BN_GRAD = "SHEARS_WEBGPU_FUSED_BN_GRAD";
/** The flag that switches the fused optimizer updates off (on by default). */
export const FUSED_OPTIMIZER = "SHEARS_WEBGPU_FUSED_OPTIMIZER";

const replacements: [string, (original: tf.KernelConfig) => tf.KernelConfig, string][] = [
  ["Conv2DBackpropFilter", convFilterGradConfig, PARALLEL_FILTER_GRADS],
  ["DepthwiseConv2dNativeBackpropFilter", depthwiseFilterGradConfig, PARALLEL_FILTER_GRADS],
];

/** A flag's value from the environment variable of its name ("1" / "0"), else `fallback`. */
function envFlag(name: string, fallback: boolean): boolean {
  try {
    const v = Deno.env.get(name);
    return v == null ? fallback : v === "1";
  } catch {
    return fallback;
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
  tf.env().registerFlag(PARALLEL_FILTER_GRADS, () => envFlag(PARALLEL_FILTER_GRADS, false));
  tf.env().registerFlag(FUSED_BN_GRAD, () => envFlag(FUSED_BN_GRAD, true));
  tf.env().registerFlag(FUSED_OPTIMIZER, () => envFlag(FUSED_OPTIMIZER, true));
  for (const [name, replace, flag] of replacements) {
    const original = tf.getKernel(name, "webgpu");
    if (original == null) throw new Error(`tfjs-backend-webgpu has no ${name} kernel`);
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel(switched(original, replace(original), flag));
  }
  for (const k of [...batchNormGradKernels, ...optimizerKernels]) tf.registerKernel(k);
  const bnGrad = tf.getGradient("FusedBatchNorm");
  tf.registerGradient(batchNormGradConfig(
    bnGrad,
    () => tf.getBackend() === "webgpu" && tf.env().getBool(FUSED_BN_GRAD),
  ));
  registered = true;
}

/** True when the active backend is webgpu and its fused optimizer updates are on. */
export function fusedUpdatesOn(): boolean {
  return tf.getBackend() === "webgpu" && registered && tf.env().getBool(FUSED_OPTIMIZER);
}
