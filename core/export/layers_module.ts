/**
 * `layers.js`: the dependency-free ES module an export ships beside a model
 * whose custom layers have no standard tfjs form. It holds each layer's
 * registered class source ({@link registerExportModule}) and exports
 * `registerLayers(tf)`, which registers them with whatever tfjs the page or
 * program uses. Loading such a model takes two more lines than a stock one:
 *
 * ```js
 * import { registerLayers } from "./export/layers.js";
 * registerLayers(tf);
 * const model = await tf.loadLayersModel("export/model.json");
 * ```
 *
 * @example
 * ```ts
 * const text = layersModule(new Map([["Sine", sineSource]]));
 * ```
 * @module
 */
import type { LayerModuleSource } from "./forms.ts";

/** The text of `layers.js` for the module sources `sources` (by class name).  *
 * @example
 * ```ts
 * await Deno.writeTextFile("export/layers.js", layersModule(modules));
 * ```
 */
export function layersModule(sources: Map<string, LayerModuleSource>): string {
  const factories = [...sources].map(([name, source]) => `  // ${name}\n  ${source.trim()},`);
  return [
    "// The custom layers of this model, written by the Shears export. It imports nothing and",
    "// runs with any TensorFlow.js (browser or Node). Before loading the model:",
    '//   import { registerLayers } from "./layers.js";',
    "//   registerLayers(tf);",
    "const factories = [",
    ...factories,
    "];",
    "",
    "/** Registers this model's custom layers with `tf`, the TensorFlow.js namespace in use. */",
    "export function registerLayers(tf) {",
    "  for (const make of factories) tf.serialization.registerClass(make(tf));",
    "}",
    "",
  ].join("\n");
}
