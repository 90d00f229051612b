/**
 * What unstructured sparsity saves in an export's download: a saved model is
 * pruned by magnitude/global at each `--p_prune` (every Conv2D weight, as the
 * magnitude pipeline does) and exported at each `--quantize`; prints a
 * markdown table of the weights' bytes, raw and gzipped, and the export's
 * top-1 (on mnist's test split, or `--dataset`).
 *
 * @example
 * ```sh
 * deno run -A bench/export_size.ts --path runs/dense/model --p_prune 0,0.5,0.9 --quantize none,uint8
 * ```
 * @module
 */
import {
  type BackendName,
  exitOnError,
  exportModel,
  type FlagDefs,
  initBackend,
  loadModel,
  parseFlags,
  type Quantization,
  quantizations,
  tf,
  UsageError,
} from "@shears/core";
import magnitude from "@shears/magnitude";
import { loadDataset } from "@shears/datasets";
import { testContext } from "../tests/context.ts";

const flags = {
  path: { type: "string", help: "a saved (dense) model directory; required" },
  dataset: { type: "string", default: "mnist", help: "test images for the check and top-1" },
  p_prune: { type: "numbers", default: [0, 0.3, 0.5, 0.7, 0.9], min: 0, max: 1, help: "fractions" },
  quantize: {
    type: "strings",
    default: ["none", "float16", "uint8"],
    choices: ["none", ...quantizations],
    help: "export weight formats",
  },
  limit_test: { type: "int", default: 2000, min: 1, help: "test images for top-1" },
  backend: { type: "string", default: "wasm", help: "backend of the Shears side" },
} satisfies FlagDefs;

const kB = (n: number) => `${(n / 1024).toFixed(1)} kB`;

async function main(): Promise<void> {
  const f = parseFlags(flags, Deno.args, {
    name: "export_size",
    description: "Export download size against unstructured sparsity.",
  });
  if (!f.path) throw new UsageError("--path is required: a saved model directory");
  await initBackend(f.backend as BackendName, { quiet: true });
  const data = await loadDataset(f.dataset, { limitTest: f.limit_test, limitTrain: 1 });
  const [samples] = [...data.batches("test", { batchSize: 64, limit: 64, shuffle: false })];
  const tmp = await Deno.makeTempDir({ prefix: "shears_export_size_" });
  console.log("| p_prune | weights | raw | gzipped | gzip / raw | top-1 (Shears) |");
  console.log("|---|---|---|---|---|---|");
  try {
    for (const p of f.p_prune) {
      const model = await loadModel(f.path);
      const ctx = testContext({ model, plugins: [magnitude] });
      const session = ctx.registry.scorer("magnitude/abs").start(ctx, {});
      const scores = await session.scores();
      session.dispose();
      await ctx.registry.pruner("magnitude/global").prune(ctx, scores, {}, {
        p_prune: p,
        p_bern: 1,
      });
      tf.dispose([...scores.values.values()]);
      for (const q of f.quantize) {
        const dir = `${tmp}/${p}_${q}`;
        const quantize = q === "none" ? undefined : q as Quantization;
        const r = await exportModel(model, { dir, samples, data, quantize });
        const w = r.bytes;
        console.log(
          `| ${p} | ${q === "none" ? "float32" : q} | ${kB(w.weights)} | ${kB(w.weights_gzip)} | ` +
            `${(w.weights_gzip / w.weights).toFixed(3)} | ${(r.top1!.export * 100).toFixed(2)}% ` +
            `(${(r.top1!.shears * 100).toFixed(2)}%) |`,
        );
      }
      ctx.masks.dispose();
      model.dispose();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) exitOnError(main);
