/**
 * The files of an export, as bytes by name: `model.json` (tfjs layers
 * format, one weights group), `weights.bin` (quantized or not), `layers.js`
 * where custom layers stay, and the check samples (`samples.json` +
 * `samples.bin`: test images, their labels and the Shears model's outputs,
 * which the verification subprocess and the web page run).
 *
 * @example
 * ```ts
 * const { files, artifacts } = await modelFiles(plain, { quantize: "float16", modules });
 * files.get("model.json"); // Uint8Array
 * ```
 * @module
 */
import { tf } from "../tf.ts";
import type { LayerModuleSource } from "./forms.ts";
import { layersModule } from "./layers_module.ts";
import { type Quantization, quantizeWeights } from "./quantize.ts";

/** File bytes by name, relative to the export directory. */
export type ExportFiles = Map<string, Uint8Array>;

/** What Shears writes into model.json's `userDefinedMetadata.shears`. */
export interface ExportMetadata {
  /** The module to import and call `registerLayers(tf)` from before loading, or null. */
  layersModule: string | null;
  quantize: Quantization | "none";
}

/**
 * model.json, weights.bin and (where `modules` is not empty) layers.js of
 * `model`, and the artifacts tfjs would load from them (for loading the
 * export in this process with `tf.io.fromMemory`).
 *
 * @example
 * ```ts
 * const { files } = await modelFiles(model, { quantize: "float16", modules: new Map() });
 * ```
 */
export async function modelFiles(
  model: tf.LayersModel,
  opts: { quantize?: Quantization; modules: Map<string, LayerModuleSource> },
): Promise<{ files: ExportFiles; artifacts: tf.io.ModelArtifacts }> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler((a) => {
    saved = a;
    return Promise.resolve({ modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) });
  }));
  const raw = tf.io.CompositeArrayBuffer.join(saved!.weightData ?? []);
  const { specs, data } = quantizeWeights(saved!.weightSpecs ?? [], raw, opts.quantize);
  const metadata: ExportMetadata = {
    layersModule: opts.modules.size ? "layers.js" : null,
    quantize: opts.quantize ?? "none",
  };
  const json: tf.io.ModelJSON = {
    modelTopology: saved!.modelTopology!,
    format: "layers-model",
    generatedBy: saved!.generatedBy,
    convertedBy: "Shears export",
    weightsManifest: [{ paths: ["weights.bin"], weights: specs }],
    userDefinedMetadata: { shears: metadata as unknown as Record<string, unknown> },
  };
  const enc = new TextEncoder();
  const files: ExportFiles = new Map([
    ["model.json", enc.encode(JSON.stringify(json))],
    ["weights.bin", data],
  ]);
  if (opts.modules.size) files.set("layers.js", enc.encode(layersModule(opts.modules)));
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    weightSpecs: specs,
    weightData: data.slice().buffer,
  };
  return { files, artifacts };
}

/** What samples.json holds. */
export interface SamplesJson {
  /** The images' file (float32, row-major, `shape`). */
  inputs: string;
  shape: number[];
  labels: number[];
  /** The Shears model's outputs on the images, one row per image. */
  expected: number[][];
}

/**
 * samples.json + samples.bin: the images `x`, their `labels`, and
 * `expected`, the Shears model's outputs on them ([n, k], row-major).
 *
 * @example
 * ```ts
 * const files = await sampleFiles(x, [7, 2, 1], shearsOutputs);
 * ```
 */
export async function sampleFiles(
  x: tf.Tensor,
  labels: number[],
  expected: Float32Array,
): Promise<ExportFiles> {
  const values = await x.data() as Float32Array;
  const n = x.shape[0], k = expected.length / n;
  const json: SamplesJson = {
    inputs: "samples.bin",
    shape: x.shape,
    labels,
    expected: Array.from({ length: n }, (_, i) => Array.from(expected.subarray(i * k, i * k + k))),
  };
  return new Map([
    ["samples.json", new TextEncoder().encode(JSON.stringify(json))],
    ["samples.bin", new Uint8Array(values.slice().buffer)],
  ]);
}

/**
 * Bytes of `data` once gzipped (as a web server sends it with Content-Encoding: gzip).
 *
 * @example
 * ```ts
 * const bytes = await gzipSize(await Deno.readFile("export/weights.bin"));
 * ```
 */
export async function gzipSize(data: Uint8Array): Promise<number> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return (await new Response(stream).arrayBuffer()).byteLength;
}
