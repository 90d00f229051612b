/**
 * The webgpu backend: providers (Dawn or Deno's WebGPU), initialisation, and
 * Shears' kernels for tfjs-backend-webgpu.
 *
 * @example
 * ```ts
 * const info = await initWebGpu(true, "dawn");
 * info.provider; // "dawn"
 * ```
 * @module
 */
export { type AdapterProbe, initWebGpu, probeAdapter } from "./init.ts";
export { DawnError, type DawnOptions, type WebGpuProvider, webgpuProviders } from "./provider.ts";
export { FUSED_BN_GRAD, FUSED_OPTIMIZER, PARALLEL_FILTER_GRADS } from "./kernels.ts";
export { countDispatches, type DispatchCounts } from "./dispatches.ts";
