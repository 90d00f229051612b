/**
 * Filter gradients for the webgpu backend, composed from webgpu's own kernels.
 *
 * tfjs-backend-webgpu 4.22 computes Conv2DBackpropFilter and
 * DepthwiseConv2dNativeBackpropFilter with one GPU thread per filter element,
 * each looping serially over all N*OH*OW output positions: a 3x3 32->32 conv
 * on a 64x32x32 batch is 9,216 threads of 65,536 iterations each, far too
 * little parallelism for a GPU. Here:
 * - regular conv: per filter tap (a few taps at once when there are few input
 *   channels), the tap's strided slice of the zero-padded input, transposed,
 *   times `dy` (a matmul over the N*OH*OW positions, which tfjs splits across
 *   workgroups itself for small outputs and Shears splits into chunks for
 *   larger ones);
 * - depthwise conv: the original kernel on the batch folded into the channels
 *   (N times the threads, each looping over one image), then a sum over images.
 * NCHW inputs go to the original kernels.
 * @module
 */
import type { tf } from "../../tf.ts";
import { convInfo } from "../conv_info.ts";
import { free, type GpuBackendLike, type Info, type KernelArgs, reshape, run } from "./kit.ts";

/** Side of the square output tile of tfjs-backend-webgpu's matmul programs. */
const TILE = 32;
/**
 * Output tiles (TILE x TILE) up to which tfjs-backend-webgpu gives a one-batch
 * matmul a program that splits its inner dimension itself (MatMulReduce or
 * MatMulSplitK); above it, the tiled MatMulPacked walks the whole inner
 * dimension in each workgroup.
 */
const FEW_TILES = 8;
/** Workgroups a chunked matmul aims for. */
const TARGET_WORKGROUPS = 512;
/** Shortest inner-dimension chunk worth a matmul of its own. */
const MIN_CHUNK = 256;

/** The forward convolution's geometry (NHWC) from a filter-gradient kernel's inputs. */
function geometry(xShape: number[], attrs: tf.NamedAttrMap, depthwise: boolean) {
  return convInfo(xShape, attrs.filterShape as number[], attrs, depthwise);
}

/**
 * Runs `perGroup` on groups of `group` consecutive filter taps (row-major; the
 * last group may be smaller): on the taps' strided slices of the zero-padded
 * input, each `[N, OH, OW, C]`, concatenated along channels. Returns what
 * `perGroup` returned, in order.
 */
function tapGroups(
  backend: GpuBackendLike,
  x: Info,
  info: tf.backend_util.Conv2DInfo,
  group: number,
  perGroup: (cols: Info) => Info,
): Info[] {
  const { batchSize: n, inHeight, inWidth, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { filterHeight: kh, filterWidth: kw, padInfo: { top, left } } = info;
  // Rows/columns the last tap reads beyond the input (never negative: a
  // "valid" conv may leave trailing input unread, which the slices skip).
  const bottom = Math.max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - inHeight - top);
  const right = Math.max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - inWidth - left);
  const padded = top + bottom + left + right > 0
    ? run(backend, "PadV2", { x }, {
      paddings: [[0, 0], [top, bottom], [left, right], [0, 0]],
      constantValue: 0,
    })
    : x;
  const results: Info[] = [];
  let pending: Info[] = [];
  for (let t = 0; t < kh * kw; t++) {
    const [i, j] = [Math.floor(t / kw), t % kw];
    pending.push(run(backend, "StridedSlice", { x: padded }, {
      begin: [0, i * dh, j * dw, 0],
      end: [n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, c],
      strides: [1, sh, sw, 1],
      beginMask: 0,
      endMask: 0,
      ellipsisMask: 0,
      newAxisMask: 0,
      shrinkAxisMask: 0,
    }));
    if (pending.length < group && t < kh * kw - 1) continue;
    const cols = concat(backend, pending, 3);
    results.push(perGroup(cols));
    free(backend, cols);
    pending = [];
  }
  if (padded !== x) free(backend, padded);
  return results;
}

/** `parts` concatenated along `axis` (consumed: the caller frees only the result). */
function concat(backend: GpuBackendLike, parts: Info[], axis: number): Info {
  if (parts.length === 1) return parts[0];
  const out = run(backend, "Concat", parts as unknown as tf.NamedTensorInfoMap, { axis });
  free(backend, ...parts);
  return out;
}

/**
 * How many chunks to split the inner dimension `k` of a matmul with `tiles`
 * output tiles into (the chunks become a BatchMatMul's batch): 1 when tfjs
 * splits it itself, else enough that `chunks * tiles` workgroups keep a GPU
 * busy, none shorter than MIN_CHUNK, and a divisor of `k` (so the split is a
 * reshape).
 */
