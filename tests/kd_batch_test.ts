/**
 * The distillation loss over a batch of distinct rows: its value against a
 * float64 hand computation (KL summed over classes, averaged over the batch,
 * times T²), its gradient against the closed form T·(softmax(s/T) −
 * softmax(t/T))/N and against central finite differences, and one training
 * step of train() with only the KD term against that closed form. A one-row
 * batch cannot tell a batch mean from a sum; three rows at two temperatures
 * pin the reduction and the T² scale.
 */
import { type Batch, type Dataset, kdLoss, tf, train } from "@shears/core";
import { allClose, equal } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { notCancelled, quietEmit, testContext } from "./context.ts";

await useTestBackend();

/** Three rows of four logits, every row different (scale, sign, order). */
const STUDENT = [[1.2, -0.4, 0.3, 2.0], [-1.5, 0.7, 0.1, -0.2], [0.05, 0.05, 3.1, -2.2]];
const TEACHER = [[0.2, 1.5, -0.7, 0.9], [2.4, -1.1, 0.6, 0.0], [-0.3, 0.8, 1.9, 0.4]];

function softmax(row: number[], T: number): number[] {
  const e = row.map((v) => Math.exp(v / T));
  const z = e.reduce((a, b) => a + b);
  return e.map((v) => v / z);
}

/** KL(softmax(t/T) || softmax(s/T)) per row, averaged over rows, times T². */
function kdByHand(s: number[][], t: number[][], T: number): number {
  const rows = s.map((_, n) => {
    const ps = softmax(s[n], T), pt = softmax(t[n], T);
    return pt.reduce((acc, p, c) => acc + p * Math.log(p / ps[c]), 0);
  });
  return (rows.reduce((a, b) => a + b) / rows.length) * T * T;
}

/** d kd / d s = T² · (1/T) · (softmax(s/T) − softmax(t/T)) / N. */
function kdGradByHand(s: number[][], t: number[][], T: number): number[] {
  return s.flatMap((row, n) => {
    const ps = softmax(row, T), pt = softmax(t[n], T);
    return ps.map((p, c) => (T * (p - pt[c])) / s.length);
  });
}

for (const T of [4, 2]) {
  Deno.test(`kd over a batch of 3 distinct rows at T = ${T}: value and gradient by hand`, async () => {
    const before = tf.memory().numTensors;
    const s = tf.tensor2d(STUDENT), t = tf.tensor2d(TEACHER);
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => kdLoss(x, t, T))(s);
    allClose(await value.data(), [kdByHand(STUDENT, TEACHER, T)], { rtol: 1e-5 }, "kd value");
    allClose(
      await grad.data(),
      kdGradByHand(STUDENT, TEACHER, T),
      { rtol: 1e-4, atol: 1e-6 },
      "dkd/ds",
    );
    tf.dispose([value, grad, s, t]);
    equal(tf.memory().numTensors, before, "tensors");
  });
}

Deno.test("kd gradient matches central finite differences of the hand value", async () => {
  const T = 3, h = 1e-4;
  const s = tf.tensor2d(STUDENT), t = tf.tensor2d(TEACHER);
  const grad = tf.grad((x: tf.Tensor) => kdLoss(x, t, T))(s);
  const fd = STUDENT.flatMap((row, n) =>
    row.map((_, c) => {
      const at = (d: number) =>
        kdByHand(
          STUDENT.map((r, i) => r.map((v, j) => (i === n && j === c ? v + d : v))),
          TEACHER,
          T,
        );
      return (at(h) - at(-h)) / (2 * h);
    })
  );
  allClose(await grad.data(), fd, { rtol: 1e-3, atol: 1e-6 }, "finite differences");
  tf.dispose([s, t, grad]);
});

Deno.test("train() with only the KD term: one SGD step = -lr·alpha·Xᵀ·T(ps − pt)/N", async () => {
  // student: dense 3 -> 4 without bias, so its logits are X·W and dL/dW = Xᵀ·dL/ds
  const X = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.2, 0.9, 0.4]];
  const W = [[0.3, -0.2, 0.1, 0.4], [-0.5, 0.6, 0.2, -0.1], [0.25, 0.05, -0.3, 0.2]];
  const V = [[1.0, -0.5, 0.2, 0.3], [0.4, 0.8, -0.6, 0.1], [-0.3, 0.2, 0.9, -0.4]];
  const linear = (kernel: number[][], name: string) => {
    const input = tf.input({ shape: [3] });
    const out = tf.layers.dense({ units: 4, useBias: false, name }).apply(input);
    const m = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
    const k = tf.tensor2d(kernel);
    m.setWeights([k]);
    k.dispose();
    return m;
  };
  const student = linear(W, "student"), teacher = linear(V, "teacher");
  const data: Dataset = {
    name: "three rows",
    inputShape: [3],
    numClasses: 4,
    size: () => 3,
    *batches(): Iterable<Batch> {
      yield { x: tf.tensor2d(X), y: tf.tensor1d([0, 1, 2], "int32") };
    },
  };
  const ctx = testContext({ model: student, teacher, data });
  const lr = 0.5, alpha = 0.7, T = 4;
  await train(
    ctx,
    {
      epochs: 1,
      batchSize: 3,
      gamma: 0,
      alpha,
      augment: false,
      optimizer: { kind: "sgd", lr },
    },
    quietEmit,
    notCancelled,
  );
  const matmul = (a: number[][], b: number[][]) =>
    a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
  const dS = kdGradByHand(matmul(X, W), matmul(X, V), T); // 3 x 4, row-major
  const want = W.flatMap((row, i) =>
    row.map((w, j) => w - lr * alpha * X.reduce((s, x, n) => s + x[i] * dS[n * 4 + j], 0))
  );
  allClose(await student.getWeights()[0].data(), want, { rtol: 1e-5, atol: 1e-6 }, "kernel");
  allClose(
    await teacher.getWeights()[0].data(),
    V.flat().map(Math.fround),
    { rtol: 0, atol: 0 },
    "teacher",
  );
  student.dispose();
  teacher.dispose();
});
