/**
 * How each custom layer leaves Shears: a registry, filled by the module that
 * defines the layer, of its *standard form* (the stock tfjs layer computing
 * exactly what it computes in inference mode, or nothing at all where it is
 * the identity) or, where no standard form exists, of a *shipped module* (the
 * source of a dependency-free class that registers the layer in any tfjs).
 * The export rewrites every layer found here and refuses a model with a
 * custom layer that is in neither list.
 *
 * A layer class counts as stock tfjs when its name was registered before this
 * module was first evaluated: before any custom layer module, since each of
 * them imports this one to register its form (and plugins import core first).
 *
 * @example
 * ```ts
 * // in the module of a layer that is the identity at inference (a noise layer):
 * registerExportForm(TrainingNoise.className, () => null);
 * ```
 * @module
 */
import { tf } from "../tf.ts";
import { markUserFacing } from "../errors.ts";

/** A stock tfjs layer that replaces a custom one, under the custom layer's name and wiring. */
export interface StandardLayer {
  /** A class name tfjs itself registers, e.g. "BatchNormalization". */
  className: string;
  /** Its config; the export sets the name. */
  config: Record<string, unknown>;
  /**
   * Its weights in the order the layer creates them, owned by the export
   * (disposed after use). Omitted: copied from the custom layer by param name.
   */
  weights?: tf.Tensor[];
}

/**
 * A custom layer's standard form: the stock layer computing what `layer`
 * computes in inference mode, or `null` where `layer` is the identity there
 * (it is removed; it must read one tensor). May read weights asynchronously.
 */
export type StandardForm = (
  layer: tf.layers.Layer,
) => StandardLayer | null | Promise<StandardLayer | null>;

/**
 * JavaScript source of an expression that, given a tfjs namespace `tf`,
 * evaluates to the layer's class (a subclass of `tf.layers.Layer` with a
 * static `className`). No imports: it runs in any tfjs, browser or Node.
 */
export type LayerModuleSource = string;

const builtins = new Set(
  Object.keys(
    (tf.serialization.SerializationMap.getMap() as unknown as {
      classNameMap: Record<string, unknown>;
    }).classNameMap,
  ),
);
const forms = new Map<string, StandardForm>();
const modules = new Map<string, LayerModuleSource>();

/** A layer that cannot leave Shears: no standard form, no shipped module. One line. */
export class ExportLayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExportLayerError";
  }
}
markUserFacing(ExportLayerError);

/**
 * Registers the standard form of the custom layer class `className`
 * (replacing an earlier registration).
 *
 * @example
 * ```ts
 * registerExportForm("MyReLU", () => ({ className: "ReLU", config: {} }));
 * ```
 */
export function registerExportForm(className: string, form: StandardForm): void {
  forms.set(className, form);
}

/**
 * Registers the source of a dependency-free class for the custom layer class
 * `className`, for a layer with no standard form. The export writes it into
 * `layers.js` beside the model, whose `registerLayers(tf)` registers it.
 *
 * @example
 * ```ts
 * registerExportModule("Sine", `(tf) => class Sine extends tf.layers.Layer {
 *   static className = "Sine";
 *   call(x) { return tf.sin(Array.isArray(x) ? x[0] : x); }
 * }`);
 * ```
 */
export function registerExportModule(className: string, source: LayerModuleSource): void {
  modules.set(className, source);
}

/** What the export does with a layer class: keep it (stock tfjs), rewrite it, or ship its module. */
export type LayerFate =
  | { kind: "stock" }
  | { kind: "form"; form: StandardForm }
  | { kind: "module"; source: LayerModuleSource };

/**
 * The fate of layer `name` of class `className`; a standard form wins over a
 * module. Throws {@link ExportLayerError} naming the layer when it has neither.
 *
 * @example
 * ```ts
 * exportFate("conv1", "Conv2D"); // { kind: "stock" }
 * ```
 */
export function exportFate(name: string, className: string): LayerFate {
  const form = forms.get(className);
  if (form) return { kind: "form", form };
  const source = modules.get(className);
  if (source !== undefined) return { kind: "module", source };
  if (builtins.has(className)) return { kind: "stock" };
  throw new ExportLayerError(
    `layer '${name}' (${className}) has no standard tfjs form and no shipped module, ` +
      `so it cannot be exported; its module must call registerExportForm or registerExportModule`,
  );
}

/**
 * The layers of `model` that the export cannot write (no standard form, no
 * shipped module; see {@link exportFate}), as `name (Class)`: what a run can
 * warn about when it loads a model, long before its export stage.
 *
 * @example
 * ```ts
 * unexportableLayers(model); // ["bump (Unshippable)"]
 * ```
 */
export function unexportableLayers(model: tf.LayersModel): string[] {
  return model.layers.flatMap((l) => {
    try {
      exportFate(l.name, l.getClassName());
      return [];
    } catch (e) {
      if (e instanceof ExportLayerError) return [`${l.name} (${l.getClassName()})`];
      throw e;
    }
  });
}
