/**
 * The fine-tune's attention-transfer loss against a hand computation, its
 * gradient against finite differences, and the feature model helper.
 */
import { Rng, tf } from "@shears/core";
import { attentionLoss, attentionMap, featureModel } from "@shears/relu_taylor";
import { allClose, deepEqual, equal, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { tinyModel } from "./relu_taylor_fixtures.ts";

await useTestBackend();

/** Attention map of f (N,H,W,C) given as nested plain arrays, by hand. */
function handMap(f: number[], [n, h, w, c]: number[]): number[][] {
  return Array.from({ length: n }, (_, i) => {
    const a = Array.from({ length: h * w }, (_, p) => {
      let s = 0;
      for (let k = 0; k < c; k++) s += f[(i * h * w + p) * c + k] ** 2;
      return s / c;
    });
    const norm = Math.max(Math.sqrt(a.reduce((x, y) => x + y * y, 0)), 1e-12);
    return a.map((v) => v / norm);
  });
}

const rand = (n: number, rng: Rng) => Array.from({ length: n }, () => rng.normal());

Deno.test("attentionMap and attentionLoss = hand computation (2 stages, beta 1000 and 1)", () => {
  const rng = new Rng(9);
  const shapes = [[2, 2, 2, 3], [2, 1, 3, 2]];
  const sv = shapes.map((s) => rand(s.reduce((a, b) => a * b), rng));
  const tv = shapes.map((s) => rand(s.reduce((a, b) => a * b), rng));
  const st = sv.map((v, i) => tf.tensor(v, shapes[i]));
  const tt = tv.map((v, i) => tf.tensor(v, shapes[i]));
  const m = attentionMap(st[0]);
  deepEqual(m.shape, [2, 4]);
  allClose(m.dataSync(), handMap(sv[0], shapes[0]).flat(), { rtol: 1e-5 }, "map");
  let want = 0;
  shapes.forEach((s, i) => {
    const a = handMap(sv[i], s).flat(), b = handMap(tv[i], s).flat();
    want += a.reduce((acc, x, j) => acc + (x - b[j]) ** 2, 0) / a.length;
  });
  allClose([attentionLoss(st, tt).dataSync()[0]], [1000 * want], { rtol: 1e-5 }, "loss");
  allClose([attentionLoss(st, tt, 1).dataSync()[0]], [want], { rtol: 1e-5 }, "raw loss");
  equal(attentionLoss(st, st).dataSync()[0], 0);
  // an all-zero feature map is a zero attention map, with finite gradients
  const zero = tf.zeros(shapes[0]);
  allClose(attentionMap(zero).dataSync(), Array(8).fill(0), {}, "zero map");
  const gz = tf.grad((x: tf.Tensor) => attentionLoss([x], [tt[0]]))(zero);
  ok(gz.dataSync().every(Number.isFinite), "finite gradient at zero features");
  throws(() => attentionLoss(st, tt.slice(1)), /same non-zero number/);
  throws(() => attentionLoss([st[0]], [tt[1]]), /batch, H and W must match/);
  tf.dispose([...st, ...tt, m, zero, gz]);
});

Deno.test("attentionLoss gradient matches finite differences", () => {
  const rng = new Rng(4);
  const shape = [2, 2, 2, 2];
  const sv = rand(16, rng), tv = rand(16, rng);
  const t = tf.tensor(tv, shape);
  const f = (x: tf.Tensor) => attentionLoss([x], [t], 1);
  const g = tf.tidy(() => tf.grad(f)(tf.tensor(sv, shape)).dataSync());
  const h = 1e-2;
  const fd = sv.map((_, i) =>
    tf.tidy(() => {
      const p = sv.slice(), q = sv.slice();
      p[i] += h;
      q[i] -= h;
      return (f(tf.tensor(p, shape)).dataSync()[0] - f(tf.tensor(q, shape)).dataSync()[0]) /
        (2 * h);
    })
  );
  allClose(g, fd, { rtol: 2e-2, atol: 2e-4 }, "d loss / d f");
  t.dispose();
});

Deno.test("featureModel: feature outputs + logits, shared weights, layers used elsewhere too", () => {
  const model = tinyModel();
  // use r1 in a second graph too: its `.output` is now ambiguous
  const other = tf.input({ shape: [1, 2, 3] });
  model.getLayer("r1").apply(other);
  const fm = featureModel(model, ["r1", "r2"]);
  const x = tf.randomNormal([3, 1, 2, 2], 0, 1, "float32", 1);
  const [f1, f2, logits] = fm.predict(x) as tf.Tensor[];
  deepEqual(f1.shape, [3, 1, 2, 3]);
  deepEqual(f2.shape, [3, 1, 1, 2]);
  allClose(logits.dataSync(), (model.predict(x) as tf.Tensor).dataSync(), {}, "logits");
  equal(fm.trainableWeights.length, model.trainableWeights.length);
  // weights are shared: a change in the model shows in the feature model
  const dense = model.layers[model.layers.length - 1];
  tf.tidy(() => dense.setWeights(dense.getWeights().map((w) => tf.zerosLike(w))));
  allClose((fm.predict(x) as tf.Tensor[])[2].dataSync(), [0, 0, 0, 0, 0, 0], {}, "shared");
  throws(() => featureModel(model, ["missing"]), /missing/);
  tf.dispose([x, f1, f2, logits]);
  model.dispose();
});
