/**
 * Prints a model's per-layer table (name, class, output shape, parameters,
 * MACs, ReLU elements) and its totals, ending with three lines scripts can
 * read: `params: N`, `macs: N`, `relus: N` (plain integers; relus counts
 * the ReLU elements still active).
 *
 * The model is a zoo architecture built for a dataset's shape
 * (`--dataset`, or `--input_shape` and `--num_classes` without loading any
 * data) or a saved model directory (`--path`).
 *
 * @example
 * ```sh
 * deno task run pipelines/summary.ts --model resnet18 --input_shape 32,32,3 --num_classes 10
 * deno task run pipelines/summary.ts --model lenet5 --dataset mnist --width 0.5
 * deno task run pipelines/summary.ts --path runs/relu_taylor/<timestamp>/model
 * ```
 * @module
 */
import {
  type BackendName,
  commonFlags,
  countMacs,
  countParams,
  countRelus,
  exitOnError,
  type FlagDefs,
  importPlugin,
  initBackend,
  layerTable,
  loadModel,
  markUserFacing,
  parseFlags,
  type tf,
  UsageError,
} from "@shears/core";
import { buildModel, modelNames } from "@shears/models";
import { DatasetError, datasetNames, loadDataset } from "@shears/datasets";
import { dataFlags, widthFlag } from "./common.ts";

markUserFacing(DatasetError);

/** Flags of summary. */
export const summaryFlags = {
  backend: { ...commonFlags.backend, default: "cpu" },
  config: commonFlags.config,
  plugin: commonFlags.plugin,
  model: { type: "string", choices: modelNames, help: "architecture from the model zoo" },
  width: widthFlag,
  dataset: {
    type: "string",
    choices: datasetNames,
    help: "dataset whose input shape and class count the model is built for",
  },
  data_dir: dataFlags.data_dir,
  input_shape: {
    type: "numbers",
    min: 1,
    help: "input shape without the batch axis, e.g. 32,32,3 (instead of --dataset)",
    validate: (v) =>
      (v as number[]).every(Number.isInteger) ? undefined : "must be positive integers",
  },
  num_classes: { type: "int", min: 1, help: "number of classes (with --input_shape)" },
  path: { type: "string", help: "a saved model directory (instead of --model)" },
} satisfies FlagDefs;

type SummaryFlags = ReturnType<typeof parseFlags<typeof summaryFlags>>;

/** The model the flags describe. */
async function modelOf(f: SummaryFlags): Promise<tf.LayersModel> {
  if (f.path) {
    if (f.model) throw new UsageError("give --path or --model, not both");
    return loadModel(f.path);
  }
  if (!f.model) throw new UsageError("--model (a zoo name) or --path (a saved model) is required");
  let shape: { inputShape: number[]; numClasses: number };
  if (f.dataset) {
    if (f.input_shape || f.num_classes) {
      throw new UsageError("give --dataset or --input_shape/--num_classes, not both");
    }
    const ds = await loadDataset(f.dataset, { dataDir: f.data_dir, limitTrain: 1, limitTest: 1 });
    shape = { inputShape: ds.inputShape, numClasses: ds.numClasses };
  } else if (f.input_shape && f.num_classes) {
    shape = { inputShape: f.input_shape, numClasses: f.num_classes };
  } else {
    throw new UsageError("--model needs --dataset, or --input_shape and --num_classes");
  }
  return buildModel(f.model, { ...shape, width: f.width });
}

/**
 * The summary text: an aligned per-layer table, then `params: N`,
 * `macs: N`, `relus: N`.
 */
export async function summaryLines(model: tf.LayersModel): Promise<string[]> {
  const header = ["layer", "class", "output", "params", "macs", "relus"];
  const rows = (await layerTable(model)).map((r) => [
    r.name,
    r.className,
    `[${r.outputShape.join(",")}]`,
    String(r.params),
    String(r.macs),
    String(r.relus),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
      .trimEnd();
  const p = await countParams(model), r = await countRelus(model);
  return [
    `model: ${model.name}, input [${(model.inputs[0].shape as number[]).slice(1)}]`,
    fmt(header),
    ...rows.map(fmt),
    `non-zero params: ${p.nonZero}, ReLU elements (all): ${r.total}`,
    `params: ${p.total}`,
    `macs: ${countMacs(model)}`,
    `relus: ${r.active}`,
  ];
}

/** Runs the summary command on `args`. */
export async function main(args: string[]): Promise<void> {
  const f = parseFlags(summaryFlags, args, {
    name: "summary",
    description: "Print a model's layers with parameters, MACs and ReLU counts.",
  });
  await initBackend(f.backend as BackendName, { quiet: true });
  for (const p of f.plugin ?? []) await importPlugin(p);
  const model = await modelOf(f);
  for (const line of await summaryLines(model)) console.log(line);
}

if (import.meta.main) exitOnError(() => main(Deno.args));
