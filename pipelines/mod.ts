/**
 * Shears pipelines: one runnable spec per pruning method, prune.ts (any
 * model, any parts), and the train_teacher, validate and summary commands. Each spec is what its
 * `pipelines/<name>.ts` entry point hands to core's `runMain`; importing it
 * here lets a program run a pipeline with its own arguments, read its flags,
 * or add stages around it. Each `<name>Pipeline` comes with `<name>Flags`,
 * its own flag definitions (the spec's `flags`; the common ones are added by
 * the runner). The plugins a pipeline needs travel in its spec
 * (`spec.plugins`); `--plugin` modules are added at run time.
 *
 * @example
 * ```ts
 * import { runPipeline } from "@shears/core";
 * import { magnitudePipeline } from "@shears/pipelines";
 *
 * const ctx = await runPipeline(magnitudePipeline, ["--backend", "wasm", "--p_prune", "0.5"]);
 * console.log(ctx.report);
 * ```
 * @module
 */

/**
 * ReLUPruner (relu_taylor): Taylor ReLU importance, progressive ReLU removal
 * with knowledge distillation, then fine-tuning.
 * @example
 * ```ts
 * await runPipeline(reluTaylorPipeline, ["--backend", "wasm"]);
 * ```
 */
export { reluTaylorFlags, reluTaylorPipeline } from "./relu_taylor.ts";

/**
 * DWP magnitude pruning: a global magnitude threshold swept over p_prune,
 * weights zeroed (`global`) or only dL/dinput pruned (`gradient`).
 * @example
 * ```ts
 * await runPipeline(magnitudePipeline, ["--backend", "wasm", "--p_prune", "0,0.5"]);
 * ```
 */
export { magnitudeFlags, magnitudePipeline } from "./magnitude.ts";

/**
 * Molchanov et al. filter pruning: Taylor filter ranking and iterative
 * structural removal with fine-tuning between iterations.
 * @example
 * ```ts
 * await runPipeline(filterTaylorPipeline, ["--backend", "wasm"]);
 * ```
 */
export { filterTaylorFlags, filterTaylorPipeline } from "./filter_taylor.ts";

/**
 * Receding Neuron Importances: sigmoid batch norm, RNI / UCS / L1
 * regularised training, then pruning of the receding channels.
 * @example
 * ```ts
 * await runPipeline(rniPipeline, ["--backend", "wasm"]);
 * ```
 */
export { rniFlags, rniPipeline } from "./rni.ts";

/**
 * Intra-Fusion: structured pruning that fuses the dropped neurons into the
 * kept ones by optimal transport instead of discarding them.
 * @example
 * ```ts
 * await runPipeline(intraFusionPipeline, ["--backend", "wasm"]);
 * ```
 */
export { intraFusionFlags, intraFusionPipeline } from "./intra_fusion.ts";

/**
 * Prune any model (saved or from the zoo) with any scorer and pruner by
 * registry name to a budget, in steps, with fine-tuning and distillation.
 * @example
 * ```ts
 * await runPipeline(prunePipeline, ["--backend", "wasm", "--scorer", "magnitude/abs"]);
 * ```
 */
export { pruneFlags, prunePipeline } from "./prune.ts";

/**
 * Exports a saved model for deployment: stock tfjs layers, optionally
 * quantized, checked in a subprocess that imports only tfjs.
 * @example
 * ```ts
 * await runPipeline(exportPipeline, ["--path", "runs/x/model", "--quantize", "float16"]);
 * ```
 */
export { exportPipeline, exportPipelineFlags } from "./export.ts";

/**
 * Trains a teacher (or any zoo model) on a dataset and saves it for the
 * pruning pipelines.
 * @example
 * ```ts
 * await runPipeline(trainTeacherPipeline, ["--backend", "wasm", "--model", "lenet5"]);
 * ```
 */
export { trainTeacher as trainTeacherPipeline, trainTeacherFlags } from "./train_teacher.ts";

/**
 * Evaluates a saved model on a dataset's test split: top-1 / top-5, params,
 * MACs and ReLU count.
 * @example
 * ```ts
 * await runPipeline(validatePipeline, ["--backend", "wasm", "--path", "runs/x/model"]);
 * ```
 */
export { validate as validatePipeline, validateFlags } from "./validate.ts";

/**
 * The summary command: `summary(args)` prints a model's per-layer table and
 * its `params:` / `macs:` / `relus:` totals (its flags: `summary.ts --help`);
 * `await summaryLines(model)` gives the same text.
 * @example
 * ```ts
 * await summary(["--model", "resnet20", "--input_shape", "32,32,3", "--num_classes", "10"]);
 * ```
 */
export { main as summary, summaryLines } from "./summary.ts";

import type { FlagDefs, PipelineSpec } from "@shears/core";
import { reluTaylorPipeline } from "./relu_taylor.ts";
import { magnitudePipeline } from "./magnitude.ts";
import { filterTaylorPipeline } from "./filter_taylor.ts";
import { rniPipeline } from "./rni.ts";
import { intraFusionPipeline } from "./intra_fusion.ts";
import { prunePipeline } from "./prune.ts";
import { exportPipeline } from "./export.ts";
import { trainTeacher } from "./train_teacher.ts";
import { validate } from "./validate.ts";

/**
 * Every pipeline spec that core's `runMain` runs, by its script's file name
 * under pipelines/ (summary.ts, a plain command, is not one): for tools and
 * tests that go over them all.
 * @example
 * ```ts
 * for (const [script, spec] of Object.entries(pipelineScripts)) console.log(script, spec.description);
 * ```
 */
export const pipelineScripts: Readonly<Record<string, PipelineSpec<FlagDefs>>> = Object.fromEntries(
  [
    trainTeacher,
    reluTaylorPipeline,
    magnitudePipeline,
    filterTaylorPipeline,
    rniPipeline,
    intraFusionPipeline,
    prunePipeline,
    exportPipeline,
    validate,
  ].map((s) => [`${s.name}.ts`, s as unknown as PipelineSpec<FlagDefs>]),
);
