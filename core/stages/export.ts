/**
 * The export stage: writes the deployable form of a model (see
 * core/export/mod.ts) and records what it measured under `ctx.report.export`.
 * Every pipeline that saves a model runs it at the end (`export/` beside
 * `model/`; `--no-export` skips it), with the flags {@link exportFlags}; the
 * export pipeline runs it on any saved model.
 *
 * @example
 * ```ts
 * const stages = [load({ data, model }), exportStage({ dir: () => "out/export" })];
 * ```
 * @module
 */
import { pct } from "../format.ts";
import type { tf } from "../tf.ts";
import type { FlagDefs } from "../flags.ts";
import { CancelledError, type RunContext, type Stage, stage } from "../pipeline.ts";
import {
  EXPORT_BAR,
  exportModel,
  type ExportReport,
  type Quantization,
  quantizations,
} from "../export/mod.ts";

/** --quantize and --max_drop: how an export's weights are stored and how much top-1 they may cost. */
export const quantizeFlags = {
  quantize: {
    type: "string",
    default: "none",
    choices: ["none", ...quantizations],
    help: "weights of the export: float32 (none) or tfjs-quantized float16, uint8, uint16",
  },
  max_drop: {
    type: "number",
    default: 1,
    min: 0,
    help: "warn when the export's top-1 is more than this many points below the model's",
  },
} satisfies FlagDefs;

/** The export flags every model-saving pipeline has: --export (on; --no-export skips) and {@link quantizeFlags}. */
export const exportFlags = {
  export: {
    type: "boolean",
    default: true,
    help: "write export/ beside model/: stock tfjs layers only, checked without Shears",
  },
  ...quantizeFlags,
} satisfies FlagDefs;

/** Test images the export is checked on and ships as samples. */
export const EXPORT_SAMPLES = 64;

/** What to export and where; flags default to `ctx.config` (--quantize, --max_drop). */
export interface ExportSpec {
  /** The model; default ctx.model. */
  model?: (ctx: RunContext) => tf.LayersModel | undefined;
  /** The export directory; default `<run dir>/export`. */
  dir?: (ctx: RunContext) => string;
  /** A user error (an unexportable layer) fails the stage instead of becoming a warning. */
  strict?: boolean;
  /** Log the {@link exportLines} (default true; warnings are always logged). */
  log?: boolean;
}

const kB = (n: number) => `${(n / 1024).toFixed(1)} kB`;

/** The lines that describe an export (logged by the stage, printed by the export pipeline).  *
 * @example
 * ```ts
 * for (const line of exportLines(ctx.report.export as ExportReport)) console.log(line);
 * ```
 */
export function exportLines(r: ExportReport): string[] {
  const b = r.bytes;
  const files = [`model.json ${kB(b.model_json)}`, `weights.bin ${kB(b.weights)}`];
  if (b.layers_js) files.push(`layers.js ${kB(b.layers_js)}`);
  const v = r.verify;
  const counts = new Map<string, number>();
  for (const w of r.rewritten) {
    const k = `${w.from} -> ${w.to}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const rewrites = [...counts].map(([k, n]) => `${n} ${k}`).join(", ") || "none";
  const modules = r.modules.length ? `; layers.js for ${r.modules.join(", ")}` : "";
  const lines = [
    `${r.dir}: ${r.quantize === "none" ? "float32" : r.quantize} weights, stock tfjs layers ` +
    `(custom layers rewritten: ${rewrites}${modules})`,
    `download: ${files.join(" + ")} = ${kB(b.total)}, gzipped ${kB(b.total_gzip)}`,
    `plain tfjs (${v.runtime}, no Shears): max |diff| ${v.max_abs_diff.toExponential(2)} ` +
    `vs Shears on ${v.images} test images, ${v.max_rel_diff.toExponential(2)} of max |output| ` +
    `${v.output_scale.toPrecision(3)}${
      v.tolerance === null
        ? ""
        : ` (bar ${v.tolerance.toExponential(2)} = ${EXPORT_BAR}: ${v.passed ? "ok" : "FAILED"})`
    }`,
  ];
  if (r.top1) {
    lines.push(
      `top-1: ${pct(r.top1.export)} (Shears ${pct(r.top1.shears)}, ` +
        `drop ${r.top1.drop_points.toFixed(2)} points, ${r.top1.images} test images)`,
    );
  }
  return lines;
}

/** The first `n` test examples of the run's data, in order (the caller disposes them). */
function samples(ctx: RunContext, n: number): { x: tf.Tensor; y: tf.Tensor } {
  for (const b of ctx.data!.batches("test", { batchSize: n, shuffle: false, limit: n })) return b;
  throw new Error("export: the test split is empty");
}

/**
 * Exports the model into the directory; `ctx.report.export` gets the
 * {@link ExportReport}. Warnings (outputs off, top-1 drop beyond --max_drop)
 * are logged loudly. An export that fails (a custom layer with no standard
 * form or module, outputs that are NaN or ±Inf) is a warning and
 * `ctx.report.export.error`, since the run's own model is saved by then; with
 * `strict` it is the stage's error.
 *
 * @example
 * ```ts
 * exportStage({ model: (ctx) => ctx.teacher, dir: (ctx) => `${ctx.runDir}/teacher_export` });
 * ```
 */
export function exportStage(spec: ExportSpec = {}): Stage {
  return stage("export", async (ctx, emit, cancel) => {
    const model = spec.model?.(ctx) ?? ctx.model;
    if (!model || !ctx.data) throw new Error("export needs a model and data");
    const dir = spec.dir?.(ctx) ?? `${ctx.runDir}/export`;
    const q = ctx.config.quantize as string | undefined;
    const { x, y } = samples(ctx, EXPORT_SAMPLES);
    let report: ExportReport;
    try {
      report = await exportModel(model, {
        dir,
        quantize: q && q !== "none" ? q as Quantization : undefined,
        samples: { x, y },
        data: ctx.data,
        maxDrop: ctx.config.max_drop as number | undefined,
        cancel,
      });
    } catch (e) {
      if (spec.strict || e instanceof CancelledError) throw e;
      const message = String((e as Error).message ?? e).split("\n")[0];
      ctx.report.export = { error: message };
      emit.log(`WARNING: no export (the model is saved): ${message}`, "warn");
      return;
    } finally {
      x.dispose();
      y.dispose();
    }
    ctx.report.export = report;
    if (spec.log !== false) { for (const line of exportLines(report)) emit.log(line); }
    for (const w of report.warnings) emit.log(`WARNING: ${w}`, "warn");
    emit.metric("bytes", report.bytes.total);
    emit.metric("bytes_gzip", report.bytes.total_gzip);
    emit.metric("max_abs_diff", report.verify.max_abs_diff);
    emit.metric("max_rel_diff", report.verify.max_rel_diff);
    if (report.top1) emit.metric("top1", report.top1.export);
    emit.artifact("model", dir);
  });
}
