/**
 * A Tile kernel for wasm that copies whole blocks (`TypedArray.set` and
 * doubling `copyWithin`) instead of computing a source index per element.
 * tfjs-core's BatchNorm gradient tiles a per-channel vector to the full
 * activation shape, which made wasm's element-wise Tile the most expensive
 * kernel of a training step.
 * @module
 */
import { tf } from "../../tf.ts";
import type { Info, WasmBackendLike } from "./kernel_kit.ts";

type Heap = Float32Array | Int32Array | Uint8Array;

interface HeapBackend extends WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(t: Info): Heap;
}

/** Repeats `out[dst, dst + len)` until it fills `len * reps` elements. */
function repeatBlock(out: Heap, dst: number, len: number, reps: number): void {
  const total = len * reps;
  for (let done = len; done < total;) {
    const n = Math.min(done, total - done);
    out.copyWithin(dst + done, dst, dst + n);
    done += n;
  }
}

/**
 * Writes the tile of `x` from axis `k` on: each of the `shape[k]` sub-blocks,
 * then the whole run repeated `reps[k]` times.
 */
function tileAxis(
  x: Heap,
  out: Heap,
  shape: number[],
  reps: number[],
  k: number,
  src: number,
  dst: number,
  xStrides: number[],
  outStrides: number[],
): void {
  const last = k === shape.length - 1;
  if (last) {
    out.set(x.subarray(src, src + shape[k]), dst);
  } else {
    for (let j = 0; j < shape[k]; j++) {
      const s = src + j * xStrides[k];
      const d = dst + j * outStrides[k];
      tileAxis(x, out, shape, reps, k + 1, s, d, xStrides, outStrides);
    }
  }
  repeatBlock(out, dst, shape[k] * (last ? 1 : outStrides[k]), reps[k]);
}

/** Creates the replacement Tile config; `fallback` handles string tensors. */
export function tileConfig(fallback: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: "Tile",
    backendName: "wasm",
    setupFunc: fallback.setupFunc,
    kernelFunc:
      ((args: { inputs: { x: Info }; attrs: { reps: number[] }; backend: HeapBackend }) => {
        const { inputs: { x }, attrs: { reps }, backend } = args;
        if (x.dtype === "string" || x.shape.length === 0) {
          return fallback.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
        }
        const outShape = x.shape.map((d, i) => d * reps[i]);
        const out = backend.makeOutput(outShape, x.dtype);
        if (tf.util.sizeFromShape(outShape) === 0) return out;
        const outVals = backend.typedArrayFromHeap(out);
        const xVals = backend.typedArrayFromHeap(x);
        const xStrides = [...tf.util.computeStrides(x.shape), 1];
        const outStrides = [...tf.util.computeStrides(outShape), 1];
        tileAxis(xVals, outVals, x.shape, reps, 0, 0, 0, xStrides, outStrides);
        return out;
      }) as unknown as tf.KernelFunc,
  };
}
