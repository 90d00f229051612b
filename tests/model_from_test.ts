/**
 * pipelines/common.ts modelFrom / paddedModelFrom: a built model's weights
 * come from the run's --seed (same seed, same weights; another seed, others).
 */
import type { tf } from "@shears/core";
import { type DataShape, modelFrom, paddedModelFrom } from "../pipelines/common.ts";
import { deepEqual, ok } from "./assert.ts";
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
