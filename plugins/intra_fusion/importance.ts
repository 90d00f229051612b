/**
 * Channel importance as Intra-Fusion's reference computes it (Torch-Pruning's
 * magnitude and Taylor importances, group reduction "mean", normaliser
 * "mean"): for every kernel that makes or reads a group's channels, a
 * per-channel sum — of |w| ("l1") or of |w · dw| with dw summed over 5
 * batches in inference mode ("taylor") — then the mean over those kernels,
 * divided by its mean over the channels. Scores are keyed by channel group id.
 *
 * @example
 * ```ts
 * score({ scorer: "intra_fusion/l1" });     // from the weights alone
 * score({ scorer: "intra_fusion/taylor" }); // 5 batches of gradients
 * ```
 * @module
 */
import {
  type Batch,
  buildChannelGraph,
  type ChannelGroup,
  crossEntropy,
  groupKernels,
  layerWeight,
  type Options,
  type RunContext,
  type Scorer,
  type ScoreRequest,
  type Scores,
  type ScoreSession,
  tf,
  unitsOf,
  type WeightRef,
} from "@shears/core";

/** Sum of `values` over each group channel's units along `ref.axis` (length: group size). */
export async function channelSums(values: tf.Tensor, ref: WeightRef): Promise<Float64Array> {
  const axes = values.shape.map((_, i) => i).filter((i) => i !== ref.axis);
  const sums = tf.tidy(() => values.sum(axes));
  const perUnit = await sums.data();
  sums.dispose();
  return Float64Array.from(
    ref.index,
    (_, j) => unitsOf(ref, j).reduce((s, u) => s + perUnit[u], 0),
  );
}

/** A kernel's per-channel importance within a group. */
type PerKernel = (ref: WeightRef) => Promise<Float64Array>;

/** Mean over kernels of per-channel importances, divided by its mean over channels. */
async function groupImportance(group: ChannelGroup, perKernel: PerKernel) {
  const refs = groupKernels(group);
  const imp = new Float64Array(group.size);
  for (const ref of refs) (await perKernel(ref)).forEach((v, j) => imp[j] += v / refs.length);
  const mean = imp.reduce((a, b) => a + b, 0) / imp.length;
  return mean > 0 ? imp.map((v) => v / mean) : imp;
}

/** The prunable groups that have kernels to score (only those of `ids`, when given). */
function scorableGroups(model: tf.LayersModel, ids?: string[]): ChannelGroup[] {
  const graph = buildChannelGraph(model);
  if (ids) return ids.map((id) => graph.group(id));
  return graph.groups.filter((g) => g.prunable && groupKernels(g).length > 0);
}

async function scoresOf(groups: ChannelGroup[], perKernel: PerKernel): Promise<Scores> {
  const values = new Map<string, tf.Tensor>();
  for (const g of groups) {
    values.set(g.id, tf.tensor1d(Float32Array.from(await groupImportance(g, perKernel))));
  }
  return { target: "channels", values };
}

function kernelOf(model: tf.LayersModel, ref: WeightRef): tf.LayerVariable {
  return layerWeight(model.getLayer(ref.layer), ref.weight)!;
}

/** L1 magnitude importance of every prunable channel group (or of `ids`), from the weights. */
export function l1Importance(model: tf.LayersModel, ids?: string[]): Promise<Scores> {
  return scoresOf(scorableGroups(model, ids), async (ref) => {
    const abs = tf.tidy(() => kernelOf(model, ref).read().abs());
    try {
      return await channelSums(abs, ref);
    } finally {
      abs.dispose();
    }
  });
}

/** Scorer "l1": group-mean L1 norms of out-rows and in-columns, mean-normalised. */
export const l1Scorer: Scorer = {
  target: "channels",
  description: "L1 norm of each channel's out-rows and next layers' in-columns (group mean)",
  batches: 0,
  start(ctx: RunContext, _options: Options, request: ScoreRequest = {}): ScoreSession {
    if (!ctx.model) throw new Error("the l1 scorer needs ctx.model (run the load stage first)");
    const model = ctx.model;
    return { taps: [], scores: () => l1Importance(model, request.groups), dispose() {} };
  },
};

/**
 * Accumulates dLoss/dW of every scored kernel over batches (inference mode),
 * then scores Σ|w · Σdw| per channel.
 */
export class TaylorAccumulator {
  readonly #model: tf.LayersModel;
  readonly #groups: ChannelGroup[];
  readonly #vars: Map<string, tf.LayerVariable>;
  readonly #grads = new Map<string, tf.Tensor>();

  constructor(model: tf.LayersModel, ids?: string[]) {
    this.#model = model;
    this.#groups = scorableGroups(model, ids);
    this.#vars = new Map();
    for (const g of this.#groups) {
      for (const ref of groupKernels(g)) this.#vars.set(ref.layer, kernelOf(model, ref));
    }
  }

  /** Adds one batch's gradients of the cross-entropy loss. */
  add(batch: Batch): void {
    const names = [...this.#vars.keys()];
    const variables = names.map((n) => this.#vars.get(n)!.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(this.#model.apply(batch.x, { training: false }) as tf.Tensor, batch.y),
      variables,
    );
    value.dispose();
    names.forEach((n, i) => {
      const g = grads[variables[i].name];
      const old = this.#grads.get(n);
      this.#grads.set(n, old ? tf.tidy(() => old.add(g)) : g.clone());
      old?.dispose();
    });
    tf.dispose(grads);
  }

  /** Σ|w · Σdw| importances of every group (the caller owns the tensors). */
  async scores(): Promise<Scores> {
    if (this.#grads.size === 0) throw new Error("the taylor scorer saw no batches");
    return await scoresOf(this.#groups, async (ref) => {
      const prod = tf.tidy(() =>
        this.#vars.get(ref.layer)!.read().mul(this.#grads.get(ref.layer)!).abs()
      );
      try {
        return await channelSums(prod, ref);
      } finally {
        prod.dispose();
      }
    });
  }

  dispose(): void {
    for (const g of this.#grads.values()) g.dispose();
    this.#grads.clear();
  }
}

/** Scorer "taylor": Σ|w · dw| with dw summed over 5 batches in inference mode (group mean). */
export const taylorScorer: Scorer = {
  target: "channels",
  description:
    "first-order Taylor |w * dw| of each channel's kernels, dw over 5 batches (eval mode)",
  batches: 5,
  trainMode: false,
  start(ctx: RunContext, _options: Options, request: ScoreRequest = {}): ScoreSession {
    if (!ctx.model) throw new Error("the taylor scorer needs ctx.model (run the load stage first)");
    const acc = new TaylorAccumulator(ctx.model, request.groups);
    return {
      taps: [],
      onBatchEnd: (_info, batch) => acc.add(batch),
      scores: () => acc.scores(),
      dispose: () => acc.dispose(),
    };
  },
};
