/**
 * Checkpoints in one process: a new one replaces the old one whole (also
 * across architectures), a checkpoint whose files do not belong together is
 * refused, and state.json is validated.
 */
import {
  isUserFacing,
  loadCheckpoint,
  ModelFileError,
  readCheckpoint,
  saveCheckpoint,
  tf,
} from "@shears/core";
import { buildModel } from "@shears/models";
import { deepEqual, equal, match, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

const mlp = (hidden: number[], seed: number) =>
  buildModel("mlp", { inputShape: [6], numClasses: 3, hidden, seed });

async function outputs(model: tf.LayersModel): Promise<Float32Array> {
  const x = tf.randomNormal([4, 6], 0, 1, "float32", 3);
  const y = model.predict(x) as tf.Tensor;
  const v = await y.data() as Float32Array;
  tf.dispose([x, y]);
  return v;
}

async function expectRefused(path: string, re: RegExp): Promise<void> {
  const e = await readCheckpoint(path).then(() => undefined, (e) => e as Error);
  ok(e instanceof ModelFileError, `expected ModelFileError, got ${e?.stack ?? e}`);
  ok(isUserFacing(e));
  equal(e.message.includes("\n"), false, e.message);
  match(e.message, re);
}

function withRunDirs(fn: (a: string, b: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = await Deno.makeTempDir({ prefix: "shears_ckpt_" });
    try {
      await fn(`${root}/a`, `${root}/b`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  };
}

Deno.test(
  "a new checkpoint replaces the old one whole, also with another architecture",
  withRunDirs(async (run) => {
    const first = mlp([8], 1), second = mlp([5, 3], 2);
    await Deno.mkdir(run);
    equal(
      await saveCheckpoint(first, run, { stage: "finetune", epoch: 1 }),
      `${run}/checkpoint`,
    );
    await saveCheckpoint(second, run, { stage: "distill", epoch: 2 });
    const { model, state, dir } = await loadCheckpoint(run);
    deepEqual(state, { stage: "distill", epoch: 2 });
    equal(dir, `${run}/checkpoint`);
    deepEqual(model.layers.map((l) => l.name), second.layers.map((l) => l.name));
    deepEqual(await outputs(model), await outputs(second));
    deepEqual([...Deno.readDirSync(run)].map((e) => e.name), ["checkpoint"], "no leftovers");
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "model.json",
      "state.json",
      "weights.bin",
    ]);
    // the checkpoint directory itself is accepted too
    deepEqual((await readCheckpoint(dir)).state, state);
    for (const m of [first, second, model]) m.dispose();
  }),
);

Deno.test(
  "a checkpoint whose files were not saved together is refused, naming the file",
  withRunDirs(async (a, b) => {
    // what the old per-file renames left after a kill: new weights beside the old model.json
    const model = mlp([8], 1);
    for (const [run, epoch] of [[a, 1], [b, 2]] as const) {
      await Deno.mkdir(run);
      await saveCheckpoint(model, run, { stage: "finetune", epoch });
      const fc = model.getLayer("fc1");
      const moved = fc.getWeights().map((w) => w.add(0.5)); // epoch 2 differs
      fc.setWeights(moved);
      tf.dispose(moved);
    }
    await Deno.copyFile(`${b}/checkpoint/weights.bin`, `${a}/checkpoint/weights.bin`);
    await expectRefused(
      a,
      /^checkpoint .*\/a\/checkpoint is damaged: weights\.bin is not the file its state\.json was saved with$/,
    );
    await Deno.copyFile(`${b}/checkpoint/state.json`, `${a}/checkpoint/state.json`);
    deepEqual((await readCheckpoint(a)).state.epoch, 2, "weights and state of one save: accepted");
    const json = await Deno.readTextFile(`${a}/checkpoint/model.json`);
    await Deno.writeTextFile(`${a}/checkpoint/model.json`, json.replace('"units":8', '"units":9'));
    await expectRefused(a, /is damaged: model\.json is not the file/);
    model.dispose();
  }),
);

Deno.test(
  "state.json is validated: missing, not JSON, wrong types; legacy ones without digests load",
  withRunDirs(async (run) => {
    await expectRefused(run, /^no checkpoint in .*\/a \(no .*\/a\/checkpoint\/state\.json\)$/);
    const model = mlp([4], 1);
    await Deno.mkdir(run);
    await saveCheckpoint(model, run, { stage: "finetune", epoch: 3 });
    const file = `${run}/checkpoint/state.json`;
    await Deno.writeTextFile(file, `{"epoch":"x"}`);
    await expectRefused(
      run,
      /state\.json must give a stage name and a whole epoch >= 1, got \{"epoch":"x"\}$/,
    );
    await Deno.writeTextFile(file, `{"stage":"finetune","epoch":0}`);
    await expectRefused(run, /a whole epoch >= 1, got \{"stage":"finetune","epoch":0\}$/);
    await Deno.writeTextFile(file, `{ "stage": `);
    await expectRefused(run, /state\.json is not valid JSON/);
    await Deno.writeTextFile(file, `{"stage":"finetune","epoch":3}`); // written before digests
    deepEqual((await readCheckpoint(run)).state, { stage: "finetune", epoch: 3 });
    model.dispose();
  }),
);
