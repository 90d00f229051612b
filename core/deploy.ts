/**
 * A model for inference only: every BatchNorm that follows a Conv2D / Dense
 * is folded into it exactly (epsilon included) and removed from the graph, and
 * every ReLU that is the sole reader of such a layer becomes that layer's
 * fused activation. Same outputs as the original in inference mode, fewer
 * kernels per batch: what deployed latency should be measured on (a BN pass
 * costs per activation, so it hides how much a pruned model saved).
 *
 * @example
 * ```ts
 * const fast = await inferenceModel(model); // model is left as it was
 * const ms = await latency(fast, { batchSize: 64 });
 * ```
 * @module
 */
import type { tf } from "./tf.ts";
import { foldBatchNorm } from "./bn_fold.ts";
import { type LayerSpec, rewriteLayers, wiring } from "./rewrite.ts";

const PRODUCERS = new Set(["Conv2D", "Dense", "DepthwiseConv2D"]);

function isRelu(spec: LayerSpec | undefined): boolean {
  if (spec?.className === "ReLU") {
    const c = spec.config as {
      maxValue?: number | null;
      threshold?: number;
      negativeSlope?: number;
    };
    return c.maxValue == null && !c.threshold && !c.negativeSlope;
  }
  return spec?.className === "Activation" && spec.config.activation === "relu";
}

/** A new model computing `model`'s inference-mode function with BN folded and ReLUs fused. */
export async function inferenceModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  const { model: folded, folded: pairs } = await foldBatchNorm(model, { includeEps: true });
  const specs = (folded.getConfig() as unknown as { layers: LayerSpec[] }).layers;
  const byName = new Map(specs.map((s) => [s.name, s]));
  const { readers } = wiring(specs);
  const bnOf = new Map(pairs.map((p) => [p.producer, p.bn]));
  const bns = new Set(bnOf.values());
  const outputs = new Set(folded.outputs.map((o) => o.sourceLayer.name));
  const fused = new Map<string, string>(); // producer -> the ReLU it absorbs
  for (const p of specs) {
    if (!PRODUCERS.has(p.className) || (p.config.activation ?? "linear") !== "linear") continue;
    // what the ReLU must be the sole reader of: the producer, or its folded BN (which goes)
    const tail = bnOf.get(p.name) ?? p.name;
    const r = readers.get(tail)!;
    if (r.length === 1 && isRelu(byName.get(r[0])) && !outputs.has(tail)) fused.set(p.name, r[0]);
  }
  const relus = new Set(fused.values());
  try {
    return rewriteLayers(folded, (spec) => {
      if (bns.has(spec.name) || relus.has(spec.name)) return null;
      if (fused.has(spec.name)) return { ...spec, config: { ...spec.config, activation: "relu" } };
      return spec;
    });
  } finally {
    folded.dispose();
  }
}
