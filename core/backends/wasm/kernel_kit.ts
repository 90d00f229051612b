/**
 * Helpers for writing wasm kernels composed from the wasm backend's own
 * kernels: run a registered kernel on `TensorInfo`s and free intermediates.
 * @module
 */
import { tf } from "../../tf.ts";

/** A tensor handle inside a kernel (no engine bookkeeping). */
export type Info = tf.TensorInfo;

/** The subset of the wasm backend that composed kernels use. */
export interface WasmBackendLike extends tf.KernelBackend {
  disposeData(dataId: object, force?: boolean): boolean;
}

/**
 * Runs the wasm kernel `name` directly (no tape, no engine tracking) and returns
 * its output. The caller frees what it no longer needs with {@link free}.
 *
 * @example
 * ```ts
 * const t = run(backend, "Transpose", { x }, { perm: [3, 1, 2, 0] });
 * ```
 */
export function run(
  backend: WasmBackendLike,
  name: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): Info {
  const kernel = tf.getKernel(name, "wasm");
  if (kernel == null) throw new Error(`wasm kernel ${name} is not registered`);
  return kernel.kernelFunc({ inputs, attrs, backend }) as Info;
}

/** Releases intermediate results of {@link run}. */
export function free(backend: WasmBackendLike, ...infos: Info[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** `x` reshaped (shares data; free it like any other result). */
export function reshape(backend: WasmBackendLike, x: Info, shape: number[]): Info {
  return run(backend, "Reshape", { x }, { shape });
}

/** `x` transposed by `perm`. */
export function transpose(backend: WasmBackendLike, x: Info, perm: number[]): Info {
  return run(backend, "Transpose", { x }, { perm });
}

/**
 * Pads (positive) or crops (negative) each axis of `x` by `[before, after]`,
 * so one call can both add zero borders and cut away rows a stride skipped.
 */
export function padOrCrop(backend: WasmBackendLike, x: Info, edges: [number, number][]): Info {
  const crop = edges.some(([a, b]) => a < 0 || b < 0);
  let cur = x;
  if (crop) {
    const begin = edges.map(([a]) => Math.max(0, -a));
    const size = x.shape.map((d, i) => d - begin[i] - Math.max(0, -edges[i][1]));
    cur = run(backend, "Slice", { x }, { begin, size });
  }
  if (!edges.some(([a, b]) => a > 0 || b > 0)) return crop ? cur : reshape(backend, x, x.shape);
  const paddings = edges.map(([a, b]) => [Math.max(0, a), Math.max(0, b)]);
  const out = run(backend, "PadV2", { x: cur }, { paddings, constantValue: 0 });
  if (crop) free(backend, cur);
  return out;
}

/**
 * Inserts `s - 1` zeros after every row and column of an NHWC tensor (the
 * "fractionally strided" input of a transposed convolution). Trailing zeros are
 * kept; callers crop them with the convolution's padding.
 */
export function zeroInsert(backend: WasmBackendLike, x: Info, sh: number, sw: number): Info {
  if (sh === 1 && sw === 1) return reshape(backend, x, x.shape);
  const [n, h, w, c] = x.shape;
  const six = reshape(backend, x, [n, h, 1, w, 1, c]);
  const padded = run(backend, "PadV2", { x: six }, {
    paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
    constantValue: 0,
  });
  free(backend, six);
  const out = reshape(backend, padded, [n, h * sh, w * sw, c]);
  free(backend, padded);
  return out;
}

/**
 * NHWC `[N,H,W,C]` -> `[C,H,W,N]`, done as a 2-D transpose followed by a
 * block transpose; about twice as fast on wasm as the general 4-D permutation.
 */
export function swapBatchAndChannels(backend: WasmBackendLike, x: Info): Info {
  const [n, h, w, c] = x.shape;
  const flat = reshape(backend, x, [n, h * w * c]);
  const t = transpose(backend, flat, [1, 0]);
  const blocks = reshape(backend, t, [h * w, c, n]);
  const swapped = transpose(backend, blocks, [1, 0, 2]);
  const out = reshape(backend, swapped, [c, h, w, n]);
  free(backend, flat, t, blocks, swapped);
  return out;
}
