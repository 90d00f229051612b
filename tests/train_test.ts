import { tf } from "@shears/core";
import { Rng, type RunContext } from "@shears/core";
import type { Batch, Dataset, ScoreSession } from "@shears/core";
import { train } from "../core/train.ts";
import { crossEntropy, kdLoss } from "../core/losses.ts";
import { withTaps } from "../core/taps.ts";
import { notCancelled as never, quietEmit as quiet, testContext } from "./context.ts";
import { allClose, equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

/** A tiny in-memory dataset: 2 classes separable by the sign of feature 0. */
function tinyData(n = 64, d = 4): Dataset {
  const rng = new Rng(3);
  const xs = Float32Array.from({ length: n * d }, () => rng.normal());
  const ys = Int32Array.from({ length: n }, (_, i) => (xs[i * d] > 0 ? 1 : 0));
  return {
    name: "tiny",
    inputShape: [d],
    numClasses: 2,
    size: () => n,
    *batches(_split, o): Iterable<Batch> {
      for (let i = 0; i < n; i += o.batchSize) {
        const m = Math.min(o.batchSize, n - i);
        yield {
          x: tf.tensor2d(xs.slice(i * d, (i + m) * d), [m, d]),
          y: tf.tensor1d(ys.slice(i, i + m), "int32"),
        };
      }
    },
  };
}

function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [4] });
  const h = tf.layers.dense({ units: 8, name: "fc1" }).apply(input) as tf.SymbolicTensor;
  const r = tf.layers.reLU({ name: "relu1" }).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, name: "fc2" }).apply(r) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function ctxFor(
  model: tf.LayersModel,
  data: Dataset,
  signal = new AbortController().signal,
): RunContext {
  return testContext({ model, data, signal });
}

Deno.test("kd loss equals a hand computation", () => {
  const s = [1, 2, 0.5], t = [0.2, 1.5, 3], T = 4;
  const sm = (v: number[]) => {
    const e = v.map((x) => Math.exp(x / T));
    const z = e.reduce((a, b) => a + b);
    return e.map((x) => x / z);
  };
  const ps = sm(s), pt = sm(t);
  const want = pt.reduce((a, p, i) => a + p * Math.log(p / ps[i]), 0) * T * T;
  const got = kdLoss(tf.tensor2d([s]), tf.tensor2d([t]), T).dataSync()[0];
  allClose([got], [want], { rtol: 1e-5 });
  const ce = crossEntropy(tf.tensor2d([s]), tf.tensor1d([1], "int32")).dataSync()[0];
  allClose([ce], [-Math.log(Math.exp(2) / (Math.exp(1) + Math.exp(2) + Math.exp(0.5)))], {
    rtol: 1e-5,
  });
});

Deno.test("training lowers the loss, keeps masks, and leaks no tensors across epochs", async () => {
  const model = tinyModel();
  const ctx = ctxFor(model, tinyData());
  ctx.masks.set(
    model,
    "fc1/kernel",
    tf.tensor2d(Array.from({ length: 32 }, (_, i) => i % 3 ? 1 : 0), [4, 8]),
  );
  ctx.masks.apply(model);
  const counts: number[] = [];
  const stats = await train(
    ctx,
    {
      epochs: 3,
      batchSize: 16,
      optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 1e-4 },
      callbacks: [{
        onEpochEnd: () => {
          counts.push(tf.memory().numTensors);
        },
      }],
    },
    quiet,
    never,
  );
  ok(stats[2].loss < stats[0].loss, `loss ${stats[0].loss} -> ${stats[2].loss}`);
  equal(counts[1], counts[0]);
  equal(counts[2], counts[0]);
  const k = model.getLayer("fc1").getWeights()[0].dataSync();
  for (let i = 0; i < 32; i++) if (i % 3 === 0) ok(k[i] === 0, `pruned weight ${i} = ${k[i]}`);
});

Deno.test("taps see x and dy = dL/dx at a layer input; the tapped model shares weights", async () => {
  const model = tinyModel();
  const x = tf.randomNormal([5, 4], 0, 1, "float32", 7);
  const y = tf.tensor1d([0, 1, 1, 0, 1], "int32");
  let seen: number[] = [], grad: number[] = [];
  const tapped = withTaps(model, [{ layer: "relu1", at: "input" }], (_k, xx, dy) => {
    seen = [...xx.dataSync()];
    grad = [...dy.dataSync()];
  });
  const pre = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer("fc1").getOutputAt(0) as tf.SymbolicTensor,
  });
  const h = pre.predict(x) as tf.Tensor;
  const relu = model.getLayer("relu1"), fc2 = model.getLayer("fc2");
  const want = tf.grad((hh: tf.Tensor) => crossEntropy(fc2.apply(relu.apply(hh)) as tf.Tensor, y))(
    h,
  );
  tf.grad((xx: tf.Tensor) => crossEntropy(tapped.apply(xx) as tf.Tensor, y))(x);
  allClose(seen, [...h.dataSync()], { rtol: 1e-5 }, "x");
  allClose(grad, [...want.dataSync()], { rtol: 1e-4, atol: 1e-7 }, "dy");
  equal(tapped.trainableWeights[0], model.trainableWeights[0]);
  await Promise.resolve();
});

Deno.test("a score session gets taps and batch ends during training; cancellation stops within a batch", async () => {
  const model = tinyModel();
  const ac = new AbortController();
  const ctx = ctxFor(model, tinyData(), ac.signal);
  let taps = 0, ends = 0;
  const session: ScoreSession = {
    taps: [{ layer: "relu1", at: "output" }],
    onTap: () => taps++,
    onBatchEnd: (info) => {
      ends++;
      if (info.globalStep === 2) ac.abort();
    },
    scores: () => ({ target: "activations", values: new Map() }),
    dispose() {},
  };
  let err: unknown;
  try {
    await train(
      ctx,
      { epochs: 2, batchSize: 8, optimizer: { kind: "sgd", lr: 0.01 }, sessions: [session] },
      quiet,
      {
        get cancelled() {
          return ac.signal.aborted;
        },
      },
    );
  } catch (e) {
    err = e;
  }
  ok(err, "expected cancellation");
  equal(ends, 2);
  equal(taps, 2);
});

Deno.test("a regularizer's gradient reaches its variables", async () => {
  const model = tinyModel();
  const ctx = ctxFor(model, tinyData());
  const before = model.getLayer("fc2").getWeights()[1].dataSync()[0];
  const reg = {
    description: "pushes fc2's bias up: loss = -sum(bias)",
    loss: (m: tf.LayersModel) => m.getLayer("fc2").getWeights()[1].sum().neg() as tf.Scalar,
  };
  // gamma 0: only the regularizer drives the update, so the bias moves by exactly lr * weight per step.
  await train(
    ctx,
    {
      epochs: 1,
      batchSize: 64,
      gamma: 0,
      optimizer: { kind: "sgd", lr: 0.5 },
      regularizers: [{ name: "up", reg, weight: 2 }],
    },
    quiet,
    never,
  );
  const after = model.getLayer("fc2").getWeights()[1].dataSync()[0];
  allClose([after - before], [0.5 * 2], { rtol: 1e-5 });
});
