/**
 * No synchronous reads of tensor data in library code. The webgpu backend
 * cannot read GPU memory synchronously (in Deno, `dataSync` crashes with
 * "Cannot read properties of null (reading 'clearRect')"), so every read
 * must be `await t.data()` / `await t.array()`.
 *
 * Two layers: a static scan of the library sources for `dataSync(`,
 * `arraySync(`, `bufferSync(`; and real code paths (training with
 * distillation, every plugin's main scorer, pruner and transform, metrics,
 * surgery, save / load) run with synchronous reads made to throw, which also
 * catches reads inside the tfjs calls we make.
 *
 * The guard replaces `tf.engine().readSync`, the one door every
 * `Tensor.dataSync` / `arraySync` / `bufferSync` goes through, rather than the
 * cpu backend's own `readSync`: the cpu backend's asynchronous `read` and its
 * kernels (gather, where) call that one internally, which is fine on the cpu
 * and does not happen on webgpu (its kernels run on the GPU).
 * @module
 */
import { lastValueFrom } from "rxjs";
import {
  type Budget,
  buildChannelGraph,
  countMacs,
  distill,
  evaluate,
  type Evaluation,
  finetune,
  layerTable,
  load,
  loadModel,
  mask,
  pipeline,
  reluTable,
  removeChannels,
  type RunContext,
  saveModel,
  score,
  type Stage,
  tf,
} from "@shears/core";
import { syntheticDataset } from "@shears/datasets";
import reluTaylor, { maskController } from "@shears/relu_taylor";
import magnitude from "@shears/magnitude";
import filterTaylor from "@shears/filter_taylor";
import rni from "@shears/rni";
import intraFusion from "@shears/intra_fusion";
import { equal, ok, rejects, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { chainModel } from "./channel_models.ts";
import { testContext } from "./context.ts";

await useTestBackend();

const ROOT = new URL("../", import.meta.url);
/** Library sources scanned, relative to the repository root. */
const ROOTS = ["core", "models", "datasets", "plugins", "pipelines", "examples"];
/** The tfjs-node probe: the tensorflow backend reads synchronously, and may. */
const ALLOWED = new Set(["core/backends/tensorflow.ts"]);
const SYNC_READ = /\b(dataSync|arraySync|bufferSync)\s*\(/;

/** The .ts files under `dir` (relative to the root), tests (`*_test.ts`) left out. */
async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(`${dir}/`, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(path);
    else if (e.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")) yield path;
  }
}

Deno.test("static: no dataSync( / arraySync( / bufferSync( in library sources", async () => {
  const hits: string[] = [];
  let files = 0;
  for (const dir of ROOTS) {
    for await (const path of sources(dir)) {
      files++;
      if (ALLOWED.has(path)) continue;
      const lines = (await Deno.readTextFile(new URL(path, ROOT))).split("\n");
      lines.forEach((line, i) => {
        if (SYNC_READ.test(line)) hits.push(`${path}:${i + 1}: ${line.trim()}`);
      });
    }
  }
  ok(files > 50, `scanned only ${files} files`);
  equal(hits.length, 0, `synchronous tensor reads (use await t.data()):\n${hits.join("\n")}`);
});

/** Runs `fn` with the engine's synchronous read throwing; restores it after. */
async function withoutSyncReads<T>(fn: () => Promise<T>): Promise<T> {
  const engine = tf.engine();
  const original = engine.readSync;
  engine.readSync = () => {
    throw new Error("synchronous read of tensor data (dataSync / arraySync / bufferSync)");
  };
  try {
    return await fn();
  } finally {
    engine.readSync = original;
  }
}

Deno.test("the guard: sync reads throw inside it, async reads work, and it is restored", async () => {
  const t = tf.tensor1d([1, 2, 3]);
  await withoutSyncReads(async () => {
    throws(() => t.dataSync(), /synchronous read/);
    throws(() => t.arraySync(), /synchronous read/);
    throws(() => t.bufferSync(), /synchronous read/);
    equal((await t.data())[2], 3);
    equal((await t.array())[0], 1);
  });
  await rejects(withoutSyncReads(() => Promise.resolve(t.dataSync()[0])), /synchronous read/);
  equal(t.dataSync()[1], 2, "restored after a throw");
  t.dispose();
});

/** Runs stages in order over `ctx`. */
async function run(ctx: RunContext, ...stages: Stage[]): Promise<void> {
  await lastValueFrom(pipeline(...stages)(ctx), { defaultValue: undefined });
}

/** Score with `scorer`, then mask with `pruner` on those scores. */
function scoreThenMask(
  scorer: string,
  pruner: string,
  budget: Budget,
  scoreOptions: { batches?: number; batchSize?: number } = {},
): Stage[] {
  return [score({ scorer, ...scoreOptions }), mask({ pruner, scores: scorer, budget })];
}

/** One short training pass: two batches of 8, test top-1 after it. */
const oneStep = {
  epochs: 1,
  batchSize: 8,
  optimizer: { kind: "sgd" as const, lr: 0.01 },
  evalLimit: 8,
};

/**
 * A context over a fresh chainModel (8x8x3: c1(4)-bn-relu, c2(6)-bn-relu,
 * GAP, fc(5)) and synthetic data, every plugin registered; `body` runs under
 * the guard, then the context's tensors are released.
 */
async function guarded(body: (ctx: RunContext) => Promise<void>): Promise<void> {
  const ctx = testContext({
    model: chainModel(),
    data: syntheticDataset({ n: 16, nTest: 8, inputShape: [8, 8, 3], numClasses: 5 }),
    plugins: [reluTaylor, magnitude, filterTaylor, rni, intraFusion],
  });
  try {
    await withoutSyncReads(() => body(ctx));
  } finally {
    for (const s of ctx.scores.values()) tf.dispose([...s.values.values()]);
    ctx.masks.dispose();
    if (ctx.teacher !== ctx.model) ctx.teacher?.dispose();
    ctx.model?.dispose();
  }
}

/** Replaces ctx.model by a registered transform of it. */
async function transform(ctx: RunContext, name: string, options = {}): Promise<void> {
  const before = ctx.model!;
  ctx.model = await ctx.registry.transform(name).apply(before, options);
  before.dispose();
}

Deno.test("runtime: load, distill, evaluate, metrics, surgery, save / load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_no_sync_" });
  try {
    await guarded(async (ctx) => {
      const data = ctx.data!;
      ctx.model!.dispose();
      await run(
        ctx,
        load({ data: () => data, model: () => chainModel(), teacher: () => chainModel() }),
        distill({ ...oneStep, alpha: 0.5, gamma: 0.5 }),
        evaluate({ name: "student", latency: true }),
      );
      const ev = ctx.report.student as Evaluation;
      ok(ev.nonzero_params > 0 && ev.nonzero_params <= ev.params, JSON.stringify(ev));
      equal(ev.relus_active, ev.relus);
      const table = await layerTable(ctx.model!);
      equal(table.reduce((s, r) => s + r.macs, 0), countMacs(ctx.model!));
      const id = buildChannelGraph(ctx.model!).groupOf("c1_conv").id;
      const smaller = await removeChannels(ctx.model!, new Map([[id, [0]]]));
      await saveModel(smaller, dir);
      smaller.dispose();
      const loaded = await loadModel(dir);
      equal(loaded.getLayer("c1_conv").getWeights()[0].shape[3], 3);
      loaded.dispose();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runtime: relu_taylor — masked_relu, taylor, global_topk, the mask controller in train()", async () => {
  await guarded(async (ctx) => {
    await transform(ctx, "relu_taylor/masked_relu");
    await run(
      ctx,
      ...scoreThenMask("relu_taylor/taylor", "relu_taylor/global_topk", { keepRatio: 0.5 }, {
        batches: 2,
        batchSize: 8,
      }),
    );
    const { kept, total } = await reluTable(ctx.model!);
    equal(kept, Math.floor(total / 2));
    const session = ctx.registry.scorer("relu_taylor/taylor").start(ctx, {});
    const controller = maskController(
      ctx,
      session,
      ctx.registry.pruner("relu_taylor/global_topk"),
      { epochs: 1, warmup: 0, target: 0.25, interval: 1 },
    );
    try {
      await run(
        ctx,
        finetune({
          ...oneStep,
          sessions: [session],
          callbacks: [{
            onBatchEnd: async (info) => {
              await controller.onBatchEnd(info);
            },
          }],
        }),
      );
    } finally {
      session.dispose();
    }
    equal(controller.updates, 1);
    equal((await reluTable(ctx.model!)).kept, Math.floor(total / 4));
  });
});

Deno.test("runtime: magnitude — abs + global masks through fine-tuning, gradient pruning", async () => {
  await guarded(async (ctx) => {
    await run(
      ctx,
      ...scoreThenMask("magnitude/abs", "magnitude/global", { keepRatio: 0.5 }),
      finetune(oneStep),
    );
    const { pruned, total } = await ctx.masks.counts();
    ok(pruned > 0 && pruned < total, `${pruned} of ${total} pruned`);
    await run(
      ctx,
      mask({ pruner: "magnitude/gradient", scores: "magnitude/abs", budget: { keepRatio: 0.5 } }),
      finetune(oneStep),
    );
    await transform(ctx, "magnitude/plain_conv");
  });
});

Deno.test("runtime: filter_taylor — taylor ranks, global_lowest removes a filter", async () => {
  await guarded(async (ctx) => {
    await run(
      ctx,
      ...scoreThenMask("filter_taylor/taylor", "filter_taylor/global_lowest", { remove: 1 }, {
        batches: 2,
        batchSize: 8,
      }),
    );
    const filters = ["c1_conv", "c2_conv"].map((n) =>
      ctx.model!.getLayer(n).getWeights()[0].shape[3]!
    );
    equal(filters[0] + filters[1], 4 + 6 - 1);
  });
});

Deno.test("runtime: rni — sigmoid_bn, training with the rni regularizer, bn_scale, global_quantile", async () => {
  await guarded(async (ctx) => {
    await transform(ctx, "rni/sigmoid_bn", { seed: 1 });
    const reg = ctx.registry.regularizer("rni/rni");
    await run(
      ctx,
      finetune({ ...oneStep, regularizers: [{ name: "rni", reg, weight: 1e-4 }] }),
      ...scoreThenMask("rni/bn_scale", "rni/global_quantile", { keepRatio: 0.5 }),
    );
    const [r] = ctx.report.pruning as { kept: number; total: number }[];
    ok(r.kept < r.total, JSON.stringify(r));
  });
});

Deno.test("runtime: intra_fusion — fold_bn, taylor and l1 scores, fusion and default pruners", async () => {
  await guarded(async (ctx) => {
    await transform(ctx, "intra_fusion/fold_bn");
    await run(
      ctx,
      ...scoreThenMask("intra_fusion/taylor", "intra_fusion/fusion", { keepRatio: 0.5 }, {
        batchSize: 8,
      }),
      ...scoreThenMask("intra_fusion/l1", "intra_fusion/default", { keepRatio: 0.5 }),
    );
    equal(ctx.model!.getLayer("c2_conv").getWeights()[0].shape[3], 1);
  });
});
