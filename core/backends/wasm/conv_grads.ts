/**
 * Convolution gradient kernels for the wasm backend, composed from wasm's own
 * XNNPACK-backed kernels (Conv2D / DepthwiseConv2dNative with dilations,
 * Transpose, PadV2, Slice, Reverse, Sum). tfjs-backend-wasm ships no
 * Conv2DBackpropFilter and no depthwise gradients, and its Conv2DBackpropInput
 * is a scalar loop; these make convolution training run at XNNPACK speed.
 *
 * Both gradients are convolutions again:
 * - filter gradient: correlate the input with `dy` used as a filter that is
 *   dilated by the forward stride (batch and channels of `x` swapped, so the
 *   contraction over the batch is the convolution's channel sum);
 * - input gradient: convolve the zero-inserted `dy` (stride 1) with the
 *   spatially reversed filter.
 * @module
 */
import type { tf } from "../../tf.ts";
import { convInfo as sharedConvInfo } from "../conv_info.ts";
import {
  free,
  type Info,
  padOrCrop,
  reshape,
  run,
  swapBatchAndChannels,
  transpose,
  type WasmBackendLike,
  zeroInsert,
} from "./kernel_kit.ts";

type Inputs = Record<string, Info>;

/** Rows/cols to add (>0) or cut (<0) before and after, per spatial axis (NHWC). */
type Edges = [[number, number], [number, number]];

/**
 * Padding that makes a stride-`stride` convolution of an input `size` long with
 * a `taps`-tap filter dilated by `dilation` start at offset `-before` and give
 * exactly `out` outputs.
 */
function edgesFor(
  size: number,
  before: number,
  taps: number,
  dilation: number,
  stride: number,
  out: number,
): [number, number] {
  const span = (taps - 1) * dilation + 1;
  const after = (out - 1) * stride + span - size - before;
  return [before, after];
}

/**
 * The (depthwise) NHWC convolution of `x` with `filter` over the window `edges`:
 * negative edges crop `x` first, positive ones become the conv's explicit padding.
 */
function convOver(
  backend: WasmBackendLike,
  x: Info,
  filter: Info,
  edges: Edges,
  strides: number[],
  dilations: number[],
  depthwise: boolean,
): Info {
  const [[t, b], [l, r]] = edges;
  const cropped = padOrCrop(backend, x, [
    [0, 0],
    [Math.min(t, 0), Math.min(b, 0)],
    [Math.min(l, 0), Math.min(r, 0)],
    [0, 0],
  ]);
  const pad = [[0, 0], [Math.max(t, 0), Math.max(b, 0)], [Math.max(l, 0), Math.max(r, 0)], [0, 0]];
  const out = run(
    backend,
    depthwise ? "DepthwiseConv2dNative" : "Conv2D",
    { x: cropped, filter },
    { strides, dilations, pad, dataFormat: "NHWC" },
  );
  free(backend, cropped);
  return out;
}

/** The forward conv's geometry from the gradient kernel's input and filter shapes. */
function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  const dataFormat = attrs.dataFormat as "NHWC" | "NCHW" | undefined;
  if (dataFormat === "NCHW") {
    throw new Error("wasm conv gradients support only NHWC (channelsLast)");
  }
  return sharedConvInfo(xShape, filterShape, attrs, depthwise);
}

/**
 * dW of a convolution: `x` [N,H,W,Ci] and `dy` [N,Ho,Wo,Co] -> `attrs.filterShape`
 * ([kh,kw,Ci,Co]; depthwise [kh,kw,C,m]).
 */
