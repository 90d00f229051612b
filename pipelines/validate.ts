/**
 * Evaluates a saved model (a teacher, a pruned or masked student) on a
 * dataset's test split: top-1 / top-5, params, MACs and its ReLU count.
 *
 * @example
 * ```sh
 * deno task run pipelines/validate.ts --path runs/relu_taylor/<timestamp>/model --dataset mnist
 * deno task run pipelines/validate.ts --path runs/rni/<old timestamp>/model --dataset mnist --pad 2
 * ```
 * @module
 */
import {
  evaluate,
  evaluation,
  type FlagDefs,
  load,
  pct,
  type PipelineSpec,
  runMain,
  UsageError,
} from "@shears/core";
import { dataFlags, dataFrom, dataShape, padFlag, savedModelFor, trainFlags } from "./common.ts";
// the methods' custom layers (SigmoidBatchNorm, GradientPrunedConv2D) load once their plugins are in
import "@shears/rni";
import "@shears/magnitude";

/** Flags of validate. */
export const validateFlags = {
  ...dataFlags,
  path: { type: "string", help: "saved model directory (model.json + weights.bin); required" },
  batch_size: { ...trainFlags.batch_size, default: 128 },
  latency: { type: "boolean", default: false, help: "also time inference (median ms per batch)" },
  pad: {
    ...padFlag,
    default: 0,
    help:
      "zero-pad images by this many pixels per side first (rni's models saved before it padded inside)",
  },
} satisfies FlagDefs;

/** The validate pipeline. */
export const validate: PipelineSpec<typeof validateFlags> = {
  name: "validate",
  description: "Evaluate a saved model: accuracy, params, MACs, ReLU count.",
  flags: validateFlags,
  saveModel: false,
  build: async (f, _ctx, ready) => {
    if (!f.path) throw new UsageError("--path is required: the saved model directory to validate");
    await ready();
    const model = await savedModelFor(f.path, await dataShape(f), f.pad);
    return [
      load({ data: dataFrom(f, f.seed), model: () => model }),
      evaluate({ name: "model", batchSize: f.batch_size, latency: f.latency }),
    ];
  },
  summarize(ctx) {
    const e = evaluation(ctx, "model");
    Object.assign(ctx.report, { top1: e.top1, top5: e.top5, relus: e.relus_active });
    return [
      `top-1: ${pct(e.top1)}  top-5: ${pct(e.top5)}`,
      `params: ${e.params}`,
      `macs: ${e.macs}`,
      `relus: ${e.relus_active}`,
      ...(e.latency_ms !== undefined ? [`latency_ms: ${e.latency_ms.toFixed(2)}`] : []),
    ];
  },
};

if (import.meta.main) runMain(validate);
