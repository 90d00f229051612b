/**
 * Applying a transport map to a channel group's weights, as the reference's
 * pruning functions do: for kept neuron t, out-rows and bias become
 * W'[t] = Σ_s T[t, s] W[s], and each next layer's in-column becomes
 * W'[:, t] = Σ_s T[t, s] W[:, s]. T's columns sum to 1 (every neuron's mass
 * is handed on whole), so with uniform marginals a kept neuron's out-row is
 * the SUM of the neurons merged into it (the reference's behaviour, default);
 * `merge: "average"` uses T with rows scaled to 1 for the out-rows and bias
 * (a weighted mean), keeping the summing in-columns.
 *
 * @example
 * ```ts
 * const small = await removeChannels(model, new Map([[id, dropped]]));
 * fuseInto(model, group, small, buildChannelGraph(small).group(id), map, "sum");
 * ```
 * @module
 */
import {
  type ChannelGroup,
  channelRows,
  groupKernels,
  layerWeight,
  tf,
  unitsOf,
  type WeightRef,
} from "@shears/core";
import { averagingMap, type Features, type TransportMap } from "./transport_map.ts";

/** How merged neurons combine: the reference's sum, or a weighted average of out-rows. */
export type Merge = "sum" | "average";

/**
 * Each neuron's feature: its producers' kernel rows and its consumers'
 * kernel columns (each flattened), concatenated. Biases are left out, as in
 * the reference.
 */
export async function neuronFeatures(
  model: tf.LayersModel,
  group: ChannelGroup,
): Promise<Features> {
  const all = tf.tidy(() => tf.concat(groupKernels(group).map((r) => channelRows(model, r)), 1));
  const [n, d] = all.shape;
  try {
    return { data: await all.data() as Float32Array, n, d };
  } finally {
    all.dispose();
  }
}

/**
 * Writes `rows` ([group size, m], laid out as {@link channelRows} gives them)
 * into the weight `ref` points at, channel by channel; other entries keep
 * their values.
 */
export function setChannelRows(model: tf.LayersModel, ref: WeightRef, rows: tf.Tensor2D): void {
  const w = layerWeight(model.getLayer(ref.layer), ref.weight);
  if (!w) throw new Error(`layer '${ref.layer}' has no weight '${ref.weight}'`);
  tf.tidy(() => {
    const v = w.read();
    const perm = [ref.axis, ...v.shape.map((_, i) => i).filter((i) => i !== ref.axis)];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    const vt = v.transpose(perm);
    const units = v.shape[ref.axis];
    const flat = vt.reshape([units, -1]);
    const fresh = rows.reshape([ref.index.length * ref.spatial, -1]);
    const idx = Array.from({ length: units }, (_, u) => u);
    ref.index.forEach((_, j) => {
      unitsOf(ref, j).forEach((u, p) => idx[u] = units + j * ref.spatial + p);
    });
    const out = flat.concat(fresh).gather(idx).reshape(vt.shape).transpose(inverse);
    w.write(out);
  });
}

function matching(refs: WeightRef[], ref: WeightRef): WeightRef {
  const m = refs.find((r) =>
    r.layer === ref.layer && r.weight === ref.weight && r.axis === ref.axis
  );
  if (!m) throw new Error(`the pruned model has no weight ${ref.layer}/${ref.weight} in the group`);
  return m;
}

/**
 * Fuses `group` of `source` into the same group of `target`, a copy of
 * `source` from which every channel not kept has been removed (so target
 * channel t is the t-th kept one): producers' kernels and biases get T's
 * (or the averaging map's) combinations of out-rows, consumers' kernels T's
 * combinations of in-columns. Per-channel follower weights (BN, masks) stay
 * as the removal left them; fold BN into its producer first.
 */
export function fuseInto(
  source: tf.LayersModel,
  group: ChannelGroup,
  target: tf.LayersModel,
  targetGroup: ChannelGroup,
  map: TransportMap,
  merge: Merge = "sum",
): void {
  if (targetGroup.size !== map.k || group.size !== map.n) {
    throw new Error(
      `transport map is ${map.k} × ${map.n}; groups have ${targetGroup.size} and ${group.size}`,
    );
  }
  if (merge !== "sum" && merge !== "average") {
    throw new Error(`merge must be "sum" or "average", got "${merge}"`);
  }
  const t = tf.tensor2d(Float32Array.from(map.map), [map.k, map.n]);
  const tOut = merge === "sum"
    ? t
    : tf.tensor2d(Float32Array.from(averagingMap(map)), [map.k, map.n]);
  try {
    const apply = (ref: WeightRef, m: tf.Tensor2D) => {
      const fused = tf.tidy(() => tf.matMul(m, channelRows(source, ref)) as tf.Tensor2D);
      setChannelRows(
        target,
        matching([...targetGroup.producers, ...targetGroup.consumers], ref),
        fused,
      );
      fused.dispose();
    };
    for (const ref of group.producers) apply(ref, tOut);
    for (const ref of group.consumers) apply(ref, t);
  } finally {
    t.dispose();
    if (tOut !== t) tOut.dispose();
  }
}