function filterGrad(
  backend: WasmBackendLike,
  { x, dy }: Inputs,
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
): Info {
  const info = convInfo(x.shape, attrs.filterShape as number[], attrs, depthwise);
  const { padInfo, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw, outHeight, outWidth, inHeight, inWidth } = info;
  const edges: Edges = [
    edgesFor(inHeight, padInfo.top, outHeight, sh, dh, kh),
    edgesFor(inWidth, padInfo.left, outWidth, sw, dw, kw),
  ];
  const [n, , , c] = x.shape;
  const mult = depthwise ? info.outChannels / info.inChannels : 0;
  // Depthwise: one image whose channels are (c, n); regular: batch c, channels n.
  const xt = depthwise ? transpose(backend, x, [1, 2, 3, 0]) : swapBatchAndChannels(backend, x);
  const xs = depthwise ? reshape(backend, xt, [1, inHeight, inWidth, c * n]) : xt;
  let f: Info;
  if (depthwise) {
    const dy5 = reshape(backend, dy, [n, outHeight, outWidth, c, mult]);
    const t = transpose(backend, dy5, [1, 2, 3, 0, 4]);
    f = reshape(backend, t, [outHeight, outWidth, c * n, mult]);
    free(backend, dy5, t);
  } else {
    f = transpose(backend, dy, [1, 2, 0, 3]);
  }
  const out = convOver(backend, xs, f, edges, [dh, dw], [sh, sw], depthwise);
  free(backend, xt, f);
  if (depthwise) free(backend, xs);
  let result: Info;
  if (depthwise) {
    const o5 = reshape(backend, out, [kh, kw, c, n, mult]);
    result = run(backend, "Sum", { x: o5 }, { axis: [3], keepDims: false });
    free(backend, o5);
  } else {
    result = transpose(backend, out, [1, 2, 0, 3]);
  }
  free(backend, out);
  return result;
}

/**
 * dX of a convolution: `dy` [N,Ho,Wo,Co] and `filter` -> `attrs.inputShape`.
 */
function inputGrad(
  backend: WasmBackendLike,
  { dy, filter }: Inputs,
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
): Info {
  const info = convInfo(attrs.inputShape as number[], filter.shape, attrs, depthwise);
  const { padInfo, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw, inHeight, inWidth } = info;
  const [n, , , c] = info.inShape;
  const dz = zeroInsert(backend, dy, sh, sw);
  const edges: Edges = [
    edgesFor(dz.shape[1], (kh - 1) * dh - padInfo.top, kh, dh, 1, inHeight),
    edgesFor(dz.shape[2], (kw - 1) * dw - padInfo.left, kw, dw, 1, inWidth),
  ];
  const reversed = run(backend, "Reverse", { x: filter }, { dims: [0, 1] });
  const mult = depthwise ? info.outChannels / info.inChannels : 0;
  const f = depthwise
    ? reshape(backend, reversed, [kh, kw, c * mult, 1])
    : transpose(backend, reversed, [0, 1, 3, 2]);
  const out = convOver(backend, dz, f, edges, [1, 1], [dh, dw], depthwise);
  free(backend, dz, reversed, f);
  // Depthwise with multiplier 1 already has the input's shape.
  if (!depthwise || mult === 1) return out;
  const o5 = reshape(backend, out, [n, inHeight, inWidth, c, mult]);
  const r = run(backend, "Sum", { x: o5 }, { axis: [4], keepDims: false });
  free(backend, out, o5);
  return r;
}

/** A wasm kernel config that runs `grad` for a regular or depthwise conv. */
function gradKernel(
  kernelName: string,
  grad: typeof filterGrad,
  depthwise: boolean,
): tf.KernelConfig {
  const kernelFunc = ({ inputs, attrs, backend }: {
    inputs: Inputs;
    attrs: tf.NamedAttrMap;
    backend: WasmBackendLike;
  }) => grad(backend, inputs, attrs, depthwise);
  return { kernelName, backendName: "wasm", kernelFunc } as unknown as tf.KernelConfig;
}

/** Conv2DBackpropFilter for wasm (absent in tfjs-backend-wasm). */
export const conv2DBackpropFilterConfig = gradKernel("Conv2DBackpropFilter", filterGrad, false);

/** Conv2DBackpropInput for wasm (replaces the scalar-loop kernel). */
export const conv2DBackpropInputConfig = gradKernel("Conv2DBackpropInput", inputGrad, false);

/** DepthwiseConv2dNativeBackpropFilter for wasm (absent in tfjs-backend-wasm). */
export const depthwiseBackpropFilterConfig = gradKernel(
  "DepthwiseConv2dNativeBackpropFilter",
  filterGrad,
  true,
);

/** DepthwiseConv2dNativeBackpropInput for wasm (absent in tfjs-backend-wasm). */
export const depthwiseBackpropInputConfig = gradKernel(
  "DepthwiseConv2dNativeBackpropInput",
  inputGrad,
  true,
);
