/**
 * Every backend CI has (wasm, webgpu on lavapipe) computes the forward pass and
 * the gradients of the training building blocks like the pure-JS cpu backend:
 * within 1e-4 relative to the reference tensor's scale, on seeded random shapes.
 * The wasm cases exercise Shears' composed gradient kernels (core/backends/wasm).
 * WebGPU cases are skipped when navigator.gpu offers no adapter.
 */
import { initBackend, probeAdapter, Rng, tf } from "@shears/core";
import { allClose, equal } from "./assert.ts";

/** One parity case: inputs of these shapes, a differentiable function of them. */
interface Case {
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
  const [n, h, w, ci, co] = [
    int(1, 3),
    int(k + 4, 9),
    int(k + 4, 9),
    int(1, 4),
    int(1, 5),
  ];
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

/** Training-mode batch norm as tfjs-layers does it: batch moments, then FusedBatchNorm. */
function batchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
}

function residualCase(): Case {
  const [n, h, c] = [int(1, 2), int(4, 7), int(2, 4)];
  return {
    name: "residual block",
    shapes: [[n, h, h, c], [3, 3, c, c], [c], [c], [3, 3, c, 2 * c], [
      1,
      1,
      c,
      2 * c,
    ]],
    fn: (x, f1, g, b, f2, proj) => {
      const a = tf.relu(batchNorm(tf.conv2d(as4(x), as4(f1), 1, "same"), g, b));
      const y = tf.conv2d(as4(a), as4(f2), 2, "same");
      return tf.relu(tf.add(y, tf.conv2d(as4(x), as4(proj), 2, "same")));
    },
  };
}

const cases: Case[] = [
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
  {
    name: "dense",
    shapes: [[int(2, 5), 7], [7, int(2, 6)], [1]],
    fn: (x, w, b) => tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b)),
  },
  {
    name: "batch norm (training)",
    shapes: [[3, 5, 4, 3], [3], [3]],
    fn: batchNorm,
  },
  {
    name: "max pool 2x2",
    shapes: [[2, 6, 6, 3]],
    fn: (x) => tf.maxPool(as4(x), 2, 2, "valid"),
  },
  {
    name: "max pool 3x3 same",
    shapes: [[2, 5, 5, 2]],
    fn: (x) => tf.maxPool(as4(x), 3, 1, "same"),
  },
  {
    name: "avg pool 2x2",
    shapes: [[2, 6, 6, 3]],
    fn: (x) => tf.avgPool(as4(x), 2, 2, "valid"),
  },
  {
    name: "global average pool",
    shapes: [[2, 4, 4, 3]],
    fn: (x) => tf.mean(x, [1, 2]),
  },
  residualCase(),
];

/** Seeded inputs for a case, plus a projection for the scalar loss. */
function inputsFor(c: Case): Float32Array[] {
  return c.shapes.map((s) =>
    Float32Array.from(
      { length: tf.util.sizeFromShape(s) },
      () => rng.next() * 2 - 1,
    )
  );
}

/** Output and input gradients of `sum(fn(...) * proj)` on the current backend. */
async function evaluate(
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
  const arrays = await Promise.all(
    result.map((t) => t.data() as Promise<Float32Array>),
  );
  tf.dispose(result);
  return arrays;
}

/** Asserts |a - e| <= 1e-4 * (|e| + max|e|) elementwise. */
function close(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
): void {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  allClose(actual, expected, { rtol: 1e-4, atol: 1e-4 * scale + 1e-7 }, what);
}

async function parity(backend: "wasm" | "webgpu"): Promise<void> {
  await initBackend("cpu", { quiet: true });
  const reference: Float32Array[][] = [];
  const data = cases.map(inputsFor);
  for (const [i, c] of cases.entries()) {
    reference.push(await evaluate(c, data[i], i));
  }
  await initBackend(backend, { quiet: true });
  for (const [i, c] of cases.entries()) {
    const got = await evaluate(c, data[i], i);
    equal(got.length, reference[i].length);
    got.forEach((g, j) =>
      close(
        g,
        reference[i][j],
        `${backend} ${c.name} ${j ? `grad ${j}` : "out"}`,
      )
    );
  }
}

