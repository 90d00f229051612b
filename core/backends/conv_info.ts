/**
 * The forward convolution's geometry as a gradient kernel sees it, shared by
 * the wasm and webgpu gradient kernels.
 *
 * @example
 * ```ts
 * const info = convInfo(x.shape, attrs.filterShape as number[], attrs, false);
 * info.outHeight;
 * ```
 * @module
 */
import { tf } from "../tf.ts";

/** tfjs's Conv2DInfo of a kernel's input and filter shapes and its conv attributes (NHWC). */
export function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    (attrs.dilations ?? 1) as number | [number, number],
    attrs.pad as "same" | "valid" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    depthwise,
  );
}
