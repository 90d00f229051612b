/**
 * The wasm backend (with Shears' composed kernels, core/backends/wasm)
 * computes the forward pass and gradients of the training building blocks like
 * the pure-JS cpu backend. WebGPU has its own file (backend_webgpu_test.ts) so
 * this process never creates a WebGPU instance.
 */
import { initBackend, Rng, tf } from "@shears/core";
import { deepEqual, equal } from "./assert.ts";
import { cases, close, evaluate, inputsFor, parity } from "./backend_cases.ts";

/**
 * The depthwise gradient kernels take dilations (tfjs-core's gradient does not,
 * and the cpu kernels ignore them), so the reference is built from the forward
 * dilated depthwise conv by linearity: dF[i] = <conv(x, e_i), dy> and
 * dX = <conv(e_j, f), dy> for every one-hot e_j at once (as a batch).
 */
function dilatedDepthwiseReference(x: tf.Tensor4D, dy: tf.Tensor4D, f: tf.Tensor4D): tf.Tensor[] {
  return tf.tidy(() => {
    const conv = (a: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(a, w, 1, "same", "NHWC", 2);
    const nf = f.size;
    const dF = tf.stack(
      Array.from(
        { length: nf },
        (_, i) =>
          tf.sum(tf.mul(conv(x, tf.oneHot(i, nf).reshape(f.shape).toFloat() as tf.Tensor4D), dy)),
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
    Float32Array.from({ length: tf.util.sizeFromShape(s) }, () => r.next() - 0.5);
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
  const dF = tf.engine().runKernel("DepthwiseConv2dNativeBackpropFilter", { x: wx, dy: wdy }, {
    ...attrs,
    filterShape: fs,
  }) as tf.Tensor;
  const dX = tf.engine().runKernel("DepthwiseConv2dNativeBackpropInput", { dy: wdy, filter: wf }, {
    ...attrs,
    inputShape: xs,
  }) as tf.Tensor;
  close(await dF.data() as Float32Array, expected[0], "depthwise dilated dFilter");
  close(await dX.data() as Float32Array, expected[1], "depthwise dilated dInput");
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

Deno.test("wasm Identity of a reshaped tensor gives a buffer of its own shape (fused conv bias)", async () => {
  await initBackend("wasm", { quiet: true });
  const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
  const filter = tf.ones([1, 1, 2, 3]) as tf.Tensor4D;
  // reshape shares the [3, 1] buffer; clone (Identity; rank-1 transposes call it) must not
  // hand that buffer's recorded rank-2 shape to FusedConv2D, which insists on rank 1.
  const bias = tf.tidy(() => tf.tensor2d([[1], [2], [3]]).reshape([3]).clone());
  const y = tf.fused.conv2d({ x, filter, bias, strides: 1, pad: "valid" });
  deepEqual(Array.from(await y.data()).slice(0, 3), [3, 4, 5]);
  tf.dispose([x, filter, bias, y]);
});

Deno.test("wasm whole-tensor Slice shares the buffer and outlives its input", async () => {
  await initBackend("wasm", { quiet: true });
  const before = tf.memory().numDataBuffers;
  const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
  const y = tf.slice(x, [0, 0, 0], [2, -1, -1]);
  equal(tf.memory().numDataBuffers, before + 1, "no copy");
  x.dispose();
  deepEqual(Array.from(await y.data()), [1, 2, 3, 4, 5, 6, 7, 8]);
  y.dispose();
  equal(tf.memory().numDataBuffers, before);
});
