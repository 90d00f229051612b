import { buildChannelGraph, rewriteLayers, tf } from "@shears/core";
import { buildModel } from "@shears/models";
import { SigmoidBatchNorm, sigmoidBnTransform, toSigmoidBatchNorm } from "@shears/rni";
import { allClose, deepEqual, equal, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

const sig = (z: number) => 1 / (1 + Math.exp(-z));
// x: N=2, H=1, W=3, C=2 (channels last), values chosen by hand.
const X = [1, -2, 3, 0.5, -1, 4, 2, 1, 0, -3, 5, 2];
const THETA = [0.3, -1.2];
const N = 6; // positions per channel

/** Per-channel mean and biased variance of X. */
function stats(): { mean: number[]; varc: number[] } {
  const mean = [0, 0], varc = [0, 0];
  X.forEach((v, i) => (mean[i % 2] += v / N));
  X.forEach((v, i) => (varc[i % 2] += (v - mean[i % 2]) ** 2 / N));
  return { mean, varc };
}

function layerWith(theta: number[]): { layer: SigmoidBatchNorm; model: tf.LayersModel } {
  const input = tf.input({ shape: [1, 3, 2] });
  const layer = new SigmoidBatchNorm({ name: "sbn" });
  const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
  layer.theta.write(tf.tensor1d(theta));
  return { layer, model };
}

Deno.test("SigmoidBatchNorm: training forward = sigmoid(theta)·(x − μ)/sqrt(σ² + 1e-5), moving stats updated", () => {
  const { layer, model } = layerWith(THETA);
  const x = tf.tensor4d(X, [2, 1, 3, 2]);
  const y = layer.apply(x, { training: true }) as tf.Tensor;
  const { mean, varc } = stats();
  const want = X.map((v, i) =>
    sig(THETA[i % 2]) * (v - mean[i % 2]) / Math.sqrt(varc[i % 2] + 1e-5)
  );
  allClose(y.dataSync(), want, { rtol: 1e-5, atol: 1e-5 }, "y");
  // moving = 0.9 * old + 0.1 * batch (old mean 0, old variance 1)
  const w = Object.fromEntries(
    layer.weights.map((v) => [v.originalName.split("/")[1], v.read().dataSync()]),
  );
  allClose(w.moving_mean, mean.map((m) => 0.1 * m), { atol: 1e-6 }, "moving_mean");
  allClose(w.moving_variance, varc.map((v) => 0.9 + 0.1 * v), { atol: 1e-5 }, "moving_variance");
  deepEqual(Object.keys(w).sort(), ["moving_mean", "moving_variance", "theta"]);
  equal(layer.trainableWeights.length, 1);
  tf.dispose([x, y]);
  model.dispose();
});

Deno.test("SigmoidBatchNorm: inference uses the moving statistics", () => {
  const { layer, model } = layerWith(THETA);
  const [, mm, mv] = layer.weights;
  mm.write(tf.tensor1d([0.5, -1]));
  mv.write(tf.tensor1d([4, 0.25]));
  const x = tf.tensor4d(X, [2, 1, 3, 2]);
  const y = model.predict(x) as tf.Tensor;
  const want = X.map((v, i) =>
    sig(THETA[i % 2]) * (v - [0.5, -1][i % 2]) / Math.sqrt([4, 0.25][i % 2] + 1e-5)
  );
  allClose(y.dataSync(), want, { rtol: 1e-5, atol: 1e-5 }, "y");
  tf.dispose([x, y]);
  model.dispose();
});

Deno.test("SigmoidBatchNorm: gradients — dθ by hand, dx by finite differences", () => {
  const { layer, model } = layerWith(THETA);
  const wts = X.map((_, i) => Math.sin(i + 1)); // loss = Σ wts · y
  const x = tf.tensor4d(X, [2, 1, 3, 2]);
  const w = tf.tensor4d(wts, [2, 1, 3, 2]);
  const loss = (xx: tf.Tensor) =>
    (layer.apply(xx, { training: true }) as tf.Tensor).mul(w).sum() as tf.Scalar;
  const theta = layer.theta.read() as tf.Variable;
  const { grads } = tf.variableGrads(() => loss(x), [theta]);
  const { mean, varc } = stats();
  const dTheta = [0, 0];
  X.forEach((v, i) => {
    const c = i % 2, s = sig(THETA[c]);
    dTheta[c] += wts[i] * s * (1 - s) * (v - mean[c]) / Math.sqrt(varc[c] + 1e-5);
  });
  allClose(grads[theta.name].dataSync(), dTheta, { rtol: 1e-4, atol: 1e-5 }, "dθ");
  const dx = tf.grad((xx: tf.Tensor) => loss(xx))(x).dataSync();
  const eps = 1e-2;
  const numeric = X.map((_, i) => {
    const f = (d: number) =>
      tf.tidy(() =>
        loss(tf.tensor4d(X.map((v, j) => (j === i ? v + d : v)), [2, 1, 3, 2])).dataSync()[0]
      );
    return (f(eps) - f(-eps)) / (2 * eps);
  });
  allClose(dx, numeric, { rtol: 2e-2, atol: 2e-3 }, "dx");
  tf.dispose([x, w, grads[theta.name]]);
  model.dispose();
});

Deno.test("SigmoidBatchNorm: no tensor growth across repeated training steps", () => {
  const { layer, model } = layerWith(THETA);
  const x = tf.tensor4d(X, [2, 1, 3, 2]);
  const theta = layer.theta.read() as tf.Variable;
  const step = () => {
    const { value, grads } = tf.variableGrads(
      () => (layer.apply(x, { training: true }) as tf.Tensor).square().mean() as tf.Scalar,
      [theta],
    );
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});

Deno.test("sigmoid_bn transform: BN -> SigmoidBatchNorm, moving stats kept, theta ~ N(0,1) seeded, save/load", async () => {
  const base = buildModel("vgg11_bn", {
    inputShape: [32, 32, 1],
    numClasses: 4,
    width: 0.5,
    seed: 1,
  });
  const bn = base.getLayer("features_bn3");
  const mm = bn.weights.find((w) => w.originalName.endsWith("moving_mean"))!;
  mm.write(tf.randomNormal(mm.shape as number[], 0, 1, "float32", 3));
  const a = toSigmoidBatchNorm(base, { seed: 7 });
  const b = await sigmoidBnTransform.apply(base, { seed: 7 });
  const sbns = a.layers.filter((l) => l instanceof SigmoidBatchNorm) as SigmoidBatchNorm[];
  equal(sbns.length, 8);
  equal(a.layers.filter((l) => l.getClassName() === "BatchNormalization").length, 0);
  const s3 = a.getLayer("features_bn3") as SigmoidBatchNorm;
  allClose(s3.weights[1].read().dataSync(), mm.read().dataSync(), {}, "moving_mean copied");
  equal(s3.epsilon, 1e-5);
  equal(s3.momentum, 0.9);
  const thetas = Array.from(tf.concat(sbns.map((l) => l.theta.read())).dataSync());
  const mean = thetas.reduce((p, v) => p + v, 0) / thetas.length;
  const sd = Math.sqrt(thetas.reduce((p, v) => p + (v - mean) ** 2, 0) / thetas.length);
  ok(Math.abs(mean) < 0.15 && Math.abs(sd - 1) < 0.15, `theta mean ${mean}, sd ${sd}`);
  const tb = tf.concat((b.layers.filter((l) => l instanceof SigmoidBatchNorm) as SigmoidBatchNorm[])
    .map((l) => l.theta.read()));
  allClose(tb.dataSync(), thetas, {}, "same seed, same thetas");
  // the channel graph passes channels through SigmoidBatchNorm and slices its weights
  const g = buildChannelGraph(a).groupOf("features_conv2");
  deepEqual(g.followers.filter((f) => f.layer === "features_bn2").map((f) => f.weight).sort(), [
    "moving_mean",
    "moving_variance",
    "theta",
  ]);
  // save / load round trip keeps class and weights
  let artifacts: tf.io.ModelArtifacts | undefined;
  await a.save(tf.io.withSaveHandler((art) => {
    artifacts = art;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  ok(loaded.getLayer("features_bn3") instanceof SigmoidBatchNorm);
  const x = tf.randomNormal([2, 32, 32, 1], 0, 1, "float32", 5);
  allClose((loaded.predict(x) as tf.Tensor).dataSync(), (a.predict(x) as tf.Tensor).dataSync(), {
    rtol: 1e-5,
    atol: 1e-5,
  }, "loaded output");
  // a model without BN is rejected in one line
  const plain = rewriteLayers(
    buildModel("lenet5", { inputShape: [28, 28, 1], numClasses: 3 }),
    (s) => s,
  );
  throws(() => toSigmoidBatchNorm(plain), /no BatchNormalization layer/);
  tf.dispose([x, tb]);
  [base, a, b, loaded, plain].forEach((m) => m.dispose());
});
