/**
 * The deployable export of a Shears model: stock tfjs layers only (custom
 * layers rewritten to their standard forms, BN folded, ReLUs fused; a
 * dependency-free `layers.js` only for layers with no standard form),
 * optionally quantized weights in tfjs's own format, its download size raw
 * and gzipped, and a check that it loads and predicts in a subprocess that
 * imports nothing but `@tensorflow/tfjs`, compared with the Shears model on
 * test images (and its top-1 on the test split beside the model's). A float32
 * export passes when every output is within 1e-4 + 1e-3 * max |output| of
 * Shears' ({@link compareOutputs}). A model whose outputs on the test images
 * are NaN or ±Inf is refused: there is nothing to compare.
 *
 * The directory is written aside, checked, then renamed into place.
 *
 * @example
 * ```ts
 * const report = await exportModel(model, {
 *   dir: "runs/x/export", quantize: "float16", samples: { x, y }, data,
 * });
 * report.verify.max_rel_diff; // e.g. 1e-7 of the largest |output| (float32: the bar is about 1e-3)
 * ```
 * @module
 */
import { pct } from "../format.ts";
import { tf } from "../tf.ts";
import type { Dataset } from "../data.ts";
import { accuracy } from "../metrics.ts";
import { UsageError } from "../errors.ts";
import { type Rewritten, standardModel } from "./standard.ts";
import type { Quantization } from "./quantize.ts";
import { type ExportFiles, gzipSize, modelFiles, sampleFiles } from "./files.ts";
import { writeDirAtomic } from "../io.ts";
import { type Cancel, cancelPoint } from "../pipeline.ts";
import { NonFiniteError } from "../finite.ts";
import { compareOutputs, EXPORT_BAR, nonFiniteOutput, plainTfjsOutputs } from "./verify.ts";

export * from "./forms.ts";
export { float16Bits, type Quantization, quantizations, quantizeWeights } from "./quantize.ts";
export { type Rewritten, type StandardModel, standardModel } from "./standard.ts";
export { type ExportMetadata, gzipSize, type SamplesJson } from "./files.ts";
export {
  compareOutputs,
  EXPORT_ATOL,
  EXPORT_BAR,
  EXPORT_RTOL,
  maxAbsDiff,
  type NonFiniteOutput,
  nonFiniteOutput,
  type OutputComparison,
  type PlainOutputs,
  plainTfjsOutputs,
} from "./verify.ts";

/** What to export and how to check it. */
export interface ExportOptions {
  /** The export directory; it must not exist or be empty. */
  dir: string;
  /** Weight quantization; default none (float32). */
  quantize?: Quantization;
  /** Test images (and labels) the export is checked on and ships as samples; not disposed. */
  samples: { x: tf.Tensor; y: tf.Tensor };
  /** Test data for top-1 of the export beside the model's; omitted: no top-1. */
  data?: Dataset;
  /** At most this many test examples for top-1. */
  limit?: number;
  /** Top-1 drop (points) beyond which a quantized export warns; default 1. */
  maxDrop?: number;
  /** A cancelled run stops at the next step or batch; no export directory is left. */
  cancel?: Cancel;
}

/** Bytes of the files a page downloads to run the model. */
export interface ExportBytes {
  model_json: number;
  weights: number;
  layers_js: number;
  total: number;
  model_json_gzip: number;
  weights_gzip: number;
  layers_js_gzip: number;
  total_gzip: number;
}

/** What {@link exportModel} did and measured (report.json's `export`). */
export interface ExportReport {
  dir: string;
  quantize: Quantization | "none";
  /** Custom layers rewritten to standard forms. */
  rewritten: Rewritten[];
  /** Custom layer classes shipped in layers.js. */
  modules: string[];
  bytes: ExportBytes;
  /** The samples' outputs in plain tfjs against Shears' ({@link compareOutputs}). */
  verify: {
    /** Where the export ran: stock tfjs in a subprocess, e.g. "tfjs 4.22.0, cpu". */
    runtime: string;
    images: number;
    /** Max |export - Shears| over the samples' outputs. */
    max_abs_diff: number;
    /** Max |Shears| over the samples' outputs. */
    output_scale: number;
    /** max_abs_diff / output_scale. */
    max_rel_diff: number;
    /**
     * The bar on max_abs_diff for float32 exports, 1e-4 + 1e-3 * output_scale;
     * null when quantized (the drop is in top-1, and any finite diff passes).
     */
    tolerance: number | null;
    passed: boolean;
  };
  top1?: { shears: number; export: number; drop_points: number; images: number };
  /**
   * Loud problems: a float32 export off by more than the tolerance, outputs
   * that are NaN or ±Inf in plain tfjs only, a top-1 drop beyond --max_drop.
   */
  warnings: string[];
}

/** Throws a one-line UsageError when `dir` exists and is not an empty directory.  *
 * @example
 * ```ts
 * checkExportDir("runs/x/export"); // throws when it holds files
 * ```
 */
