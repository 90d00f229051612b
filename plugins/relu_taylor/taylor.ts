/**
 * ReLUPruner's Taylor importance of every ReLU element (the `taylor`,
 * `first_order` and `second_order` scorers). Per MaskedReLU layer l and per
 * batch, with x the pre-activation, g the loss gradient (see {@link GradAt})
 * and means over the batch:
 *
 * - P = mean over the last <= `history` [10] batches (current included) of mean(1[x < 0])
 * - F = mean(|g x|) * P                                  (first order)
 * - D <- 0.99 D + 0.01 mean(g^2), D0 = 0                 (Fisher diagonal)
 * - S = 0.5 * mean(x^2) * D                              (second order; not times P)
 * - v = (F + S) * w_l, w_l the {@link LayerWeights} weight from before this batch's update
 * - I_l <- 0.95 I_l + 0.05 v, I0 = 0, no bias correction
 *
 * Layers are folded in model order at the end of each batch, as the reference
 * does after its backward pass: layer l's weight is read after layers < l
 * (and before layers >= l) have taken this batch's statistics. `first_order`
 * and `second_order` use one term alone, with the same smoothing and weights.
 * The per-element state (I, D, the P history) lives in kept tf tensors, so it
 * stays on the GPU with the model; one small asynchronous read per batch
 * fetches the layer statistics (so `onBatchEnd` and `scores` return promises).
 *
 * @example
 * ```ts
 * const session = taylor.start(ctx, {});
 * // the training loop installs session.taps, calls onTap in the backward
 * // pass and onBatchEnd after each step; then:
 * const scores = await session.scores(); // target "activations", by MaskedReLU name
 * ```
 * @module
 */
import {
  activationMaskLayers,
  type FlagDefs,
  type MaskedReLU,
  type Options,
  readOptions,
  readScalars,
  type RunContext,
  type Scorer,
  type Scores,
  type ScoreSession,
  type TapSpec,
  tf,
} from "@shears/core";
import { type GradAt, LayerTaps } from "./layer_taps.ts";
import { LayerWeights } from "./layer_weights.ts";
import { LayerEma } from "./ema.ts";

/** Which Taylor terms make up v. */
export type TaylorTerms = "both" | "first" | "second";

/** Settings of a Taylor session; {@link taylorConfig} reads them from options. */
export interface TaylorConfig {
  terms: TaylorTerms;
  /** EMA momentum of the importance I and of the layer statistics [0.95]. */
  momentum: number;
  /** Batches in the negative-activation history P [10]. */
  history: number;
  /** Depth bias of the layer weights [0.2]. */
  depthBias: number;
  /** Multiply by the layer weights w_l [true]. */
  layerWeights: boolean;
  /** Where g is taken [output, as the reference]. */
  gradAt: GradAt;
}

/** Momentum of the Fisher diagonal D (fixed in the reference). */
export const FISHER_MOMENTUM = 0.99;

/** EMA momentum of an importance, as a part option. */
export const momentumOption = {
  type: "number",
  default: 0.95,
  min: 0,
  max: 1,
  maxExclusive: true,
  help: "EMA momentum of the importance",
} as const;

/** The options of the Taylor scorers (reference defaults). */
export const taylorOptions = {
  momentum: { ...momentumOption, help: "EMA momentum of the importance and layer statistics" },
  history: {
    type: "int",
    default: 10,
    min: 1,
    help: "batches in the negative-activation history P",
  },
  depth_bias: { type: "number", default: 0.2, min: 0, help: "depth bias of the layer weights" },
  layer_weights: { type: "boolean", default: true, help: "multiply by the layer weights w_l" },
  grad_at: {
    type: "string",
    default: "output",
    choices: ["output", "input"],
    help: "where g is taken: the MaskedReLU's output (the reference) or its input",
  },
} satisfies FlagDefs;

/** Reads a {@link TaylorConfig} from the options of {@link taylorOptions} (reference defaults when absent). */
export function taylorConfig(options: Options, terms: TaylorTerms = "both"): TaylorConfig {
  const o = readOptions(taylorOptions, options, `relu_taylor/${SCORER_NAMES[terms]}`);
  return {
    terms,
    momentum: o.momentum,
    history: o.history,
    depthBias: o.depth_bias,
    layerWeights: o.layer_weights,
    gradAt: o.grad_at as GradAt,
  };
}

/** One layer's batch reductions, kept until the end of the batch. */
interface BatchStats {
  neg?: tf.Tensor;
  absGX?: tf.Tensor;
  g2?: tf.Tensor;
  x2?: tf.Tensor;
  gradNorm: tf.Scalar;
  gradSq: tf.Scalar;
}

/** A running Taylor importance over the MaskedReLU layers of a model. */
export class TaylorSession implements ScoreSession {
  readonly taps: TapSpec[];
  #layerTaps: LayerTaps;
  #pending = new Map<number, BatchStats>();
  #history = new Map<number, tf.Tensor[]>();
  #fisher = new LayerEma(FISHER_MOMENTUM);
  #importance: LayerEma;
  #weights: LayerWeights;

