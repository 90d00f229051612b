/**
 * Helpers for webgpu kernels composed from the webgpu backend's own kernels:
 * run a registered kernel on `TensorInfo`s (no tape, no engine tracking) and
 * free the intermediates.
 * @module
 */
import { tf } from "../../tf.ts";

/** A tensor handle inside a kernel (no engine bookkeeping). */
export type Info = tf.TensorInfo;

/** The subset of the webgpu backend that composed kernels use. */
export interface GpuBackendLike extends tf.KernelBackend {
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The arguments tfjs passes to a kernel function. */
export interface KernelArgs {
  inputs: Record<string, Info>;
  attrs: tf.NamedAttrMap;
  backend: GpuBackendLike;
}

/**
 * Runs the webgpu kernel `name` directly and returns its output; the caller
 * frees what it no longer needs with {@link free}.
 */
export function run(
  backend: GpuBackendLike,
  name: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): Info {
  const kernel = tf.getKernel(name, "webgpu");
  if (kernel == null) throw new Error(`webgpu kernel ${name} is not registered`);
  return kernel.kernelFunc({ inputs, attrs, backend }) as Info;
}

/** Releases intermediate results of {@link run}. */
export function free(backend: GpuBackendLike, ...infos: Info[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** `x` reshaped (shares data; free it like any other result). */
export function reshape(backend: GpuBackendLike, x: Info, shape: number[]): Info {
  return run(backend, "Reshape", { x }, { shape });
}
