/**
 * A model for inference only: every BatchNorm that follows a linear layer
 * (Conv1D/2D/3D, Dense, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose,
 * Conv3DTranspose) is folded into it exactly (epsilon included) and removed
 * from the graph, and every activation layer that is the sole reader of such
 * a layer (or of its folded BN) becomes that layer's own `activation`:
 * ReLU, ReLU(maxValue 6) as `relu6`, ELU (alpha 1), and Activation layers of
 * any elementwise activation (sigmoid, swish, tanh, ...). tfjs-layers runs a
 * Conv2D's or Dense layer's `relu`, `elu` and `linear` activation inside its
 * fused kernel; other activations still save a layer (and ReLU6 one op: one
 * `relu6` instead of a ReLU and a clip). Same outputs as the original in
 * inference mode, fewer kernels per batch: what deployed latency should be
 * measured on (a BN pass costs per activation, so it hides how much a pruned
 * model saved).
 *
 * @example
 * ```ts
 * const fast = await inferenceModel(model); // model is left as it was
 * const ms = await latency(fast, { batchSize: 64 });
 * ```
 * @module
 */
import type { tf } from "./tf.ts";
import { foldBatchNorm, isFoldTarget } from "./bn_fold.ts";
import { type LayerSpec, rewriteLayers, wiring } from "./rewrite.ts";

/** Elementwise activations a layer's `activation` computes exactly as an Activation layer does. */
const ELEMENTWISE = new Set([
  "relu",
  "relu6",
  "elu",
  "selu",
  "sigmoid",
  "hardSigmoid",
  "tanh",
  "softplus",
  "softsign",
  "swish",
  "mish",
  "gelu",
  "gelu_new",
]);

/**
 * The `activation` identifier an activation layer computes, if a producer can take it over.
 * @example
 * ```ts
 * fusableActivation({ name: "r", className: "ReLU", config: { maxValue: 6 }, inboundNodes: [] }); // "relu6"
 * ```
 */
export function fusableActivation(spec: LayerSpec | undefined): string | undefined {
  const c = spec?.config ?? {};
  if (spec?.className === "ReLU") {
    if (c.threshold || c.negativeSlope) return undefined;
    return c.maxValue == null ? "relu" : c.maxValue === 6 ? "relu6" : undefined;
  }
  if (spec?.className === "ELU") return (c.alpha ?? 1) === 1 ? "elu" : undefined;
  if (spec?.className === "Activation" && ELEMENTWISE.has(c.activation as string)) {
    return c.activation as string;
  }
  return undefined;
}

/** A new model computing `model`'s inference-mode function with BN folded and activations fused. */
export async function inferenceModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  const { model: folded, folded: pairs } = await foldBatchNorm(model, { includeEps: true });
  const specs = (folded.getConfig() as unknown as { layers: LayerSpec[] }).layers;
  const byName = new Map(specs.map((s) => [s.name, s]));
  const { readers } = wiring(specs);
  const bnOf = new Map(pairs.map((p) => [p.producer, p.bn]));
  const bns = new Set(bnOf.values());
  const outputs = new Set(folded.outputs.map((o) => o.sourceLayer.name));
  const fused = new Map<string, { layer: string; activation: string }>(); // producer -> absorbed
  for (const p of specs) {
    if (!isFoldTarget(p.className) || (p.config.activation ?? "linear") !== "linear") continue;
    if (p.inboundNodes.length > 1) continue; // shared: its other calls keep their own readers
    // what the activation must be the sole reader of: the producer, or its folded BN (which goes)
    const tail = bnOf.get(p.name) ?? p.name;
    const r = readers.get(tail)!;
    const activation = r.length === 1 ? fusableActivation(byName.get(r[0])) : undefined;
    if (activation && !outputs.has(tail) && byName.get(r[0])!.inboundNodes.length === 1) {
      fused.set(p.name, { layer: r[0], activation });
    }
  }
  const gone = new Set([...bns, ...[...fused.values()].map((f) => f.layer)]);
  try {
    return rewriteLayers(folded, (spec) => {
      if (gone.has(spec.name)) return null;
      const f = fused.get(spec.name);
      return f ? { ...spec, config: { ...spec.config, activation: f.activation } } : spec;
    });
  } finally {
    folded.dispose();
  }
}
