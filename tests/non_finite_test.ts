/**
 * The non-finite guard: a NaN/Inf loss or weight stops training at its batch
 * with one line, and the last finite checkpoint stays.
 */
import {
  finetune,
  type FitSpec,
  isUserFacing,
  loadModel,
  nonFinite,
  NonFiniteError,
  readCheckpoint,
  type RunContext,
  saveCheckpoint,
  type Stage,
  tf,
} from "@shears/core";
import { buildModel } from "@shears/models";
import { syntheticDataset } from "@shears/datasets";
import { testContext } from "./context.ts";
import { deepEqual, equal, match, ok, rejects } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { oneLineError } from "./subprocess.ts";
import { runCli, testBackend } from "../pipelines/test_harness.ts";

await useTestBackend();

/** An mlp on 4 batches of 16 synthetic examples, trained in a fresh run dir. */
function setup(): RunContext {
  const data = syntheticDataset({ n: 64, nTest: 16, inputShape: [4, 4, 1], numClasses: 2 });
  const model = buildModel("mlp", { inputShape: [4, 4, 1], numClasses: 2, hidden: [8], seed: 1 });
  return testContext({ model, data, runDir: Deno.makeTempDirSync({ prefix: "shears_nan_" }) });
}

/** A test body on a fresh {@link setup}: the model disposed and the run dir removed after. */
function onFreshRun(
  body: (ctx: RunContext, model: tf.LayersModel) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const ctx = setup();
    try {
      await body(ctx, ctx.model!);
    } finally {
      ctx.model!.dispose();
      Deno.removeSync(ctx.runDir!, { recursive: true });
    }
  };
}

/** Fills weight `w` with `value`. */
function poison(w: tf.LayerVariable, value: number): void {
  const t = tf.fill(w.read().shape, value);
  w.write(t);
  t.dispose();
}

function spec(over: Partial<FitSpec>): FitSpec {
  return {
    epochs: 3,
    batchSize: 16,
    optimizer: { kind: "sgd", lr: 0.01 },
    augment: false,
    evalEach: false,
    ...over,
  };
}

function run(s: Stage, ctx: RunContext): Promise<void> {
  return new Promise((resolve, reject) =>
    s.run(ctx).subscribe({ error: reject, complete: resolve })
  );
}

async function expectNonFinite(p: Promise<unknown>, re: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (e) => e as Error);
  ok(e instanceof NonFiniteError, `expected NonFiniteError, got ${e?.stack ?? e}`);
  ok(isUserFacing(e));
  equal(e.message.includes("\n"), false);
  match(e.message, re);
}

Deno.test(
  "a NaN loss stops training at its batch; the epoch-1 checkpoint stays, finite",
  onFreshRun(async (ctx, model) => {
    let epoch1: tf.TypedArray[] = [];
    const stage = finetune(spec({
      callbacks: [{
        onEpochEnd: async (epoch) => {
          if (epoch === 0) epoch1 = await Promise.all(model.weights.map((w) => w.read().data()));
        },
        onBatchEnd: (info) => {
          if (info.epoch === 1 && info.batch === 0) { // a weight goes bad after epoch 2's first batch
            poison(model.weights[0], NaN);
          }
        },
      }],
    }));
    const before = tf.memory().numTensors;
    await expectNonFinite(
      run(stage, ctx),
      /^loss is NaN at epoch 2\/3, batch 2\/4 \(lr 0\.0100\): training diverged; try a lower learning rate$/,
    );
    equal(tf.memory().numTensors, before, "no tensor leaked by the stopped loop");
    const { dir, state } = await readCheckpoint(ctx.runDir!);
    deepEqual(state, { stage: "finetune", epoch: 1 });
    const back = await loadModel(dir);
    deepEqual(await nonFinite(back.weights), []);
    const saved = await Promise.all(back.weights.map((w) => w.read().data()));
    deepEqual(saved, epoch1, "the checkpoint holds the weights of epoch 1");
    back.dispose();
  }),
);

Deno.test(
  "a step that makes weights non-finite stops at that batch, before any checkpoint",
  onFreshRun(async (ctx) => {
    // lr 1e39 is Inf in float32: the first step leaves ±Inf / NaN weights behind a finite loss
    await expectNonFinite(
      run(finetune(spec({ optimizer: { kind: "sgd", lr: 1e39 } })), ctx),
      /^weights became NaN or Inf \(fc1\/kernel, .*\) after the step at epoch 1\/3, batch 1\/4 \(lr 1\.00e\+39\): training diverged/,
    );
    await rejects(readCheckpoint(ctx.runDir!), /no checkpoint in/);
  }),
);

Deno.test(
  "saveCheckpoint refuses non-finite weights and keeps the previous checkpoint",
  onFreshRun(async (ctx, model) => {
    await saveCheckpoint(model, ctx.runDir!, { stage: "finetune", epoch: 1 });
    poison(model.getLayer("fc2").weights[1], Infinity);
    await expectNonFinite(
      saveCheckpoint(model, ctx.runDir!, { stage: "finetune", epoch: 2 }),
      /^not checkpointing finetune epoch 2: fc2\/bias hold NaN or Inf$/,
    );
    deepEqual((await readCheckpoint(ctx.runDir!)).state, { stage: "finetune", epoch: 1 });
  }),
);

Deno.test("train_teacher --lr 1e9 stops with one line, exit 2, a failed report, no checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_nan_cli_" });
  try {
    const out = await runCli("train_teacher.ts", [
      "--lr=1e9",
      "--epochs=2",
      "--limit_train=64",
      "--limit_test=32",
      "--batch_size=32",
      `--backend=${testBackend("wasm")}`,
      `--out=${dir}/run`,
      "--quiet",
    ]);
    match(
      oneLineError(out),
      /^error: (loss is (NaN|-?Infinity)|weights became NaN or Inf .*) at epoch 1\/2, batch [12]\/2 \(lr 1\.00e\+9\): training diverged; try a lower learning rate$/,
    );
    deepEqual(
      [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name).sort(),
      ["flags.json", "report.json", "report.md"],
      "the failed run's report, and no checkpoint of non-finite weights",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
