/**
 * Shared by the backend parity tests: seeded cases for the training building
 * blocks and a runner that compares a backend's forward pass and gradients with
 * the pure-JS cpu backend's, within 1e-4 relative to the reference's scale.
 * @module
 */
import { initBackend, Rng, tf, type WebGpuProvider } from "@shears/core";
import { allClose, equal } from "./assert.ts";

/** One parity case: inputs of these shapes, a differentiable function of them. */
export interface Case {
  name: string;
  shapes: number[][];
  fn: (...xs: tf.Tensor[]) => tf.Tensor;
  /** False when tfjs-core has no gradient (dilated conv): compare the forward only. */
  grads?: boolean;
}

const rng = new Rng(20261123);
const int = (lo: number, hi: number) => lo + rng.int(hi - lo + 1);
const as4 = (t: tf.Tensor) => t as tf.Tensor4D;

function convCase(
  name: string,
  k: number,
  stride: number,
  pad: "same" | "valid",
  dilation = 1,
): Case {
  const [n, h, w, ci, co] = [int(1, 3), int(k + 4, 9), int(k + 4, 9), int(1, 4), int(1, 5)];
  return {
    name,
    shapes: [[n, h, w, ci], [k, k, ci, co]],
    fn: (x, f) => tf.conv2d(as4(x), as4(f), stride, pad, "NHWC", dilation),
    grads: dilation === 1,
  };
}

function depthwiseCase(
  name: string,
  k: number,
  stride: number,
  pad: "same" | "valid",
  m: number,
): Case {
  const [n, h, w, c] = [int(1, 3), int(k + 4, 9), int(k + 4, 9), int(1, 4)];
  return {
    name,
    shapes: [[n, h, w, c], [k, k, c, m]],
    fn: (x, f) => tf.depthwiseConv2d(as4(x), as4(f), stride, pad),
  };
}

/**
 * A (depthwise) convolution of fixed shapes: `x` = [n, h, w, c], a `kh` x `kw`
 * kernel with `out` output channels (depthwise: multiplier). With H != W of
 * different parity, a non-square kernel or different strides per axis, the
 * padding before (top, left) differs between the axes, which drawn square
 * cases never show.
 */
function asymmetricCase(
  name: string,
  [n, h, w, c]: number[],
  [kh, kw]: [number, number],
  out: number,
  strides: [number, number],
  pad: "same" | "valid",
  depthwise = false,
): Case {
  return {
    name,
    shapes: [[n, h, w, c], [kh, kw, c, out]],
    fn: (x, f) =>
      depthwise
        ? tf.depthwiseConv2d(as4(x), as4(f), strides, pad)
        : tf.conv2d(as4(x), as4(f), strides, pad),
  };
}

/** Training-mode batch norm as tfjs-layers does it: batch moments, then FusedBatchNorm. */
function batchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
}

function residualCase(): Case {
  const [n, h, c] = [int(1, 2), int(4, 7), int(2, 4)];
  return {
    name: "residual block",
    shapes: [[n, h, h, c], [3, 3, c, c], [c], [c], [3, 3, c, 2 * c], [1, 1, c, 2 * c]],
    fn: (x, f1, g, b, f2, proj) => {
      const a = tf.relu(batchNorm(tf.conv2d(as4(x), as4(f1), 1, "same"), g, b));
      const y = tf.conv2d(as4(a), as4(f2), 2, "same");
      return tf.relu(tf.add(y, tf.conv2d(as4(x), as4(proj), 2, "same")));
    },
  };
}

