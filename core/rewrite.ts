/**
 * Config-level model rewrites: rebuild a functional LayersModel from its
 * config with some layers' configs edited or replaced, then copy every weight
 * across by (layer name, param name). The input model is left as it was.
 *
 * @example
 * ```ts
 * // ReLU -> MaskedReLU, keeping names and wiring
 * const masked = rewriteLayers(model, (l) =>
 *   l.className === "ReLU" ? { ...l, className: "MaskedReLU", config: { name: l.name } } : l
 * );
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import { paramName } from "./graph.ts";

/** `[layer, nodeIndex, tensorIndex]` (plus kwargs in inbound nodes): a reference to a tensor. */
type NodeRef = [string, number, number, ...unknown[]];

/**
 * Rewires `config` (which no longer lists the `gone` layers; each of them
 * read exactly one tensor): whatever read a removed layer's output reads its
 * input instead, through chains of removed layers too.
 */
function bypass(
  config: { layers: LayerSpec[]; outputLayers: NodeRef[] },
  gone: LayerSpec[],
): void {
  const source = new Map<string, NodeRef>();
  for (const l of gone) {
    const nodes = l.inboundNodes as NodeRef[][];
    if (nodes.length !== 1 || nodes[0].length !== 1) {
      throw new Error(`layer '${l.name}' cannot be removed: it does not read exactly one tensor`);
    }
    source.set(l.name, nodes[0][0]);
  }
  const resolve = (ref: NodeRef): NodeRef => {
    let r = ref;
    while (source.has(r[0])) r = [...source.get(r[0])!.slice(0, 3), ...r.slice(3)] as NodeRef;
    return r;
  };
  for (const l of config.layers) {
    l.inboundNodes = (l.inboundNodes as NodeRef[][]).map((node) => node.map(resolve));
  }
  config.outputLayers = config.outputLayers.map(resolve);
}

const views = new WeakMap<tf.LayersModel, tf.LayersModel>();

/**
 * `model` as a functional model: itself, or for a Sequential a functional
 * model over the same layers and weights (its input layer included), whose
 * config has the wiring (`inboundNodes`) a Sequential's lacks. Read it, never
 * dispose it: that would dispose the Sequential's layers.
 *
 * @example
 * ```ts
 * const { layers } = functionalView(model).getConfig() as unknown as { layers: LayerSpec[] };
 * ```
 */
export function functionalView(model: tf.LayersModel): tf.LayersModel {
  if (!(model instanceof tf.Sequential)) return model;
  let view = views.get(model);
  if (!view) {
    if (!model.inputs?.length) {
      throw new Error(
        `Sequential model '${model.name}' is not built: give its first layer an inputShape`,
      );
    }
    view = tf.model({ inputs: model.inputs, outputs: model.outputs, name: model.name });
    views.set(model, view);
  }
  return view;
}

/** One layer of a functional model's config, as `model.getConfig().layers` holds it. */
export interface LayerSpec {
  name: string;
  /** Serialized class name (`Conv2D`, `MaskedReLU`); a custom class must be registered. */
  className: string;
  /** The layer's config (`layer.getConfig()`); `name` must stay the layer's name. */
  config: Record<string, unknown>;
  /** Wiring: `[[[fromLayer, nodeIndex, tensorIndex, kwargs], ...]]`; keep it unless rewiring. */
  inboundNodes: unknown[];
}

/**
 * Who reads whom in a functional model's config: each layer's sources (the
 * layers its first inbound node reads) and its readers (one entry per call
 * that reads it, so a layer called twice on it is listed twice).
 */
export function wiring(
  layers: LayerSpec[],
): { sources: Map<string, string[]>; readers: Map<string, string[]> } {
  const sources = new Map<string, string[]>();
  const readers = new Map<string, string[]>(layers.map((l) => [l.name, []]));
  for (const l of layers) {
    const nodes = l.inboundNodes as NodeRef[][];
    sources.set(l.name, (nodes[0] ?? []).map((n) => n[0]));
    for (const node of nodes) for (const [f] of node) readers.get(f)?.push(l.name);
  }
  return { sources, readers };
}

/** Options of {@link rewriteLayers}. */
export interface RewriteOptions {
  /**
   * Turns an old weight value into the new one (e.g. a slice); default: the
   * value as it is. Called inside a tidy; return a tensor of the new weight's shape.
   */
  weight?: (layer: string, param: string, value: tf.Tensor) => tf.Tensor;
  /**
   * Build the new layers with zero-filled weights instead of running their
   * initializers (tfjs `fastWeightInit`): faster for big models when every
   * weight is copied anyway. Default false: weights that are not copied get
   * their initializers' values.
   */
  fastInit?: boolean;
}

/**
 * A new (functional) model built from `model`'s config (a Sequential's too,
 * through {@link functionalView}) with `edit` applied to each layer
 * spec (return the spec, edited or replaced; a copy is passed in; or `null`
 * to remove a layer that reads one tensor, its readers then reading that
 * tensor). Every
 * weight of the new model whose layer and param exist in the old model gets
 * the old value (through `options.weight`); other weights keep their
 * initializers' values (zeros with `fastInit`). A shape mismatch is an error naming the weight.
 */
export function rewriteLayers(
  model: tf.LayersModel,
  edit: (spec: LayerSpec) => LayerSpec | null,
  options: RewriteOptions = {},
): tf.LayersModel {
  const config = structuredClone(functionalView(model).getConfig()) as unknown as {
    layers: LayerSpec[];
    outputLayers: NodeRef[];
  };
  const edited = config.layers.map((l) => [l, edit(l)] as const);
  config.layers = edited.map(([, e]) => e).filter((e): e is LayerSpec => e !== null);
  bypass(config, edited.filter(([, e]) => e === null).map(([l]) => l));
  const out = tf.LayersModel.fromConfig(
    tf.LayersModel,
    config as unknown as tf.serialization.ConfigDict,
    {},
    options.fastInit ?? false,
  ) as tf.LayersModel;
  const old = new Map(model.layers.map((l) => [l.name, l]));
  tf.tidy(() => {
    for (const layer of out.layers) {
      const from = old.get(layer.name);
      if (!from) continue;
      for (const w of layer.weights) {
        const param = paramName(layer.name, w.originalName);
        // The same weight name first (a nested model holds several `kernel`s), then the param.
        const src = from.weights.find((v) => v.originalName === w.originalName) ??
          from.weights.find((v) => paramName(from.name, v.originalName) === param);
        if (!src) continue;
        const value = options.weight?.(layer.name, param, src.read()) ?? src.read().clone();
        if (value.shape.join() !== w.shape.join()) {
          out.dispose();
          throw new Error(
            `weight ${layer.name}/${param} has shape [${w.shape}] in the rewritten model; ` +
              `got a value of shape [${value.shape}]`,
          );
        }
        w.write(value);
      }
    }
  });
  return out;
}
