/**
 * Taps: see activations and their gradients in a tfjs model, which has no
 * forward/backward hooks. {@link withTaps} returns a model that shares every
 * layer (and so every weight) with the original, with an identity "tap"
 * inserted at each requested point. In the forward pass a tap passes x
 * through; in the backward pass it calls `sink(key, x, dy)` and passes dy
 * through unchanged. Training the tapped model trains the original.
 *
 * x and dy are valid only during the call: a sink reduces them to what it
 * needs and keeps (tf.keep) only its own results.
 *
 * @example
 * ```ts
 * const tapped = withTaps(model, [{ layer: "relu1", at: "input" }], (key, x, dy) => {
 *   sums.push(tf.tidy(() => tf.keep(x.mul(dy).abs().mean())));
 * });
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import { tapKey, type TapSpec } from "./plugin.ts";

/** Receives a tap's forward input and its gradient, inside the backward pass. */
export type TapSink = (key: string, x: tf.Tensor, dy: tf.Tensor) => void;

type Sym = tf.SymbolicTensor;
type LayerConfig = {
  name: string;
  className: string;
  inboundNodes: [string, number, number, unknown][][];
};

let tapCounter = 0;

/** The identity layer with a gradient hook; not serialized (taps live only in tapped copies). */
class Tap extends tf.layers.Layer {
  constructor(readonly key: string, readonly sink: TapSink) {
    super({ name: `shears_tap_${tapCounter++}`, trainable: false });
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const x = args[0] as tf.Tensor;
      (args[1] as tf.GradSaveFunc)([x]);
      return {
        value: x.clone(),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          this.sink(this.key, saved[0], dy);
          return dy.clone();
        },
      };
    });
    return f(x) as tf.Tensor;
  }

  override computeOutputShape(s: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return s;
  }
}

/**
 * Rebuilds the functional graph of `model` from its own layers (weights
 * shared), letting `edit` wrap the input or output of any layer. Layers used
 * more than once in the model are not supported.
 */
export function rewireModel(
  model: tf.LayersModel,
  edit: (layer: string, at: "input" | "output", t: Sym) => Sym,
): tf.LayersModel {
  const cfg = model.getConfig() as unknown as {
    layers: LayerConfig[];
    outputLayers: [string, number, number][];
  };
  const outs = new Map<string, Sym[]>();
  model.inputLayers.forEach((l, i) => outs.set(l.name, [model.inputs[i]]));
  for (const lc of cfg.layers) {
    if (outs.has(lc.name)) continue;
    if (lc.inboundNodes.length !== 1) {
      throw new Error(
        `layer ${lc.name} is used ${lc.inboundNodes.length} times; taps need each layer once`,
      );
    }
    const ins = lc.inboundNodes[0].map(([name, , t]) => {
      const o = outs.get(name);
      if (!o) throw new Error(`layer ${lc.name}: input ${name} not yet built (graph order)`);
      return o[t];
    });
    ins[0] = edit(lc.name, "input", ins[0]);
    const y = model.getLayer(lc.name).apply(ins.length === 1 ? ins[0] : ins) as Sym | Sym[];
    const ys = Array.isArray(y) ? y : [y];
    ys[0] = edit(lc.name, "output", ys[0]);
    outs.set(lc.name, ys);
  }
  const outputs = cfg.outputLayers.map(([name, , t]) => outs.get(name)![t]);
  return tf.model({ inputs: model.inputs, outputs: outputs.length === 1 ? outputs[0] : outputs });
}

/**
 * A model sharing `model`'s layers with a tap at every spec. Its outputs are
 * the model's output followed by the outputs of the `features` layers (for
 * losses on intermediate activations). With no specs and no features it
 * returns `model` itself.
 */
export function withTaps(
  model: tf.LayersModel,
  specs: TapSpec[],
  sink: TapSink,
  features: string[] = [],
): tf.LayersModel {
  if (specs.length === 0 && features.length === 0) return model;
  const wanted = new Set(specs.map(tapKey));
  for (const name of [...specs.map((s) => s.layer), ...features]) model.getLayer(name);
  const feats = new Map<string, Sym>();
  const rewired = rewireModel(model, (layer, at, t) => {
    const key = `${layer}:${at}`;
    const y = wanted.has(key) ? (new Tap(key, sink).apply(t) as Sym) : t;
    if (at === "output" && features.includes(layer)) feats.set(layer, y);
    return y;
  });
  if (features.length === 0) return rewired;
  const out = rewired.outputs[0];
  return tf.model({ inputs: model.inputs, outputs: [out, ...features.map((f) => feats.get(f)!)] });
}
