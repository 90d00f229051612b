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
import { type LayerSpec, rewriteLayers } from "./rewrite.ts";

type Ref = [string, number, number, ...unknown[]];

const PRODUCERS = new Set(["Conv2D", "Dense", "DepthwiseConv2D"]);

function isRelu(spec: LayerSpec): boolean {
  if (spec.className === "ReLU") {
    const c = spec.config as {
      maxValue?: number | null;
      threshold?: number;
      negativeSlope?: number;
    };
    return c.maxValue == null && !c.threshold && !c.negativeSlope;
  }
  return spec.className === "Activation" && spec.config.activation === "relu";
}

/** A new model computing `model`'s inference-mode function with BN folded and ReLUs fused. */
export async function inferenceModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  const { model: folded, folded: pairs } = await foldBatchNorm(model, { includeEps: true });
  const specs = (folded.getConfig() as unknown as { layers: LayerSpec[] }).layers;
  const bns = new Set(pairs.map((p) => p.bn));
  // after the BNs go, a layer reads what its BN read
  const sourceOf = (spec: LayerSpec): string | undefined => {
    const node = (spec.inboundNodes as Ref[][])[0];
    if (!node || node.length !== 1) return undefined;
    const from = node[0][0];
    const bn = specs.find((s) => s.name === from && bns.has(s.name));
    return bn ? sourceOf(bn) ?? from : from;
  };
  const readers = new Map<string, number>();
  for (const s of specs) {
    if (bns.has(s.name)) continue;
    for (const node of s.inboundNodes as Ref[][]) {
      for (const ref of node) {
        const src = bns.has(ref[0]) ? sourceOf(specs.find((x) => x.name === ref[0])!)! : ref[0];
        readers.set(src, (readers.get(src) ?? 0) + 1);
      }
    }
  }
  const outputs = new Set(folded.outputs.map((o) => o.sourceLayer.name));
  const fused = new Map<string, string>(); // producer -> its ReLU
  for (const s of specs) {
    const src = isRelu(s) ? sourceOf(s) : undefined;
    const p = src && specs.find((x) => x.name === src);
    if (!p || !PRODUCERS.has(p.className) || readers.get(p.name) !== 1 || outputs.has(p.name)) {
      continue;
    }
    if ((p.config.activation ?? "linear") !== "linear") continue;
    fused.set(p.name, s.name);
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
