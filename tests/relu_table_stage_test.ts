/**
 * core's recordReluTable stage: the active ReLUs of ctx.model (per layer
 * and in total) under `relus_<when>` / `relu_layers_<when>`, its log line
 * from the table, no tensors left behind.
 */
import { lastValueFrom, toArray } from "rxjs";
import {
  activationMaskLayers,
  MaskedReLU,
  pipeline,
  recordReluTable,
  type RunEvent,
  tf,
} from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

function twoMaskedLayers(): tf.LayersModel {
  const inp = tf.input({ shape: [2, 2, 3] });
  let x = new MaskedReLU({ name: "m1" }).apply(inp) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: "flat" }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 5, name: "fc" }).apply(x) as tf.SymbolicTensor;
  x = new MaskedReLU({ name: "m2" }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: x });
}

Deno.test("recordReluTable records the active ReLUs before and after a mask change", async () => {
  const model = twoMaskedLayers();
  const ctx = testContext({ model });
  const tensors = tf.memory().numTensors;
  const run = async (when: string) => {
    const log = (t: { kept: number; total: number }) => `${t.kept}/${t.total} ReLUs`;
    const events = await lastValueFrom(
      pipeline(recordReluTable(when, log))(ctx).pipe(toArray()),
    ) as RunEvent[];
    return events.flatMap((e) => e.type === "log" ? [e.message] : []);
  };
  deepEqual(await run("before"), ["17/17 ReLUs"]);
  const [m1] = activationMaskLayers(model);
  const half = tf.tensor([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], [2, 2, 3]);
  m1.setMask(half);
  half.dispose();
  deepEqual(await run("after"), ["11/17 ReLUs"]);
  equal(ctx.report.relus_before, 17);
  equal(ctx.report.relus_after, 11);
  deepEqual(ctx.report.relu_layers_before, [
    { name: "m1", before: 12, after: 12 },
    { name: "m2", before: 5, after: 5 },
  ]);
  deepEqual(ctx.report.relu_layers_after, [
    { name: "m1", before: 12, after: 6 },
    { name: "m2", before: 5, after: 5 },
  ]);
  equal(tf.memory().numTensors, tensors, "no tensors left behind");
  model.dispose();
});
