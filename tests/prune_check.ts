/**
 * The structural-pruning check the graph, surgery and zoo tests share: remove
 * channels, and compare the smaller model with the original in which those
 * channels are held at zero (producers' slices and follower offsets zeroed,
 * consumers' rows zeroed), which must compute the same logits; the check
 * also asserts the removal changed the output, so it can fail.
 * @module
 */
import {
  buildChannelGraph,
  type ChannelGraph,
  type GraphOptions,
  layerWeight,
  removeChannels,
  rewriteLayers,
  Rng,
  tf,
  unitsOf,
  type WeightRef,
} from "@shears/core";
import { ok } from "./assert.ts";

/** Every prunable group's odd channels (half of them), never all of a producer's. */
export function halfRemovals(graph: ChannelGraph): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const g of graph.groups.filter((g) => g.prunable)) {
    const drop = new Set(Array.from({ length: g.size }, (_, j) => j).filter((j) => j % 2 === 1));
    for (const p of g.producers) {
      const mine = p.index.flatMap((c, j) => (c >= 0 ? [j] : []));
      if (mine.every((j) => drop.has(j))) drop.delete(mine[0]);
    }
    if (drop.size) out.set(g.id, [...drop]);
  }
  return out;
}

/**
 * Random removals for every prunable group: up to half its channels, never all
 * of a producer's (so no layer is emptied).
 */
export function randomRemovals(graph: ChannelGraph, rng: Rng): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const g of graph.groups.filter((g) => g.prunable)) {
    for (;;) {
      const k = 1 + rng.int(Math.max(1, Math.floor(g.size / 2)));
      const all = Array.from({ length: g.size }, (_, j) => j);
      const pick = all.map((j) => [rng.next(), j]).sort((a, b) => a[0] - b[0]).slice(0, k)
        .map(([, j]) => j);
      const empties = g.producers.some((p) => p.index.every((c, j) => c < 0 || pick.includes(j)));
      if (!empties) {
        out.set(g.id, pick);
        break;
      }
    }
  }
  return out;
}

/** Multiplies the units of `refs` that carry the removed channels by 0, in `model`. */
function zeroUnits(model: tf.LayersModel, refs: WeightRef[], channels: number[]): void {
  for (const ref of refs) {
    const w = layerWeight(model.getLayer(ref.layer), ref.weight)!;
    const shape = w.shape as number[];
    const keep = new Float32Array(shape[ref.axis]).fill(1);
    for (const j of channels) for (const u of unitsOf(ref, j)) keep[u] = 0;
    const bshape = shape.map((d, i) => (i === ref.axis ? d : 1));
    const zeroed = tf.tidy(() => w.read().mul(tf.tensor(keep, bshape)));
    w.write(zeroed);
    zeroed.dispose();
  }
}

/**
 * A copy of `model` whose removed channels are held at zero: their producer
 * slices and biases, the offsets of the channel-wise layers on the way (BN
 * beta and moving mean, depthwise bias), and the consumers' rows reading
 * them, all zeroed.
 */
export function zeroedCopy(
  model: tf.LayersModel,
  graph: ChannelGraph,
  removals: Map<string, number[]>,
): tf.LayersModel {
  const copy = rewriteLayers(model, (s) => s);
  for (const [id, channels] of removals) {
    const g = graph.group(id);
    const offsets = g.followers.filter((f) => ["beta", "moving_mean", "bias"].includes(f.weight));
    zeroUnits(copy, [...g.producers, ...offsets, ...g.consumers], channels);
  }
  return copy;
}

/** The model's outputs on x, flattened and concatenated (read asynchronously). */
export async function outputsOf(
  model: tf.LayersModel,
  x: tf.Tensor | tf.Tensor[],
): Promise<Float32Array> {
  const y = tf.tidy(() => {
    const out = model.predict(x);
    const ys = Array.isArray(out) ? out : [out];
    return tf.concat(ys.map((t) => t.reshape([-1])));
  });
  try {
    return await y.data() as Float32Array;
  } finally {
    y.dispose();
  }
}

