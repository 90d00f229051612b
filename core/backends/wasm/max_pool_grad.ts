/**
 * MaxPoolGrad for wasm, written over the wasm heap in plain JS. The kernel
 * shipped with tfjs-backend-wasm 4.22.0 drops the gradient of some windows
 * (seen on windows whose maximum is negative in the second image of a batch),
 * so it disagrees with the cpu backend; this one routes each `dy` to the first
 * maximum of its window, as the cpu backend and PyTorch do.
 * @module
 */
import { tf } from "../../tf.ts";
import type { Info, WasmBackendLike } from "./kernel_kit.ts";

interface HeapBackend extends WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(t: Info): Float32Array;
}

type Attrs = {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "same" | "valid" | number;
  dimRoundingMode?: "floor" | "round" | "ceil";
};

/** The replacement MaxPoolGrad config (NHWC). */
export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: "MaxPoolGrad",
  backendName: "wasm",
  kernelFunc:
    ((args: { inputs: { dy: Info; input: Info }; attrs: Attrs; backend: HeapBackend }) => {
      const { inputs: { dy, input }, attrs, backend } = args;
      const info = tf.backend_util.computePool2DInfo(
        input.shape as [number, number, number, number],
        attrs.filterSize,
        attrs.strides,
        1,
        attrs.pad,
        attrs.dimRoundingMode,
      );
      const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
      const { strideHeight, strideWidth, filterHeight, filterWidth, padInfo } = info;
      const out = backend.makeOutput(input.shape, "float32");
      const dx = backend.typedArrayFromHeap(out);
      dx.fill(0);
      const x = backend.typedArrayFromHeap(input);
      const g = backend.typedArrayFromHeap(dy);
      const best = new Float32Array(c);
      const at = new Int32Array(c);
      let gi = 0;
      for (let b = 0; b < batchSize; b++) {
        const base = b * inHeight * inWidth * c;
        for (let yr = 0; yr < outHeight; yr++) {
          const r0 = yr * strideHeight - padInfo.top;
          for (let yc = 0; yc < outWidth; yc++, gi += c) {
            const c0 = yc * strideWidth - padInfo.left;
            best.fill(-Infinity);
            at.fill(-1);
            for (let r = Math.max(0, r0); r < Math.min(inHeight, r0 + filterHeight); r++) {
              for (let q = Math.max(0, c0); q < Math.min(inWidth, c0 + filterWidth); q++) {
                const p = base + (r * inWidth + q) * c;
                for (let d = 0; d < c; d++) {
                  const v = x[p + d];
                  if (v > best[d] || at[d] < 0) {
                    best[d] = v;
                    at[d] = p + d;
                  }
                }
              }
            }
            for (let d = 0; d < c; d++) if (at[d] >= 0) dx[at[d]] += g[gi + d];
          }
        }
      }
      return out;
    }) as unknown as tf.KernelFunc,
};
