/**
 * Baseline ReLU scorers to compare the Taylor importance against:
 * `activation` (mean |x| over the batch, EMA-smoothed like the Taylor
 * importance: I <- m I + (1 - m) v, I0 = 0, no layer weights) and `random`
 * (uniform scores drawn once from the run's seeded rng, so every mask update
 * of a run keeps the same random ranking).
 *
 * @example
 * ```ts
 * const session = activationScorer.start(ctx, {});
 * ```
 * @module
 */
import type { MaskedReLU, Options, Scorer, Scores, ScoreSession, TapSpec } from "@shears/core";
import { readOptions, tf } from "@shears/core";
import { LayerTaps } from "./layer_taps.ts";
import { LayerEma } from "./ema.ts";
import { maskLayersOf, momentumOption } from "./taylor.ts";

const activationOptions = { momentum: momentumOption };

/** Running mean |x| per ReLU element, EMA-smoothed. */
export class ActivationSession implements ScoreSession {
  readonly taps: TapSpec[];
  #layerTaps: LayerTaps;
  #importance: LayerEma;

  /** @param momentum EMA momentum [0.95] */
  constructor(readonly layers: MaskedReLU[], momentum = 0.95) {
    this.#importance = new LayerEma(momentum);
    this.#layerTaps = new LayerTaps(layers.map((l) => l.name), "input", (l, x) => {
      const v = tf.tidy(() => x.abs().mean(0));
      this.#importance.update(l, v);
      v.dispose();
    });
    this.taps = this.#layerTaps.taps;
  }

  /** Takes one tap callback from the backward pass. */
  onTap(key: string, x: tf.Tensor, dy: tf.Tensor): void {
    this.#layerTaps.onTap(key, x, dy);
  }

  /** Mean |x| averages by MaskedReLU name; the caller owns them. */
  scores(): Scores {
    return this.#importance.scores(this.layers);
  }

  /** Releases every tensor the session holds. */
  dispose(): void {
    this.#layerTaps.clear();
    this.#importance.dispose();
  }
}

/** Fixed random scores, one uniform draw per ReLU element. */
export class RandomSession implements ScoreSession {
  readonly taps: TapSpec[] = [];
  #values: Map<string, tf.Tensor>;

  /** @param next a seeded uniform source in [0, 1) (e.g. `() => ctx.rng.next()`) */
  constructor(layers: MaskedReLU[], next: () => number) {
    this.#values = new Map(layers.map((l) => {
      const shape = l.mask.shape as number[];
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next);
      return [l.name, tf.keep(tf.tensor(data, shape))];
    }));
  }

  /** The random scores by MaskedReLU name; the caller owns the copies. */
  scores(): Scores {
    const values = new Map<string, tf.Tensor>();
    for (const [k, v] of this.#values) values.set(k, v.clone());
    return { target: "activations", values };
  }

  /** Releases the scores. */
  dispose(): void {
    for (const t of this.#values.values()) t.dispose();
    this.#values.clear();
  }
}

/** The `activation` baseline scorer (option `momentum` [0.95]). */
export const activationScorer: Scorer = {
  target: "activations",
  description: "baseline: mean |pre-activation| per ReLU element, EMA 0.95",
  options: activationOptions,
  batches: 100,
  start: (ctx, options: Options) =>
    new ActivationSession(
      maskLayersOf(ctx, "activation"),
      readOptions(activationOptions, options, "relu_taylor/activation").momentum,
    ),
};

/** The `random` baseline scorer: seeded uniform scores, fixed for the run. */
export const randomScorer: Scorer = {
  target: "activations",
  description: "baseline: uniform random score per ReLU element (seeded, fixed for the run)",
  batches: 0,
  start: (ctx) => {
    const rng = ctx.rng.fork();
    return new RandomSession(maskLayersOf(ctx, "random"), () => rng.next());
  },
};
