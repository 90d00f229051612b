/**
 * relu_taylor inside core's training loop: the taps deliver the
 * pre-activation and the gradient at the MaskedReLU output (checked against
 * a hand computation at the last masked layer), and the mask controller
 * brings the ReLU count to its target during training without tensor growth.
 */
import { MaskedReLU, reluTable, type RunContext, tf, train } from "@shears/core";
import { syntheticDataset } from "@shears/datasets";
import reluTaylor, { maskController } from "@shears/relu_taylor";
import { allClose, deepEqual, equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { notCancelled as cancel, quietEmit as quiet } from "./context.ts";
import { makeCtx, tinyModel } from "./relu_taylor_fixtures.ts";

await useTestBackend();

function withData(n: number): RunContext {
  const ctx = makeCtx(tinyModel());
  ctx.data = syntheticDataset({ n, nTest: 0, inputShape: [1, 2, 2], numClasses: 2, seed: 1 });
  return ctx;
}

Deno.test("taylor in train(): I of the last MaskedReLU after one batch = hand computation", async () => {
  const ctx = withData(8);
  const model = ctx.model!;
  const idx = model.layers.findIndex((l) => l.name === "r2");
  const dense = model.layers[model.layers.length - 1];
  const batch = [...ctx.data!.batches("train", { batchSize: 8, shuffle: false })][0];
  // x = pre-activation of r2; g = dLoss/d(r2 output) = (softmax - onehot) / N · Wᵀ
  const [x, g] = tf.tidy(() => {
    const pre = tf.model({ inputs: model.inputs, outputs: model.layers[idx - 1].output })
      .predict(batch.x) as tf.Tensor;
    const logits = model.predict(batch.x) as tf.Tensor2D;
    const dlogits = tf.softmax(logits).sub(tf.oneHot(batch.y.toInt(), 2)).div(8);
    const w = dense.getWeights()[0];
    return [pre.dataSync(), dlogits.matMul(w.transpose()).dataSync()];
  });
  tf.dispose([batch.x, batch.y]);
  const session = reluTaylor.scorers!.taylor.start(ctx, {});
  await train(
    ctx,
    {
      epochs: 1,
      batchSize: 8,
      optimizer: { kind: "sgd", lr: 0.1 },
      sessions: [session],
      noStep: true,
      augment: false,
    },
    quiet,
    cancel,
  );
  const want = [0, 1].map((j) => {
    let neg = 0, gx = 0, g2 = 0, x2 = 0;
    for (let i = 0; i < 8; i++) {
      const xi = x[i * 2 + j], gi = g[i * 2 + j];
      neg += xi < 0 ? 1 : 0;
      gx += Math.abs(gi * xi);
      g2 += gi * gi;
      x2 += xi * xi;
    }
    const F = (gx / 8) * (neg / 8), S = 0.5 * (x2 / 8) * 0.01 * (g2 / 8);
    return 0.05 * (F + S); // w_2 = 1: the layer had no statistics before this batch
  });
  ok(want.some((v) => v > 0), "a non-trivial case");
  const scores = await session.scores();
  allClose(scores.values.get("r2")!.dataSync(), want, { rtol: 1e-4, atol: 1e-10 }, "I(r2)");
  ok(scores.values.get("r1")!.dataSync().some((v) => v > 0), "r1 was tapped");
  // r0 sits on the model input, whose gradient the loop never computes: its taps cannot fire
  ok(scores.values.get("r0")!.dataSync().every((v) => v === 0), "r0 unseen");
  tf.dispose([...scores.values.values()]);
  session.dispose();
  model.dispose();
});

Deno.test("taylor + maskController in train(): ReLU count reaches the exact target, no leaks", async () => {
  const ctx = withData(32);
  const model = ctx.model!;
  const session = reluTaylor.scorers!.taylor.start(ctx, {});
  // 4 batches per epoch, warmup 1, target epoch floor(1 + 3 * 0.6) = 2, update every 2 / 4 batches
  const controller = maskController(ctx, session, reluTaylor.pruners!.global_topk, {
    epochs: 4,
    warmup: 1,
    interval: 2,
    targetRelus: 3,
  });
  const kept: number[] = [];
  const tensors: number[] = [];
  await train(
    ctx,
    {
      epochs: 4,
      batchSize: 8,
      optimizer: { kind: "sgd", lr: 0.05, momentum: 0.9 },
      sessions: [session],
      callbacks: [{
        onBatchEnd: async (info) => {
          if (await controller.onBatchEnd(info)) kept.push((await reluTable(model)).kept);
        },
        onEpochEnd: () => {
          tensors.push(tf.memory().numTensors);
        },
      }],
    },
    quiet,
    cancel,
  );
  deepEqual(kept, [12, 12, 3, 3, 3]);
  equal((await reluTable(model)).kept, 3);
  const masks = await Promise.all(
    ["r0", "r1", "r2"].map((n) => (model.getLayer(n) as MaskedReLU).activeCount()),
  );
  equal(masks.reduce((a, b) => a + b, 0), 3);
  equal(tensors[3], tensors[2], `numTensors at epoch ends: ${tensors}`);
  session.dispose();
  model.dispose();
});
