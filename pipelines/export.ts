/**
 * Exports any saved Shears model (a run's `model/`, a teacher) for
 * deployment: stock tfjs layers only, optionally quantized weights, its
 * download size raw and gzipped, checked in a subprocess that imports only
 * `@tensorflow/tfjs` against the Shears model on the dataset's test images,
 * and its top-1 beside the model's. Pipelines run the same export at the end
 * (`export/` in their run directory); this command re-exports, e.g. quantized.
 *
 * The export goes to `--to`, by default beside the model directory: `export/`
 * (float32) or `export_<quantize>/`. It exits 1 when a float32 export's
 * outputs differ from Shears' by more than 1e-4 + 1e-3 x their largest
 * |value|, and 2 (one line, before writing anything) when the model's outputs
 * on the test images are NaN or ±Inf.
 *
 * @example
 * ```sh
 * deno task run pipelines/export.ts --path runs/magnitude/<timestamp>/model --quantize float16
 * deno task run pipelines/export.ts --path runs/rni/<timestamp>/model --pad 2 --to deploy/rni
 * ```
 * @module
 */
import {
  checkExportDir,
  exitOnError,
  exportLines,
  type ExportReport,
  exportStage,
  type FlagDefs,
  load,
  type PipelineSpec,
  quantizeFlags,
  runPipeline,
  UsageError,
} from "@shears/core";
import { dirname, join } from "node:path";
import { dataFlags, dataFrom, dataShape, padFlag, savedModelFor } from "./common.ts";
import { shippedPlugins } from "./plugins.ts";

/** Flags of the export pipeline. */
export const exportPipelineFlags = {
  ...dataFlags,
  path: { type: "string", help: "saved model directory (model.json + weights.bin); required" },
  to: {
    type: "string",
    help: "export directory (default: export/ beside the model directory, export_<quantize>/ " +
      "when quantized); must not exist",
  },
  pad: {
    ...padFlag,
    default: 0,
    help:
      "zero-padding in front of a model that takes images this many pixels larger per side (rni's " +
      "models saved before it padded inside): the export then takes the dataset's images",
  },
  ...quantizeFlags,
} satisfies FlagDefs;

/** The export directory for the flags: --to, or beside the model directory. */
function target(f: { path?: string; to?: string; quantize: string }): string {
  if (f.to) return f.to;
  const model = f.path!.replace(/\/model\.json$/, "").replace(/\/+$/, "");
  return join(dirname(model), f.quantize === "none" ? "export" : `export_${f.quantize}`);
}

/** The export pipeline. */
export const exportPipeline: PipelineSpec<typeof exportPipelineFlags> = {
  name: "export",
  description:
    "Export a saved model in stock tfjs layers (optionally quantized), checked without Shears.",
  flags: exportPipelineFlags,
  // every shipped plugin: their layer classes (SigmoidBatchNorm, ...) load and have export forms
  plugins: shippedPlugins,
  saveModel: false,
  build: async (f, _ctx, ready) => {
    if (!f.path) throw new UsageError("--path is required: the saved model directory to export");
    const json = f.path.endsWith(".json") ? f.path : `${f.path.replace(/\/+$/, "")}/model.json`;
    try {
      Deno.statSync(json);
    } catch {
      throw new UsageError(`--path ${f.path}: there is no ${json}`);
    }
    const dir = target(f);
    try {
      checkExportDir(dir);
    } catch (e) {
      // the default is where a run writes its own export: say how to avoid it
      if (f.to || !Deno.statSync(dir).isDirectory) throw e;
      throw new UsageError(`${dir} already holds files (the run's own export?); pass --to DIR`);
    }
    await ready();
    const model = await savedModelFor(f.path, await dataShape(f), f.pad);
    return [
      load({ data: dataFrom(f, f.seed), model: () => model }),
      exportStage({ dir: () => dir, strict: true, log: false }),
    ];
  },
  summarize: (ctx) => exportLines(ctx.report.export as ExportReport),
};

if (import.meta.main) {
  exitOnError(async () => {
    const ctx = await runPipeline(exportPipeline);
    if (!(ctx.report.export as ExportReport).verify.passed) Deno.exit(1);
  });
}
