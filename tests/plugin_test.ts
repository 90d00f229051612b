import { importPlugin, tf } from "@shears/core";
import { testContext } from "./context.ts";
import { allClose, equal, rejects } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

function convModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2] });
  const c = tf.layers.conv2d({ filters: 3, kernelSize: 3, name: "conv1" }).apply(input);
  const f = tf.layers.flatten().apply(c);
  const out = tf.layers.dense({ units: 2, name: "fc" }).apply(f) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

Deno.test("--plugin imports the README's example plugin; its scorer gives |w| / mean |w| per Conv2D", async () => {
  const plugin = await importPlugin("./examples/relative_magnitude.ts");
  equal(plugin.name, "relative_magnitude");
  const model = convModel();
  const ctx = testContext({ model, plugins: [plugin] });
  const session = ctx.registry.scorer("relative").start(ctx, {});
  const scores = await session.scores();
  equal([...scores.values.keys()].join(), "conv1/kernel");
  const w = [...model.getLayer("conv1").getWeights()[0].dataSync()].map(Math.abs);
  const mean = w.reduce((a, b) => a + b) / w.length;
  allClose([...scores.values.get("conv1/kernel")!.dataSync()], w.map((v) => v / mean), {
    rtol: 1e-5,
  });
  scores.values.forEach((t) => t.dispose());
});

Deno.test("importPlugin rejects a module without a Plugin default export, in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.ts`, "export const x = 1;\n");
    await rejects(importPlugin(`${dir}/bad.ts`), /must default-export a Plugin/);
    await rejects(importPlugin(`${dir}/missing.ts`), /missing.ts: no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
