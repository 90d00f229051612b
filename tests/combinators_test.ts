/**
 * core's combinators: sweep (each point starts from the model as it was:
 * masks restored, in-place changes undone, a replacing model dropped; the
 * kept point's model stays; no tensors leak) and iterate (until a condition,
 * ctx.step per iteration); both stop at the next item once the run is
 * cancelled, and no stage starts after a cancel.
 */
import { lastValueFrom, toArray } from "rxjs";
import { CancelledError, iterate, pipeline, type RunContext, stage, sweep, tf } from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal, ok, rejects } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

function dense(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [4] });
  const out = tf.layers.dense({
    units: 3,
    name: "fc",
    kernelInitializer: tf.initializers.randomNormal({ seed }),
  }).apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

const weightsOf = async (m: tf.LayersModel) =>
  (await Promise.all(m.getWeights().map((w) => w.data()))).flatMap((d) => Array.from(d));

Deno.test("sweep: every point starts from the original; the kept point's model stays; no leak", async () => {
  const original = dense(1);
  const ctx = testContext({ model: original });
  const start = await weightsOf(original);
  const tensors = tf.memory().numTensors;
  const seen: string[] = [];
  const made: tf.LayersModel[] = [];
  const point = stage("point", async (c: RunContext) => {
    const i = c.step.index;
    ok(c.model === original, `point ${i} starts from the original model`);
    equal(c.masks.size, 0, `point ${i}: no masks left over`);
    deepEqual(await weightsOf(c.model!), start, `point ${i}: original weights`);
    seen.push(`${i}/${c.step.total}`);
    if (i === 0 || i === 2) { // a structural pruner: a new model
      c.model = dense(10 + i);
      made.push(c.model);
    } else if (i === 1) { // a masking pruner: masks applied in place
      const zeros = tf.zeros([4, 3]);
      c.masks.set(c.model!, "fc/kernel", zeros);
      zeros.dispose();
      c.masks.apply(c.model!);
    } else { // fine-tuning in place
      const ones = c.model!.getWeights().map((w) => tf.onesLike(w));
      c.model!.getLayer("fc").setWeights(ones);
      tf.dispose(ones);
    }
  });
  const label = (c: RunContext) => `p ${c.step.index}, model ${c.model === original}`;
  const events = await lastValueFrom(
    pipeline(sweep({ points: 4, stages: [point], keep: (_c, i) => i === 0, label }))(ctx)
      .pipe(toArray()),
  );
  deepEqual(seen, ["0/4", "1/4", "2/4", "3/4"]);
  const lines = events.flatMap((e) => (e.type === "log" ? [`${e.stage}: ${e.message}`] : []));
  deepEqual(lines, [0, 1, 2, 3].map((i) => `sweep point ${i + 1}/4: p ${i}, model true`));
  ok(ctx.model === made[0], "the kept point's model");
  deepEqual(await weightsOf(ctx.model!), await weightsOf(made[0]));
  equal(
    tf.memory().numTensors,
    tensors,
    `the kept model replaces the original (${tf.memory().numTensors} vs ${tensors})`,
  );
  ctx.model!.dispose();
});

Deno.test("sweep and iterate stop at the next item once the run is cancelled", async () => {
  const ac = new AbortController();
  const model = dense(2);
  const ctx = testContext({ model, signal: ac.signal });
  const points: number[] = [];
  const cancelAt1 = stage("p", (c) => {
    points.push(c.step.index);
    if (c.step.index === 1) ac.abort(); // Ctrl-C while point 1 runs
  });
  await rejects(lastValueFrom(sweep({ points: 5, stages: [cancelAt1] }).run(ctx)), CancelledError);
  deepEqual(points, [0, 1]);

  const ac2 = new AbortController();
  const ctx2 = testContext({ model, signal: ac2.signal });
  const iterations: string[] = [];
  const it = iterate({
    stages: [stage("i", (c) => {
      iterations.push(`${c.step.index}/${c.step.total}`);
      if (c.step.index === 2) ac2.abort();
    })],
    until: (_c, i) => i >= 5, // a cancel ends it before
    total: () => 9,
  });
  await rejects(lastValueFrom(it.run(ctx2)), CancelledError);
  deepEqual(iterations, ["0/9", "1/9", "2/9"]);
  model.dispose();
});

Deno.test("iterate runs its block until the condition holds after an iteration", async () => {
  const ctx = testContext({});
  const seen: number[] = [];
  await lastValueFrom(
    iterate({ stages: [stage("i", (c) => void seen.push(c.step.index))], until: (_c, i) => i >= 2 })
      .run(ctx).pipe(toArray()),
  );
  deepEqual(seen, [0, 1, 2]);
});