export function innerChunks(k: number, tiles: number): number {
  if (tiles <= FEW_TILES) return 1;
  const cap = Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.floor(k / MIN_CHUNK));
  for (let b = cap; b > 1; b--) if (k % b === 0) return b;
  return 1;
}

/**
 * dW of a regular conv: `x` [N,H,W,Ci], `dy` [N,OH,OW,Co] -> [kh,kw,Ci,Co].
 * Tap by tap (a few taps at once when `Ci` is small), `slice^T · dy` over the
 * K = N*OH*OW positions, with K split into chunks (a BatchMatMul's batch) when
 * the output has too many tiles for tfjs's own split, the chunks' partial
 * products summed at the end.
 */
function convFilterGrad({ inputs: { x, dy }, attrs, backend }: KernelArgs): Info {
  const info = geometry(x.shape, attrs, false);
  const { inChannels: ci, outChannels: co } = info;
  const k = info.batchSize * info.outHeight * info.outWidth;
  // Few input channels: several taps per matmul, so its rows fill a tile.
  const group = Math.max(1, Math.floor(TILE / ci));
  const b = innerChunks(k, Math.ceil((group * ci) / TILE) * Math.ceil(co / TILE));
  const d3 = reshape(backend, dy, [b, k / b, co]);
  const partials = tapGroups(backend, x, info, group, (cols) => {
    const a3 = reshape(backend, cols, [b, k / b, cols.shape[3]]);
    const p = run(backend, "BatchMatMul", { a: a3, b: d3 }, {
      transposeA: true,
      transposeB: false,
    });
    free(backend, a3);
    return p;
  });
  free(backend, d3);
  const stacked = concat(backend, partials, 1);
  const sum = b > 1 ? run(backend, "Sum", { x: stacked }, { axis: [0], keepDims: false }) : stacked;
  const out = reshape(backend, sum, attrs.filterShape as number[]);
  free(backend, stacked);
  if (sum !== stacked) free(backend, sum);
  return out;
}

/**
 * dW of a depthwise conv: `x` [N,H,W,C], `dy` [N,OH,OW,C*m] -> [kh,kw,C,m].
 * The batch is folded into the channels (x as one image of N*C channels, dy of
 * N*C*m), so the original kernel runs N times as many threads, each looping
 * over one image's OH*OW positions instead of all N*OH*OW; the per-image
 * filters are then summed.
 */
function depthwiseFilterGrad(original: tf.KernelConfig, args: KernelArgs): Info {
  const { inputs: { x, dy }, attrs, backend } = args;
  const [n, , , c] = x.shape;
  if (n === 1) return originalKernel(original, args);
  const [kh, kw, , m] = attrs.filterShape as number[];
  const fold = (t: Info) => {
    const [, th, tw, tc] = t.shape;
    const moved = run(backend, "Transpose", { x: t }, { perm: [1, 2, 0, 3] });
    const image = reshape(backend, moved, [1, th, tw, n * tc]);
    free(backend, moved);
    return image;
  };
  const xs = fold(x);
  const dys = fold(dy);
  const perImage = originalKernel(original, {
    inputs: { x: xs, dy: dys },
    attrs: { ...attrs, filterShape: [kh, kw, n * c, m] },
    backend,
  });
  free(backend, xs, dys);
  const split = reshape(backend, perImage, [kh * kw, n, c * m]);
  const sum = run(backend, "Sum", { x: split }, { axis: [1], keepDims: false });
  const out = reshape(backend, sum, [kh, kw, c, m]);
  free(backend, perImage, split, sum);
  return out;
}

/** Runs the kernel `original` (a tfjs-backend-webgpu config) on `args`. */
function originalKernel(original: tf.KernelConfig, args: KernelArgs): Info {
  return original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
}

/**
 * A webgpu kernel config replacing `original`: `grad` runs NHWC inputs (and
 * may call `original` itself), `original` runs NCHW ones.
 */
function replacing(
  original: tf.KernelConfig,
  grad: (original: tf.KernelConfig, args: KernelArgs) => Info,
): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs) =>
    args.attrs.dataFormat === "NCHW" ? originalKernel(original, args) : grad(original, args);
  return { ...original, kernelFunc } as unknown as tf.KernelConfig;
}

/** Conv2DBackpropFilter as matmuls of input slices with `dy`. */
export function convFilterGradConfig(original: tf.KernelConfig): tf.KernelConfig {
  return replacing(original, (_, args) => convFilterGrad(args));
}

/** DepthwiseConv2dNativeBackpropFilter with the batch folded into the channels. */
export function depthwiseFilterGradConfig(original: tf.KernelConfig): tf.KernelConfig {
  return replacing(original, depthwiseFilterGrad);
}
