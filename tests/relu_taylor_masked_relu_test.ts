/**
 * MaskedReLU values and gradients, the masked_relu transform, and masks /
 * ReLU counts surviving save -> load.
 */
import { activationMaskLayers, MaskedReLU, reluElements, reluTable, Rng, tf } from "@shears/core";
import reluTaylor, { toMaskedReLU } from "@shears/relu_taylor";
import { allClose, deepEqual, equal, rejects, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

/** x values at least 0.1 away from 0, so finite differences do not straddle the kink. */
function awayFromZero(n: number, rng: Rng): number[] {
  return Array.from({ length: n }, () => {
    const v = rng.normal();
    return Math.sign(v || 1) * (0.1 + Math.abs(v));
  });
}

function tinyPlainModel(): tf.LayersModel {
  const inp = tf.input({ shape: [3, 3, 2], name: "in" });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", name: "c1" })
    .apply(inp) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: "r1" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: "c2" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu", name: "a2" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: "relu6", maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: "flat" }).apply(x) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 2, name: "fc" }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: y });
}

Deno.test("MaskedReLU: m = 1 is ReLU, m = 0 is identity, mixed masks mix per element", async () => {
  const rng = new Rng(1);
  const layer = new MaskedReLU({ name: "mr" });
  const xs = awayFromZero(2 * 2 * 2 * 3, rng);
  const x = tf.tensor(xs, [2, 2, 2, 3]);
  layer.apply(x); // builds the mask (2,2,3), all ones
  const maskVals = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 0 : 1));
  const cases: [string, number[]][] = [
    ["ones", Array(12).fill(1)],
    ["zeros", Array(12).fill(0)],
    ["mixed", maskVals],
  ];
  for (const [what, m] of cases) {
    layer.setMask(tf.tensor(m, [2, 2, 3]));
    const y = tf.tidy(() => (layer.apply(x) as tf.Tensor).dataSync());
    const want = xs.map((v, i) => (m[i % 12] ? Math.max(0, v) : v));
    allClose(y, want, {}, what);
    equal(await layer.activeCount(), m.reduce((a, b) => a + b, 0));
  }
  x.dispose();
});

Deno.test("MaskedReLU: gradient matches finite differences (mixed mask)", () => {
  const rng = new Rng(2);
  const layer = new MaskedReLU({ name: "mr_grad" });
  const xs = awayFromZero(2 * 2 * 1 * 3, rng);
  const cs = Array.from({ length: xs.length }, () => rng.normal());
  const x = tf.tensor(xs, [2, 2, 1, 3]);
  const c = tf.tensor(cs, [2, 2, 1, 3]);
  layer.apply(x);
  layer.setMask(tf.tensor([1, 0, 1, 0, 1, 1], [2, 1, 3]));
  const f = (t: tf.Tensor) => (layer.apply(t) as tf.Tensor).mul(c).sum() as tf.Scalar;
  const g = tf.tidy(() => tf.grad(f)(x).dataSync());
  const h = 1e-2;
  const fd = xs.map((_, i) =>
    tf.tidy(() => {
      const plus = xs.slice(), minus = xs.slice();
      plus[i] += h;
      minus[i] -= h;
      const fp = f(tf.tensor(plus, x.shape)).dataSync()[0];
      const fm = f(tf.tensor(minus, x.shape)).dataSync()[0];
      return (fp - fm) / (2 * h);
    })
  );
  allClose(g, fd, { rtol: 1e-3, atol: 1e-3 }, "dy/dx");
  // and the gradient is zero exactly where an active ReLU cut a negative x
  const m = [1, 0, 1, 0, 1, 1];
  xs.forEach((v, i) => {
    if (m[i % 6] && v < 0) equal(Math.abs(g[i]), 0, `element ${i}`);
  });
  x.dispose();
  c.dispose();
});

Deno.test("masked_relu transform: plain ReLUs become MaskedReLU, same function, own weights", async () => {
  const model = tinyPlainModel();
  const before = tf.memory().numTensors;
  toMaskedReLU(model).dispose();
  equal(tf.memory().numTensors, before, "a transform and dispose leave no tensors behind");
  const out = await reluTaylor.transforms!.masked_relu.apply(model, {});
  const masked = activationMaskLayers(out).map((l) => l.name);
  deepEqual(masked, ["r1", "a2"]); // relu6 (maxValue) stays a ReLU
  equal(out.getLayer("relu6").getClassName(), "ReLU");
  tf.tidy(() => {
    const x = tf.randomNormal([2, 3, 3, 2], 0, 1, "float32", 3);
    const want = (model.predict(x) as tf.Tensor).dataSync();
    allClose((out.predict(x) as tf.Tensor).dataSync(), want, {}, "outputs");
  });
  // the new model owns its weights: changing them leaves the input model as it was
  const w0 = model.getLayer("c1").getWeights()[0].dataSync().slice();
  tf.tidy(() => out.getLayer("c1").setWeights([tf.zeros([3, 3, 2, 4]), tf.zeros([4])]));
  allClose(model.getLayer("c1").getWeights()[0].dataSync(), w0, {}, "input model weights");
  // exclude keeps a ReLU; transforming twice keeps existing masks
  const partial = toMaskedReLU(model, ["a2"]);
  deepEqual(activationMaskLayers(partial).map((l) => l.name), ["r1"]);
  const r1 = out.getLayer("r1") as MaskedReLU;
  tf.tidy(() => r1.setMask(tf.zeros(r1.mask.shape as number[])));
  const again = toMaskedReLU(out);
  equal(await (again.getLayer("r1") as MaskedReLU).activeCount(), 0);
  equal(await (again.getLayer("a2") as MaskedReLU).activeCount(), 27);
  for (const m of [out, partial, again]) m.dispose();
  throws(() => toMaskedReLU(model, ["nope"]), /nope/);
  await rejects(
    async () => await reluTaylor.transforms!.masked_relu.apply(model, { exclude: "r1, a2" }),
    /no plain ReLU/,
  );
});

Deno.test("masks and ReLU counts survive save -> load", async () => {
  const model = toMaskedReLU(tinyPlainModel());
  const r1 = model.getLayer("r1") as MaskedReLU;
  const a2 = model.getLayer("a2") as MaskedReLU;
  const m1: number[] = Array.from({ length: 36 }, (_, i) => (i % 5 === 0 ? 1 : 0));
  const m2 = Array.from({ length: 27 }, (_, i) => (i < 4 ? 1 : 0));
  r1.setMask(tf.tensor(m1, [3, 3, 4]));
  a2.setMask(tf.tensor(m2, [3, 3, 3]));
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler((a) => {
    saved = a;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const counts = await reluTable(loaded);
  deepEqual(counts, await reluTable(model));
  equal(counts.kept, m1.reduce((a, b) => a + b, 0) + 4);
  equal(counts.total, 63);
  equal(reluElements(loaded), 63);
  allClose((loaded.getLayer("r1") as MaskedReLU).mask.read().dataSync(), m1, {}, "r1 mask");
  allClose((loaded.getLayer("a2") as MaskedReLU).mask.read().dataSync(), m2, {}, "a2 mask");
  const x = tf.randomNormal([2, 3, 3, 2], 0, 1, "float32", 4);
  allClose(
    (loaded.predict(x) as tf.Tensor).dataSync(),
    (model.predict(x) as tf.Tensor).dataSync(),
    {},
    "outputs after load",
  );
  x.dispose();
  model.dispose();
  loaded.dispose();
});
