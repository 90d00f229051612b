/**
 * The Taylor filter rank of Molchanov et al. 2016 as the pytorch-pruning seed
 * computes it (`FilterPrunner.compute_rank`): for filter c,
 *
 *     r_c = Σ_batches mean over (batch, H, W) of a · g
 *
 * with a the conv's activation after its ReLU and g the loss gradient there
 * (a · g is the same whether g is taken before or after the ReLU, since a = 0
 * wherever the ReLU cuts the gradient). One full pass over the training data
 * in train mode, no optimizer step (`batches: "epoch"`). Then, per layer,
 * r <- |r| and r <- r / ||r||_2 (`normalize_ranks_per_layer`).
 *
 * Options:
 * - `per_example_abs` (default false): the paper's criterion, |mean over
 *   (H, W) of a · g| per example, averaged over the batch (the seed averages
 *   the signed product and takes |·| only at the end).
 * - `normalize` (default true): false returns the raw signed sums r.
 *
 * Scores are target "channels", keyed by the core graph's group ids; a group
 * coupling several convs through residual Adds sums the ranks of all its
 * ReLU points (see {@link reluPoints}).
 *
 * @example
 * ```ts
 * const session = taylorScorer.start(ctx, { per_example_abs: false });
 * // the score stage runs one epoch of batches through the tapped model, then:
 * const { values } = await session.scores(); // group id -> [group size]
 * ```
 * @module
 */
import {
  type ChannelMap,
  type FlagDefs,
  type Options,
  readOptions,
  type RunContext,
  type Scorer,
  type ScoreRequest,
  type Scores,
  type ScoreSession,
  type TapSpec,
  tf,
} from "@shears/core";
import { groupsToScore, reluPoints } from "./groups.ts";
import { normalizeOption, normalizeRanks } from "./normalize.ts";

/** Per-channel a·g of one batch at one tap: [C] (mean over batch, H, W, or the paper's per-example |·|). */
export function batchTaylor(x: tf.Tensor, dy: tf.Tensor, perExampleAbs: boolean): tf.Tensor1D {
  return tf.tidy(() => {
    const prod = tf.mul(x, dy);
    const spatial = Array.from({ length: prod.rank - 2 }, (_, i) => i + 1);
    if (!perExampleAbs) return tf.mean(prod, [0, ...spatial]) as tf.Tensor1D;
    const perExample = spatial.length ? tf.mean(prod, spatial) : prod;
    return tf.mean(tf.abs(perExample), 0) as tf.Tensor1D;
  });
}

/** Group channels' values from a per-tensor-channel vector (a channel not there gives 0). */
function toGroup(v: tf.Tensor1D, map: ChannelMap): tf.Tensor1D {
  return tf.tidy(() => {
    const padded = tf.concat([v, tf.zeros([1])]);
    const idx = map.index.map((c) => (c < 0 ? map.channels : c));
    return tf.gather(padded, idx) as tf.Tensor1D;
  });
}

/** A running Taylor rank over the batches a loop feeds it. */
export class TaylorSession implements ScoreSession {
  readonly taps: TapSpec[];
  #sums = new Map<string, tf.Tensor1D>();
  #points: { id: string; size: number; maps: ChannelMap[] }[];

  /** @param groups the group ids to rank (default: the filter groups) */
  constructor(
    model: tf.LayersModel,
    readonly perExampleAbs = false,
    readonly normalize = true,
    groups?: string[],
  ) {
    this.#points = groupsToScore(model, groups).map((g) => ({
      id: g.id,
      size: g.size,
      maps: reluPoints(model, g),
    }));
    const layers = new Set(this.#points.flatMap((p) => p.maps.map((m) => m.layer)));
    this.taps = [...layers].map((layer) => ({ layer, at: "output" }));
  }

  onTap(key: string, x: tf.Tensor, dy: tf.Tensor): void {
    const v = batchTaylor(x, dy, this.perExampleAbs);
    const old = this.#sums.get(key);
    if (old) {
      this.#sums.set(key, tf.keep(tf.add(old, v)) as tf.Tensor1D);
      old.dispose();
      v.dispose();
    } else {
      this.#sums.set(key, tf.keep(v));
    }
  }

  scores(): Scores {
    const values = new Map<string, tf.Tensor>();
    for (const p of this.#points) {
      const r = tf.tidy(() => {
        let sum: tf.Tensor1D = tf.zeros([p.size]);
        for (const m of p.maps) {
          const s = this.#sums.get(`${m.layer}:output`);
          if (s) sum = tf.add(sum, toGroup(s, m));
        }
        return this.normalize ? normalizeRanks(sum) : sum;
      });
      values.set(p.id, r);
    }
    return { target: "channels", values };
  }

  dispose(): void {
    for (const t of this.#sums.values()) t.dispose();
    this.#sums.clear();
  }
}

const taylorOptions = {
  per_example_abs: {
    type: "boolean",
    default: false,
    help: "|·| per example before averaging (the paper) instead of at the end (the seed)",
  },
  normalize: normalizeOption,
} satisfies FlagDefs;

/** The Taylor filter scorer (`filter_taylor/taylor`). */
export const taylorScorer: Scorer = {
  target: "channels",
  description:
    "Taylor filter rank: Σ_batches mean(a·g) at each conv's ReLU, |r|/||r||_2 per layer " +
    "(Molchanov et al. 2016, pytorch-pruning)",
  options: taylorOptions,
  batches: "epoch",
  trainMode: true,
  start(ctx: RunContext, options: Options, request: ScoreRequest = {}): TaylorSession {
    if (!ctx.model) throw new Error("taylor scorer: the run has no model loaded");
    const o = readOptions(taylorOptions, options, "filter_taylor/taylor");
    return new TaylorSession(ctx.model, o.per_example_abs, o.normalize, request.groups);
  },
};
