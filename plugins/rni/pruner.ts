/**
 * The quantile pruners of the RNI reference, over `channels` scores keyed by
 * channel-group id: `global_quantile` (RNI, L1) takes one threshold, the
 * p-quantile of all scores together; `local_quantile` (UCS) one per group.
 * p = 1 − keepRatio is the fraction of channels to prune; quantiles
 * interpolate linearly (numpy's default). A channel is kept when its score is
 * strictly above the threshold, and every group keeps at least `min_channels`
 * (default 3) of its best channels. The channels are then removed for real
 * (core `removeChannels`): the smaller model replaces `ctx.model`, the old
 * one is left usable.
 *
 * @example
 * ```ts
 * const keep = keepMasks(scores, 0.9, "global"); // Map<groupId, boolean[]>
 * ```
 * @module
 */
import {
  type Budget,
  type FlagDefs,
  keepFraction,
  type LayerPruneRow,
  type Options,
  type Pruner,
  readOptions,
  removeChannels,
  type RunContext,
  type Scores,
} from "@shears/core";

/** Where thresholds come from: all groups together, or each group alone. */
export type Scope = "global" | "local";

/** The q-quantile of `values` with linear interpolation (numpy.quantile's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new Error("quantile of no values");
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile must be in [0, 1], got ${q}`);
  const a = Float64Array.from(values).sort();
  const pos = q * (a.length - 1), lo = Math.floor(pos), hi = Math.ceil(pos);
  return a[lo] + (a[hi] - a[lo]) * (pos - lo);
}

/**
 * Which channels to keep per group: score > threshold (global or local
 * p-quantile, p = `prune` fraction), then at least `minChannels` kept per
 * group (its highest scores; all of them if it has no more).
 */
export function keepMasks(
  scores: Map<string, Float32Array | number[]>,
  prune: number,
  scope: Scope,
  minChannels = 3,
): Map<string, boolean[]> {
  if (!(prune >= 0 && prune < 1)) {
    throw new Error(`fraction to prune must be in [0, 1), got ${prune}`);
  }
  if (!Number.isInteger(minChannels) || minChannels < 1) {
    throw new Error(`minChannels must be a positive integer, got ${minChannels}`);
  }
  const global = scope === "global"
    ? quantile([...scores.values()].flatMap((s) => Array.from(s)), prune)
    : undefined;
  const out = new Map<string, boolean[]>();
  for (const [id, s] of scores) {
    const th = global ?? quantile(s, prune);
    const keep = Array.from(s, (v) => v > th);
    if (keep.filter(Boolean).length < minChannels) {
      const order = Array.from(s, (_, i) => i).sort((a, b) => s[b] - s[a] || a - b);
      for (const i of order.slice(0, minChannels)) keep[i] = true;
    }
    out.set(id, keep);
  }
  return out;
}

const quantileOptions = {
  min_channels: { type: "int", default: 3, min: 1, help: "fewest channels kept per group" },
} satisfies FlagDefs;

/** Prunes `ctx.model` by `scores` (see the module doc); resolves to what it removed. */
export async function quantilePrune(
  ctx: RunContext,
  scores: Scores,
  budget: Budget,
  scope: Scope,
  options: Options = {},
): Promise<{ kept: number; total: number; perLayer: LayerPruneRow[] }> {
  if (!ctx.model) throw new Error("the quantile pruners need ctx.model");
  if (scores.target !== "channels") {
    throw new Error(`expected channel scores, got ${scores.target}`);
  }
  const values = new Map<string, Float32Array>();
  for (const [id, t] of scores.values) values.set(id, await t.data() as Float32Array);
  const { min_channels } = readOptions(quantileOptions, options, `rni/${scope}_quantile`);
  const units = [...values.values()].reduce((n, v) => n + v.length, 0);
  const keep = keepMasks(values, 1 - keepFraction(budget, units), scope, min_channels);
  const removals = new Map<string, number[]>();
  const perLayer: LayerPruneRow[] = [];
  let kept = 0, total = 0;
  for (const [id, k] of keep) {
    const drop = k.flatMap((on, j) => (on ? [] : [j]));
    if (drop.length) removals.set(id, drop);
    perLayer.push({ name: id, before: k.length, after: k.length - drop.length });
    kept += k.length - drop.length;
    total += k.length;
  }
  ctx.model = await removeChannels(ctx.model, removals);
  return { kept, total, perLayer };
}

/** One threshold over all groups (RNI, L1). */
export const globalQuantilePruner: Pruner = {
  target: "channels",
  description:
    "one quantile threshold over all groups' scores; keep > threshold, >= 3 per group; remove",
  options: quantileOptions,
  prune: (ctx, scores, budget, options) => quantilePrune(ctx, scores, budget, "global", options),
};

/** One threshold per group (UCS). */
export const localQuantilePruner: Pruner = {
  target: "channels",
  description: "one quantile threshold per group; keep > threshold, >= 3 per group; remove",
  options: quantileOptions,
  prune: (ctx, scores, budget, options) => quantilePrune(ctx, scores, budget, "local", options),
};