export function checkExportDir(dir: string): void {
  let entries: Deno.DirEntry[];
  try {
    if (!Deno.statSync(dir).isDirectory) {
      throw new UsageError(`export directory ${dir} exists and is a file; give a new one`);
    }
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (entries.length) {
    throw new UsageError(`export directory ${dir} already exists and is not empty; give a new one`);
  }
}

async function sizes(files: ExportFiles): Promise<ExportBytes> {
  const raw = (name: string) => files.get(name)?.byteLength ?? 0;
  const gz = async (name: string) => files.has(name) ? await gzipSize(files.get(name)!) : 0;
  const b = {
    model_json: raw("model.json"),
    weights: raw("weights.bin"),
    layers_js: raw("layers.js"),
    model_json_gzip: await gz("model.json"),
    weights_gzip: await gz("weights.bin"),
    layers_js_gzip: await gz("layers.js"),
  };
  return {
    ...b,
    total: b.model_json + b.weights + b.layers_js,
    total_gzip: b.model_json_gzip + b.weights_gzip + b.layers_js_gzip,
  };
}

async function predictData(model: tf.LayersModel, x: tf.Tensor): Promise<Float32Array> {
  const y = model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor;
  try {
    return await y.data() as Float32Array;
  } finally {
    y.dispose();
  }
}

/**
 * Exports `model` (left as it was) into `opts.dir`; see the module doc.
 *
 * @throws {NonFiniteError} (one line: the first NaN or ±Inf, where) when the
 * model's outputs on the samples are not all finite; nothing is written.
 * @example
 * ```ts
 * const r = await exportModel(model, { dir: "out/export", samples: { x, y }, data });
 * if (r.warnings.length) console.warn(r.warnings.join("\n"));
 * ```
 */
export async function exportModel(
  model: tf.LayersModel,
  opts: ExportOptions,
): Promise<ExportReport> {
  checkExportDir(opts.dir);
  const expected = await predictData(model, opts.samples.x);
  const perImage = expected.length / opts.samples.x.shape[0];
  const bad = nonFiniteOutput(expected, perImage);
  if (bad) {
    throw new NonFiniteError(
      `the model's outputs are not finite (${bad.value} at test image ${bad.image}, output ` +
        `${bad.output} of '${model.outputNames[0]}'; ${bad.count} of ${expected.length} values ` +
        `NaN or ±Inf): a diverged model cannot be exported`,
    );
  }
  const std = await standardModel(model);
  let loaded: tf.LayersModel | undefined;
  try {
    const { files, artifacts } = await modelFiles(std.model, {
      quantize: opts.quantize,
      modules: std.modules,
    });
    const labels = Array.from(await opts.samples.y.data());
    for (const [k, v] of await sampleFiles(opts.samples.x, labels, expected)) files.set(k, v);
    const stop = async () => opts.cancel && await cancelPoint(opts.cancel);
    await stop();
    const plain = await writeDirAtomic(opts.dir, async (tmp) => {
      for (const [name, bytes] of files) await Deno.writeFile(`${tmp}/${name}`, bytes);
      const outputs = await plainTfjsOutputs(tmp);
      await stop(); // before the directory is swapped in
      return outputs;
    });
    const cmp = compareOutputs(plain.outputs, expected);
    const quantized = opts.quantize !== undefined;
    const report: ExportReport = {
      dir: opts.dir,
      quantize: opts.quantize ?? "none",
      rewritten: std.rewritten,
      modules: [...std.modules.keys()],
      bytes: await sizes(files),
      verify: {
        runtime: plain.runtime,
        images: labels.length,
        max_abs_diff: cmp.max_abs_diff,
        output_scale: cmp.output_scale,
        max_rel_diff: cmp.max_rel_diff,
        tolerance: quantized ? null : cmp.tolerance,
        passed: quantized ? Number.isFinite(cmp.max_abs_diff) : cmp.within,
      },
      warnings: [],
    };
    const off = nonFiniteOutput(plain.outputs, perImage);
    if (off) {
      report.warnings.push(
        `the export's outputs in plain tfjs are not finite where Shears' are (${off.value} at ` +
          `test image ${off.image}, output ${off.output}; ${off.count} of ${expected.length} values)`,
      );
    } else if (!report.verify.passed) {
      report.warnings.push(
        `the export's outputs in plain tfjs differ from Shears' by ` +
          `${cmp.max_abs_diff.toExponential(2)}, ${cmp.max_rel_diff.toExponential(2)} of ` +
          `max |output| ${cmp.output_scale.toPrecision(3)} (more than ` +
          `${cmp.tolerance.toExponential(2)} = ${EXPORT_BAR}) on ` +
          `${labels.length} test images`,
      );
    }
    if (opts.data) {
      loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
      const acc = (m: tf.LayersModel) =>
        accuracy(m, opts.data!, { limit: opts.limit, cancel: opts.cancel });
      const [shears, exported] = [await acc(model), await acc(loaded)];
      const drop = (shears.top1 - exported.top1) * 100;
      report.top1 = {
        shears: shears.top1,
        export: exported.top1,
        drop_points: drop,
        images: shears.n,
      };
      const maxDrop = opts.maxDrop ?? 1;
      if (drop > maxDrop) {
        report.warnings.push(
          `the ${report.quantize} export's top-1 is ${drop.toFixed(2)} points below Shears' ` +
            `(${pct(exported.top1)} vs ${pct(shears.top1)}), ` +
            `more than --max_drop ${maxDrop}`,
        );
      }
    }
    return report;
  } finally {
    std.model.dispose();
    loaded?.dispose();
  }
}