/** Largest |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * An initializer (glorotUniform unless `init` says) seeded by the layer's
 * name, so that a test model draws the same weights on every run: with an
 * unseeded draw the removed channels can be dead under ReLU on every input,
 * and {@link checkRemoval}'s "the removal changed the output" then fails now
 * and then.
 * @example
 * ```ts
 * tf.layers.conv2d({ name: "c1", filters: 4, kernelSize: 3, kernelInitializer: seeded("c1") });
 * tf.layers.lstm({ units: 2, recurrentInitializer: seeded("l/rec", tf.initializers.orthogonal) });
 * ```
 */
export function seeded(
  name: string,
  init: (args: { seed: number }) => ReturnType<typeof tf.initializers.zeros> =
    tf.initializers.glorotUniform,
): ReturnType<typeof tf.initializers.zeros> {
  return init({ seed: [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 2147483647, 7) });
}

/**
 * Gives the weights that initialise to constants seeded random values, so
 * no BN, bias or mask is an identity: BN gamma in [0.5, 1.5], beta and moving
 * mean N(0, 0.1^2), moving variance in [0.5, 1.5], biases N(0, 0.1^2), PReLU
 * alphas in [0, 0.5], masks 0 / 1. Kernels keep their initialisers' values
 * (so deep models keep O(1) activations).
 */
export function perturbStatistics(model: tf.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  for (const w of model.weights) {
    const name = w.originalName.slice(w.originalName.lastIndexOf("/") + 1);
    const draw: Record<string, () => number> = {
      gamma: () => 0.5 + rng.next(),
      beta: () => 0.1 * rng.normal(),
      moving_mean: () => 0.1 * rng.normal(),
      moving_variance: () => 0.5 + rng.next(),
      bias: () => 0.1 * rng.normal(),
      alpha: () => 0.5 * rng.next(),
      mask: () => (rng.next() < 0.5 ? 0 : 1),
    };
    const f = draw[name];
    if (!f) continue;
    const shape = w.shape as number[];
    const t = tf.tensor(Float32Array.from({ length: tf.util.sizeFromShape(shape) }, f), shape);
    w.write(t);
    t.dispose();
  }
}

/** What {@link checkRemoval} measured. */
export interface RemovalCheck {
  /** The smaller model (the caller disposes it). */
  pruned: tf.LayersModel;
  /** max |pruned - zeroed original| over the outputs. */
  diff: number;
  /** max |pruned - original|: what the removal changed. */
  change: number;
  /** Largest |output| of the zeroed original. */
  scale: number;
  /** Channels removed, over all groups. */
  removed: number;
}

/**
 * Removes `removals` (default: half of every prunable group) from `model`
 * and checks that the result computes what the original does with those
 * channels held at zero: max abs difference <= `atol`, and that the
 * outputs moved by more than `minChange` (so the check can fail).
 */
export async function checkRemoval(
  model: tf.LayersModel,
  x: tf.Tensor | tf.Tensor[],
  o: {
    removals?: Map<string, number[]>;
    graph?: ChannelGraph;
    graphOptions?: GraphOptions;
    atol?: number;
    minChange?: number;
  } = {},
): Promise<RemovalCheck> {
  const graph = o.graph ?? buildChannelGraph(model, o.graphOptions);
  const removals = o.removals ?? halfRemovals(graph);
  const removed = [...removals.values()].reduce((s, r) => s + r.length, 0);
  ok(removed > 0, `${model.name}: nothing to remove`);
  const original = await outputsOf(model, x);
  const pruned = await removeChannels(model, removals, graph);
  const zeroed = zeroedCopy(model, graph, removals);
  try {
    const [want, got] = [await outputsOf(zeroed, x), await outputsOf(pruned, x)];
    const diff = maxAbsDiff(got, want), change = maxAbsDiff(got, original);
    const scale = maxAbsDiff(want, new Float32Array(want.length));
    ok(want.every(Number.isFinite), `${model.name}: non-finite outputs`);
    ok(diff <= (o.atol ?? 1e-5), `${model.name}: pruned differs from zeroed by ${diff}`);
    ok(
      change > (o.minChange ?? 1e-4),
      `${model.name}: removing ${removed} channels changed nothing`,
    );
    return { pruned, diff, change, scale, removed };
  } catch (e) {
    pruned.dispose();
    throw e;
  } finally {
    zeroed.dispose();
  }
}