/** The parity cases (shapes drawn once from a fixed seed). */
export const cases: Case[] = [
  convCase("conv 3x3 stride 1 same", 3, 1, "same"),
  convCase("conv 3x3 stride 2 same", 3, 2, "same"),
  convCase("conv 3x3 stride 1 valid", 3, 1, "valid"),
  convCase("conv 3x3 stride 2 valid", 3, 2, "valid"),
  convCase("conv 2x2 stride 2 valid", 2, 2, "valid"),
  convCase("conv 1x1 stride 1", 1, 1, "valid"),
  convCase("conv 1x1 stride 2", 1, 2, "same"),
  convCase("conv 3x3 dilation 2 (forward)", 3, 1, "same", 2),
  depthwiseCase("depthwise 3x3 stride 1 same", 3, 1, "same", 1),
  depthwiseCase("depthwise 3x3 stride 2 valid x2", 3, 2, "valid", 2),
  // padding (top, left): (1, 0) / (1, 0) / (0, 1) / (0, 1) / none / (1, 0)
  asymmetricCase("conv 3x2 stride 1 same, 7x8", [2, 7, 8, 3], [3, 2], 4, [1, 1], "same"),
  asymmetricCase("conv 3x2 stride 2 same, 7x8", [2, 7, 8, 3], [3, 2], 4, [2, 2], "same"),
  asymmetricCase("conv 3x3 stride 2 same, 8x7", [2, 8, 7, 2], [3, 3], 3, [2, 2], "same"),
  asymmetricCase("conv 3x3 strides 2,1 same, 8x7", [1, 8, 7, 2], [3, 3], 3, [2, 1], "same"),
  asymmetricCase("conv 2x3 stride 2 valid, 9x6", [2, 9, 6, 3], [2, 3], 2, [2, 2], "valid"),
  asymmetricCase("depthwise 3x2 stride 2 same, 7x8", [1, 7, 8, 2], [3, 2], 2, [2, 2], "same", true),
  {
    name: "dense",
    shapes: [[int(2, 5), 7], [7, int(2, 6)], [1]],
    fn: (x, w, b) => tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b)),
  },
  { name: "batch norm (training)", shapes: [[3, 5, 4, 3], [3], [3]], fn: batchNorm },
  { name: "max pool 2x2", shapes: [[2, 6, 6, 3]], fn: (x) => tf.maxPool(as4(x), 2, 2, "valid") },
  {
    name: "max pool 3x3 same",
    shapes: [[2, 5, 5, 2]],
    fn: (x) => tf.maxPool(as4(x), 3, 1, "same"),
  },
  { name: "avg pool 2x2", shapes: [[2, 6, 6, 3]], fn: (x) => tf.avgPool(as4(x), 2, 2, "valid") },
  {
    name: "global average pool",
    shapes: [[2, 4, 4, 3]],
    fn: (x) => tf.mean(x, [1, 2]),
  },
  residualCase(),
  // Shapes that steer the webgpu parallel filter gradients (core/backends/webgpu/filter_grads.ts)
  // down their paths: one tap per matmul, uneven tap groups, a depthwise batch folded into channels.
  {
    name: "conv 3x3, 32 input channels",
    shapes: [[1, 6, 6, 32], [3, 3, 32, 3]],
    fn: (x, f) => tf.conv2d(as4(x), as4(f), 1, "same"),
  },
  {
    name: "conv 3x3 stride 2, 12 input channels",
    shapes: [[2, 7, 7, 12], [3, 3, 12, 5]],
    fn: (x, f) => tf.conv2d(as4(x), as4(f), 2, "same"),
  },
  {
    name: "depthwise 3x3 x3, batch 3",
    shapes: [[3, 6, 5, 4], [3, 3, 4, 3]],
    fn: (x, f) => tf.depthwiseConv2d(as4(x), as4(f), 1, "same"),
  },
  { name: "tile", shapes: [[2, 3, 4]], fn: (x) => tf.tile(x, [2, 1, 3]) },
  {
    name: "zero padding (H, W)",
    shapes: [[2, 5, 4, 3]],
    fn: (x) => tf.pad(x, [[0, 0], [2, 1], [1, 2], [0, 0]]),
  },
  {
    name: "constant padding (every axis)",
    shapes: [[2, 3, 4, 2]],
    fn: (x) => tf.pad(x, [[1, 0], [0, 2], [1, 1], [2, 1]], -0.5),
  },
  { name: "padding rank 1", shapes: [[5]], fn: (x) => tf.pad(x, [[3, 1]], 2) },
  { name: "slice (whole)", shapes: [[2, 3, 4]], fn: (x) => tf.slice(x, [0, 0, 0], [-1, 3, -1]) },
  { name: "slice (part)", shapes: [[2, 3, 4]], fn: (x) => tf.slice(x, [1, 0, 1], [1, -1, 2]) },
  {
    name: "reductions and casts",
    shapes: [[3, 4, 5]],
    fn: (x) =>
      tf.concat([
        tf.sum(x, [0, 1], true).flatten(),
        tf.mean(x, 0).flatten(),
        tf.sum(x, 1).flatten(),
        tf.mean(x, [1, 2]).flatten(),
        tf.cast(tf.cast(tf.mul(x, 3), "int32"), "float32").flatten(),
      ]),
  },
];

/** Seeded inputs for a case, plus a projection for the scalar loss. */
export function inputsFor(c: Case): Float32Array[] {
  return c.shapes.map((s) =>
    Float32Array.from({ length: tf.util.sizeFromShape(s) }, () => rng.next() * 2 - 1)
  );
}

/** Output and input gradients of `sum(fn(...) * proj)` on the current backend. */
export async function evaluate(
  c: Case,
  data: Float32Array[],
  projSeed: number,
): Promise<Float32Array[]> {
  const result = tf.tidy(() => {
    const xs = data.map((d, i) => tf.tensor(d, c.shapes[i]));
    const out = c.fn(...xs);
    const proj = tf.randomUniform(out.shape, -1, 1, "float32", projSeed);
    if (c.grads === false) return [out];
    const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.fn(...a), proj)));
    return [out, ...g(xs)];
  });
  const arrays = await Promise.all(result.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(result);
  return arrays;
}

/** Asserts |a - e| <= 1e-4 * (|e| + max|e|) elementwise. */
export function close(actual: Float32Array, expected: Float32Array, what: string): void {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  allClose(actual, expected, { rtol: 1e-4, atol: 1e-4 * scale + 1e-7 }, what);
}

/** Checks `backend` (WebGPU from `webgpu`) against cpu on `only` (default every case). */
export async function parity(
  backend: "wasm" | "webgpu",
  webgpu: WebGpuProvider = "auto",
  only: Case[] = cases,
): Promise<void> {
  await initBackend("cpu", { quiet: true });
  const reference: Float32Array[][] = [];
  const data = only.map(inputsFor);
  for (const [i, c] of only.entries()) reference.push(await evaluate(c, data[i], i));
  await initBackend(backend, { quiet: true, webgpu });
  for (const [i, c] of only.entries()) {
    const got = await evaluate(c, data[i], i);
    equal(got.length, reference[i].length);
    got.forEach((g, j) =>
      close(g, reference[i][j], `${backend} ${c.name} ${j ? `grad ${j}` : "out"}`)
    );
  }
}