/**
 * The depthwise gradient kernels take dilations (tfjs-core's gradient does not,
 * and the cpu kernels ignore them), so the reference is built from the forward
 * dilated depthwise conv by linearity: dF[i] = <conv(x, e_i), dy> and
 * dX = <conv(e_j, f), dy> for every one-hot e_j at once (as a batch).
 */
function dilatedDepthwiseReference(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  f: tf.Tensor4D,
): tf.Tensor[] {
  return tf.tidy(() => {
    const conv = (a: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(a, w, 1, "same", "NHWC", 2);
    const nf = f.size;
    const dF = tf.stack(
      Array.from(
        { length: nf },
        (_, i) =>
          tf.sum(
            tf.mul(
              conv(
                x,
                tf.oneHot(i, nf).reshape(f.shape).toFloat() as tf.Tensor4D,
              ),
              dy,
            ),
          ),
      ),
    ).reshape(f.shape);
    const nx = x.size;
    const eye = tf.eye(nx).reshape([nx, ...x.shape.slice(1)]) as tf.Tensor4D;
    const dX = tf.sum(tf.mul(conv(eye, f), dy), [1, 2, 3]).reshape(x.shape);
    return [dF, dX];
  });
}

Deno.test("wasm dilated depthwise gradient kernels match the dilated forward conv", async () => {
  const r = new Rng(7);
  const data = (s: number[]) =>
    Float32Array.from(
      { length: tf.util.sizeFromShape(s) },
      () => r.next() - 0.5,
    );
  const [xs, dys, fs] = [[1, 6, 5, 2], [1, 6, 5, 4], [3, 3, 2, 2]];
  const [xd, dyd, fd] = [data(xs), data(dys), data(fs)];
  const make = () => [
    tf.tensor4d(xd, xs as never),
    tf.tensor4d(dyd, dys as never),
    tf.tensor4d(fd, fs as never),
  ];
  await initBackend("cpu", { quiet: true });
  const [x, dy, f] = make();
  const expected = await Promise.all(
    dilatedDepthwiseReference(x, dy, f).map((t) => t.data() as Promise<Float32Array>),
  );
  await initBackend("wasm", { quiet: true });
  const [wx, wdy, wf] = make();
  const attrs = { strides: [1, 1], dilations: [2, 2], pad: "same" };
  const dF = tf.engine().runKernel("DepthwiseConv2dNativeBackpropFilter", {
    x: wx,
    dy: wdy,
  }, {
    ...attrs,
    filterShape: fs,
  }) as tf.Tensor;
  const dX = tf.engine().runKernel("DepthwiseConv2dNativeBackpropInput", {
    dy: wdy,
    filter: wf,
  }, {
    ...attrs,
    inputShape: xs,
  }) as tf.Tensor;
  close(
    await dF.data() as Float32Array,
    expected[0],
    "depthwise dilated dFilter",
  );
  close(
    await dX.data() as Float32Array,
    expected[1],
    "depthwise dilated dInput",
  );
  tf.dispose([x, dy, f, wx, wdy, wf, dF, dX]);
});

Deno.test("wasm forward and gradients match cpu", () => parity("wasm"));

Deno.test("wasm composed kernels free their intermediates", async () => {
  await initBackend("wasm", { quiet: true });
  const step = () => evaluate(cases[1], inputsFor(cases[1]), 1);
  await step();
  const before = [tf.memory().numTensors, tf.backend().numDataIds()];
  for (let i = 0; i < 3; i++) await step();
  equal(tf.memory().numTensors, before[0], "tensors grew");
  equal(tf.backend().numDataIds(), before[1], "wasm buffers grew");
});

// WebGPU runs only in its own process (SHEARS_TEST_WEBGPU=1, a separate CI step): Deno 2.9 can
// abort at exit when one process both requests an adapter and runs wasm kernels.
const adapter = Deno.env.get("SHEARS_TEST_WEBGPU") === "1" ? await probeAdapter() : null;
Deno.test({
  name: `webgpu forward and gradients match cpu (${adapter?.name ?? "no adapter"})`,
  ignore: adapter == null,
  fn: () => parity("webgpu"),
});
