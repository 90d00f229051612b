/**
 * pipelines/common.ts modelFrom / paddedModelFrom: a built model's weights
 * come from the run's --seed (same seed, same weights; another seed, others).
 */
import { tf } from "@shears/core";
import { buildModel } from "@shears/models";
import { type DataShape, modelFrom, paddedModelFrom } from "../pipelines/common.ts";
import { allClose, deepEqual, equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

const data: DataShape = { name: "tiny", inputShape: [8, 8, 1], numClasses: 3 };

async function weightsOf(build: (data: DataShape) => Promise<tf.LayersModel>): Promise<number[]> {
  const m = await build(data);
  try {
    const values = await Promise.all(m.getWeights().map((w) => w.data()));
    return values.flatMap((v) => Array.from(v));
  } finally {
    m.dispose();
  }
}

Deno.test("modelFrom and paddedModelFrom initialise a built model from the run's seed", async () => {
  const f = { model: "resnet20", width: 0.125, seed: 3 };
  const a = await weightsOf(modelFrom(f)), b = await weightsOf(modelFrom(f));
  deepEqual(a, b);
  const c = await weightsOf(modelFrom({ ...f, seed: 4 }));
  ok(a.some((v, i) => v !== c[i]), "another seed draws other weights");
  const pad = (s: number[]) => [s[0] + 2, s[1] + 2, s[2]];
  const p = await weightsOf(paddedModelFrom(f, pad)), q = await weightsOf(paddedModelFrom(f, pad));
  deepEqual(p, q);
});

Deno.test("modelFrom zero-pads images smaller than a built model's minimum side (28 -> 32)", async () => {
  const mnist: DataShape = { name: "mnist", inputShape: [28, 28, 1], numClasses: 10 };
  const f = { model: "mobilenet_v2", width: 0.25, seed: 5 };
  const padded = await modelFrom(f)(mnist);
  deepEqual(padded.inputs[0].shape, [null, 28, 28, 1]);
  const inner = buildModel("mobilenet_v2", { ...mnist, inputShape: [32, 32, 1], ...f });
  const x = tf.randomNormal([2, 28, 28, 1], 0, 1, "float32", 6);
  const [got, want] = tf.tidy(() => [
    padded.predict(x) as tf.Tensor,
    inner.predict(x.pad([[0, 0], [2, 2], [2, 2], [0, 0]])) as tf.Tensor,
  ]);
  allClose(await got.data(), await want.data());
  tf.dispose([x, got, want]);
  padded.dispose();
  inner.dispose();
  const small = await modelFrom({ ...f, model: "resnet20" })(mnist); // takes any size: unpadded
  equal(small.layers.some((l) => l.name.endsWith("_pad") && l.name.startsWith("input")), false);
  small.dispose();
});
