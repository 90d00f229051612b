/**
 * Reductions and copies the wasm backend does slowly. Sum and Mean over
 * leading axes: tfjs-backend-wasm reduces only innermost axes, so a per-channel reduction of an NHWC tensor (axes 0,1,2 —
 * every BatchNorm gradient and `moments`) first transposes the whole tensor.
 * These kernels sum rows of the `[outer, inner]` view in one pass instead and
 * defer every other axis pattern to the original kernel.
 * @module
 */
import { tf } from "../../tf.ts";
import type { Info, WasmBackendLike } from "./kernel_kit.ts";

interface HeapBackend extends WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(t: Info): Float32Array;
}

type Args = {
  inputs: { x: Info };
  attrs: { axis: number | number[]; keepDims: boolean };
  backend: HeapBackend;
};

/** Number of leading axes reduced when `axes` is exactly 0..k-1 (k < rank), else 0. */
function leadingAxes(axis: number | number[], shape: number[]): number {
  const axes = tf.util.parseAxisParam(axis, shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= shape.length) return 0;
  return axes.every((a, i) => a === i) ? axes.length : 0;
}

function reduceLeading(args: Args, k: number, mean: boolean): Info {
  const { inputs: { x }, attrs: { keepDims }, backend } = args;
  const kept = x.shape.slice(k);
  const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...kept] : kept;
  const inner = tf.util.sizeFromShape(kept);
  const outer = tf.util.sizeFromShape(x.shape.slice(0, k));
  const out = backend.makeOutput(outShape, "float32");
  const acc = new Float64Array(inner);
  const xs = backend.typedArrayFromHeap(x);
  for (let r = 0, p = 0; r < outer; r++) {
    for (let j = 0; j < inner; j++, p++) acc[j] += xs[p];
  }
  const scale = mean ? 1 / outer : 1;
  const o = backend.typedArrayFromHeap(out);
  for (let j = 0; j < inner; j++) o[j] = acc[j] * scale;
  return out;
}

/** A wasm kernel config for `kernelName` running `fn`, with `original`'s setup. */
function replacing<A>(
  kernelName: string,
  original: tf.KernelConfig,
  fn: (args: A) => tf.TensorInfo | tf.TensorInfo[],
): tf.KernelConfig {
  return {
    kernelName,
    backendName: "wasm",
    setupFunc: original.setupFunc,
    kernelFunc: fn as unknown as tf.KernelFunc,
  };
}

/** Sum / Mean replacements; `original` handles the other cases. */
export function leadingReduceConfig(
  kernelName: "Sum" | "Mean",
  original: tf.KernelConfig,
): tf.KernelConfig {
  return replacing(kernelName, original, (args: Args) => {
    const k = args.inputs.x.dtype === "float32"
      ? leadingAxes(args.attrs.axis, args.inputs.x.shape)
      : 0;
    if (k === 0) return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
    return reduceLeading(args, k, kernelName === "Mean");
  });
}

type ShareArgs = {
  inputs: { x: Info };
  attrs: { dtype?: tf.DataType };
  backend: WasmBackendLike & {
    incRef(id: object): void;
    dataIdMap: { get(id: object): { shape: number[] } | undefined };
  };
};

/**
 * Identity, and Cast to the tensor's own dtype (tf.moments casts float32 to
 * float32), made to share the input's buffer as the cpu backend does —
 * tensors are immutable — instead of copying it. Other casts go to `original`.
 *
 * Only when the buffer's recorded shape is the tensor's: wasm's Reshape shares
 * buffers too and keeps the buffer's first shape, and some wasm kernels read
 * that recorded shape (FusedConv2D rejects a bias whose buffer is not rank 1).
 * A copy gives such a tensor (e.g. a reshaped value written into a variable)
 * a buffer of its own shape, as the stock kernel does.
 */
export function sharingConfig(
  kernelName: "Identity" | "Cast",
  original: tf.KernelConfig,
): tf.KernelConfig {
  return replacing(kernelName, original, (args: ShareArgs) => {
    const { inputs: { x }, attrs, backend } = args;
    const same = kernelName === "Identity" || attrs.dtype === x.dtype;
    const recorded = backend.dataIdMap.get(x.dataId)?.shape;
    const ownShape = recorded != null && tf.util.arraysEqual(recorded, x.shape);
    if (!same || x.dtype === "string" || !ownShape) {
      return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
    }
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}
