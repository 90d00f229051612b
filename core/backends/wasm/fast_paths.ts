/**
 * Reductions and copies the wasm backend does slowly. Sum and Mean over
 * leading axes: tfjs-backend-wasm reduces only innermost axes, so a
 * per-channel reduction of an NHWC tensor (axes 0,1,2 — every BatchNorm
 * gradient and `moments`) first transposes the whole tensor. These kernels sum
 * rows of the `[outer, inner]` view in one pass instead and defer every other
 * axis pattern to the original kernel. Constant padding (PadV2): the stock
 * kernel moves one element at a time through a generic N-d loop (3 ms for a
 * 64x28x28x1 batch, more than a pruned network's first convolution); this one
 * fills the output and copies the input's contiguous runs into it.
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
  attrs: { dtype?: tf.DataType; begin?: number | number[]; size?: number | number[] };
  backend: WasmBackendLike & {
    incRef(id: object): void;
    dataIdMap: { get(id: object): { shape: number[] } | undefined };
  };
};

/** True when a Slice's begin and size take the whole of `shape`. */
function wholeSlice(begin: number | number[], size: number | number[], shape: number[]): boolean {
  const [b, z] = tf.slice_util.parseSliceParams({ shape } as tf.TensorInfo, begin, size);
  return b.every((v) => v === 0) && z.every((v, i) => v === shape[i]);
}

/**
 * Identity, Cast to the tensor's own dtype (tf.moments casts float32 to
 * float32) and a Slice of the whole tensor (`predict` slices its input into
 * batches, all of it when one batch holds it), made to share the input's
 * buffer as the cpu backend does — tensors are immutable — instead of copying
 * it. Other casts and slices go to `original`.
 *
 * Only when the buffer's recorded shape is the tensor's: wasm's Reshape shares
 * buffers too and keeps the buffer's first shape, and some wasm kernels read
 * that recorded shape (FusedConv2D rejects a bias whose buffer is not rank 1).
 * A copy gives such a tensor (e.g. a reshaped value written into a variable)
 * a buffer of its own shape, as the stock kernel does.
 */
export function sharingConfig(
  kernelName: "Identity" | "Cast" | "Slice",
  original: tf.KernelConfig,
): tf.KernelConfig {
  return replacing(kernelName, original, (args: ShareArgs) => {
    const { inputs: { x }, attrs, backend } = args;
    const same = kernelName === "Identity" ||
      (kernelName === "Cast" && attrs.dtype === x.dtype) ||
      (kernelName === "Slice" && wholeSlice(attrs.begin!, attrs.size!, x.shape));
    const recorded = backend.dataIdMap.get(x.dataId)?.shape;
    const ownShape = recorded != null && tf.util.arraysEqual(recorded, x.shape);
    if (!same || x.dtype === "string" || !ownShape) {
      return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
    }
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}

type PadArgs = {
  inputs: { x: Info };
  attrs: { paddings: [number, number][]; constantValue: number };
  backend: HeapBackend;
};

/**
 * Copies `src` (of `shape`) into `dst` (of `dstShape`) at offset `origin`,
 * one contiguous run at a time: a run spans the innermost axis where the two
 * shapes differ and every axis inside it (28 floats per row when padding a
 * 28x28x1 image, not 1).
 */
function copyInto(
  src: Float32Array,
  shape: number[],
  dst: Float32Array,
  dstShape: number[],
  origin: number[],
): void {
  let s = shape.length;
  while (s > 0 && shape[s - 1] === dstShape[s - 1]) s--;
  if (s === 0) return dst.set(src);
  // axis s - 1 is the innermost that differs: from it in, a source row is contiguous in
  // both arrays (the axes inside it agree); the axes outside it (< s - 1) are walked
  const walked = s - 1;
  const run = tf.util.sizeFromShape(shape.slice(walked));
  const dstStrides = dstShape.map((_, i) => tf.util.sizeFromShape(dstShape.slice(i + 1)));
  const rows = tf.util.sizeFromShape(shape.slice(0, walked));
  const idx = new Array<number>(walked).fill(0);
  let at = origin.reduce((o, v, i) => o + v * dstStrides[i], 0);
  for (let r = 0, p = 0; r < rows; r++, p += run) {
    dst.set(src.subarray(p, p + run), at);
    // odometer over the walked axes
    for (let a = walked - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) {
        at += dstStrides[a];
        break;
      }
      at -= (shape[a] - 1) * dstStrides[a];
      idx[a] = 0;
    }
  }
}

/** PadV2 replacement for float32 tensors; `original` handles the other dtypes. */
export function padConfig(original: tf.KernelConfig): tf.KernelConfig {
  return replacing("PadV2", original, (args: PadArgs) => {
    const { inputs: { x }, attrs: { paddings, constantValue }, backend } = args;
    if (x.dtype !== "float32" || tf.util.sizeFromShape(x.shape) === 0) {
      return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
    }
    const outShape = x.shape.map((n, i) => paddings[i][0] + n + paddings[i][1]);
    const out = backend.makeOutput(outShape, "float32");
    const o = backend.typedArrayFromHeap(out);
    o.fill(constantValue);
    copyInto(backend.typedArrayFromHeap(x), x.shape, o, outShape, paddings.map((p) => p[0]));
    return out;
  });
}