  /** @param layers the MaskedReLU layers, in model order (their index is the depth l). */
  constructor(readonly layers: MaskedReLU[], readonly config: TaylorConfig) {
    this.#layerTaps = new LayerTaps(
      layers.map((l) => l.name),
      config.gradAt,
      (l, x, g) => this.#reduce(l, x, g),
    );
    this.taps = this.#layerTaps.taps;
    this.#importance = new LayerEma(config.momentum);
    this.#weights = new LayerWeights(config.momentum, config.depthBias);
  }

  /** Takes one tap callback from the backward pass. */
  onTap(key: string, x: tf.Tensor, dy: tf.Tensor): void {
    this.#layerTaps.onTap(key, x, dy);
  }

  /** Folds the batch's statistics into the importance, layers in model order. */
  onBatchEnd(): Promise<void> {
    return this.flush();
  }

  /** Folds any batch statistics not yet folded (also done by `scores`). */
  async flush(): Promise<void> {
    this.#layerTaps.clear();
    const order = [...this.#pending.keys()].sort((a, b) => a - b);
    if (order.length === 0) return;
    const { terms, history, layerWeights } = this.config;
    const first = terms !== "second", second = terms !== "first";
    const stats = order.map((l) => this.#pending.get(l)!);
    this.#pending.clear();
    const scalars = layerWeights
      ? await readScalars(() => stats.flatMap((s) => [s.gradNorm, s.gradSq]))
      : undefined;
    order.forEach((l, i) => {
      const s = stats[i];
      const w = layerWeights ? this.#weights.weight(l) : 1;
      if (first) {
        const h = this.#history.get(l) ?? [];
        h.push(s.neg!);
        while (h.length > history) h.shift()!.dispose();
        this.#history.set(l, h);
      }
      if (second) this.#fisher.update(l, s.g2!);
      const v = tf.tidy(() => {
        const parts: tf.Tensor[] = [];
        if (first) {
          const h = this.#history.get(l)!;
          parts.push(s.absGX!.mul(tf.addN(h).div(h.length)));
        }
        if (second) parts.push(s.x2!.mul(this.#fisher.get(l)!).mul(0.5));
        return (parts.length === 1 ? parts[0] : tf.add(parts[0], parts[1])).mul(w);
      });
      if (scalars) this.#weights.update(l, scalars[2 * i], scalars[2 * i + 1]);
      this.#importance.update(l, v);
      v.dispose();
      for (const t of [s.absGX, s.g2, s.x2, s.gradNorm, s.gradSq]) t?.dispose();
    });
  }

  /** Importance I_l by MaskedReLU name (zeros for a layer not seen yet); the caller owns them. */
  async scores(): Promise<Scores> {
    await this.flush();
    return this.#importance.scores(this.layers);
  }

  /** Releases every tensor the session holds. */
  dispose(): void {
    this.#layerTaps.clear();
    for (const s of this.#pending.values()) {
      for (const t of [s.neg, s.absGX, s.g2, s.x2, s.gradNorm, s.gradSq]) t?.dispose();
    }
    this.#pending.clear();
    for (const h of this.#history.values()) h.forEach((t) => t.dispose());
    this.#history.clear();
    this.#fisher.dispose();
    this.#importance.dispose();
  }

  #reduce(l: number, x: tf.Tensor, g: tf.Tensor): void {
    const first = this.config.terms !== "second", second = this.config.terms !== "first";
    const stats = tf.tidy(() => {
      const n = x.shape[0];
      const g2 = g.reshape([n, -1]).square();
      const out: Record<string, tf.Tensor> = {
        gradNorm: g2.sum(1).sqrt().mean(),
        gradSq: g2.mean(),
      };
      if (first) {
        out.neg = batchMean(tf.step(x.neg()));
        out.absGX = batchMean(g.mul(x).abs());
      }
      if (second) {
        out.g2 = batchMean(g2).reshape(x.shape.slice(1));
        out.x2 = batchMean(x.square());
      }
      return out;
    }) as unknown as BatchStats;
    for (const t of Object.values(stats)) tf.keep(t as tf.Tensor);
    const old = this.#pending.get(l);
    if (old) { for (const t of Object.values(old)) (t as tf.Tensor).dispose(); }
    this.#pending.set(l, stats);
  }
}

/**
 * Mean over the first (batch) axis, as a (1, N) x (N, E) product: several
 * times faster than `mean(0)` on the cpu backend, which transposes first.
 */
function batchMean(t: tf.Tensor): tf.Tensor {
  const n = t.shape[0];
  return tf.fill([1, n], 1 / n).matMul(t.reshape([n, -1]) as tf.Tensor2D).reshape(t.shape.slice(1));
}

/** The MaskedReLU layers of `ctx.model`, with a clear error when there are none. */
export function maskLayersOf(ctx: RunContext, scorer: string): MaskedReLU[] {
  if (!ctx.model) throw new Error(`scorer ${scorer}: the run has no model loaded`);
  const layers = activationMaskLayers(ctx.model);
  if (layers.length === 0) {
    throw new Error(
      `scorer ${scorer}: the model has no MaskedReLU layers (apply the masked_relu transform first)`,
    );
  }
  return layers;
}

const SCORER_NAMES: Record<TaylorTerms, string> = {
  both: "taylor",
  first: "first_order",
  second: "second_order",
};

const DESCRIPTIONS: Record<TaylorTerms, string> = {
  both: "ReLUPruner Taylor importance: (first + second order) x layer weight, EMA 0.95",
  first: "first-order Taylor term alone: mean|g x| x P(x < 0), layer-weighted, EMA 0.95",
  second: "second-order Taylor term alone: 0.5 mean(x^2) x Fisher D, layer-weighted, EMA 0.95",
};

/** A Taylor scorer using `terms` (`taylor` = both, `first_order`, `second_order`). */
export function taylorScorer(terms: TaylorTerms): Scorer {
  const name = SCORER_NAMES[terms];
  return {
    target: "activations",
    description: DESCRIPTIONS[terms],
    options: taylorOptions,
    batches: 100,
    start: (ctx, options) =>
      new TaylorSession(maskLayersOf(ctx, name), taylorConfig(options, terms)),
  };
}
