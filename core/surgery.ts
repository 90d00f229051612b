/**
 * Structural pruning: physically remove channel-group channels from a model,
 * giving a smaller plain-tfjs LayersModel. Each removed group channel leaves
 * its producers (Conv filters / Dense units / Embedding dimensions, with
 * bias), every per-channel follower (BN, depthwise, PReLU alpha, masks),
 * every consumer's input rows (the block of rows a Flatten or Reshape folded
 * in) and ChannelPadShortcut padding; config fields that count channels
 * shrink with them (`filters`, `units`, `outputDim`, a Reshape's last
 * `targetShape` entry, `padBefore` / `padAfter`).
 *
 * Invariant: in inference mode the new model computes what the old one does
 * with those channels held at zero where their consumers read them (so an
 * activation that does not keep 0 at 0, a sigmoid, or a BN before a conv, is
 * no exception).
 *
 * @example
 * ```ts
 * const graph = buildChannelGraph(model);
 * const small = await removeChannels(model, new Map([[graph.groupOf("conv1").id, [0, 5]]]));
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import {
  buildChannelGraph,
  type ChannelGraph,
  type ChannelMap,
  paramName,
  unitsOf,
} from "./graph.ts";
import { producerLayer } from "./producers.ts";
import { type LayerSpec, rewriteLayers } from "./rewrite.ts";

/** How many channels a removal takes from one layer's output, and how that output is laid out. */
interface OutputCut {
  removed: number;
  channels: number;
  spatial: number;
}

/**
 * A new model without the given channels: `removals` maps a group id (see
 * {@link buildChannelGraph}) to the group channel indices to remove. The input
 * model stays usable. Rejects on an unknown or unprunable group, a bad index,
 * or a removal that would leave a layer with no output channels. The weights
 * to slice are read asynchronously (GPU backends cannot read synchronously).
 */
export async function removeChannels(
  model: tf.LayersModel,
  removals: Map<string, number[]>,
  graph: ChannelGraph = buildChannelGraph(model),
): Promise<tf.LayersModel> {
  // layer -> param -> axis -> units to drop
  const cuts = new Map<string, Map<string, Map<number, Set<number>>>>();
  // ChannelPadShortcut layer -> padBefore / padAfter -> decrement
  const pads = new Map<string, Map<string, number>>();
  const outputs = new Map<string, OutputCut>();
  for (const [id, channels] of removals) {
    const g = graph.group(id);
    if (channels.length === 0) continue;
    if (!g.prunable) throw new Error(`channel group '${id}' is not prunable: it ${g.reason}`);
    const bad = channels.find((j) => !Number.isInteger(j) || j < 0 || j >= g.size);
    if (bad !== undefined) {
      throw new Error(`channel ${bad} of group '${id}' is out of range; it has ${g.size}`);
    }
    if (new Set(channels).size !== channels.length) {
      throw new Error(`channels to remove from group '${id}' repeat an index: [${channels}]`);
    }
    if (channels.length >= g.size) {
      throw new Error(`cannot remove all ${g.size} channels of group '${id}'`);
    }
    for (const ref of [...g.producers, ...g.followers, ...g.consumers]) {
      const byParam = cuts.get(ref.layer) ?? cuts.set(ref.layer, new Map()).get(ref.layer)!;
      const byAxis = byParam.get(ref.weight) ?? byParam.set(ref.weight, new Map()).get(ref.weight)!;
      const units = byAxis.get(ref.axis) ?? byAxis.set(ref.axis, new Set()).get(ref.axis)!;
      for (const j of channels) for (const u of unitsOf(ref, j)) units.add(u);
    }
    for (const t of g.tensors) {
      const n = channels.filter((j) => t.index[j] >= 0).length;
      const o = outputs.get(t.layer) ?? { removed: 0, channels: t.channels, spatial: t.spatial };
      outputs.set(t.layer, { ...o, removed: o.removed + n });
    }
    for (const p of g.pads) {
      const before = padBefore(model, p);
      const m = pads.get(p.layer) ?? pads.set(p.layer, new Map()).get(p.layer)!;
      for (const j of channels) {
        if (p.index[j] < 0) continue;
        const key = p.index[j] < before ? "padBefore" : "padAfter";
        m.set(key, (m.get(key) ?? 0) + 1);
      }
    }
  }
  const sliced = new Map<string, Map<string, tf.Tensor>>(); // layer -> param -> new value
  try {
    for (const [layer, byParam] of cuts) {
      const values = new Map<string, tf.Tensor>();
      sliced.set(layer, values);
      for (const w of model.getLayer(layer).weights) {
        const drops = byParam.get(paramName(layer, w.originalName));
        if (!drops) continue;
        const v = w.read();
        const keep = v.shape.map((n, axis) =>
          Array.from({ length: n }, (_, i) => i).filter((i) => !drops.get(axis)?.has(i))
        );
        values.set(paramName(layer, w.originalName), await keepIndices(v, keep));
      }
    }
    return rewriteWithSlices(model, (spec) => resize(spec, outputs.get(spec.name), pads), sliced);
  } finally {
    for (const values of sliced.values()) tf.dispose([...values.values()]);
  }
}

/**
 * Edits a layer's config for the channels its output lost: a producer's
 * count (`filters`, `units`, ...), a Reshape's last target dimension, a
 * ChannelPadShortcut's padding.
 */
function resize(
  spec: LayerSpec,
  cut: OutputCut | undefined,
  pads: Map<string, Map<string, number>>,
): LayerSpec {
  for (const [key, n] of pads.get(spec.name) ?? []) {
    spec.config[key] = (spec.config[key] as number) - n;
  }
  if (!cut?.removed) return spec;
  const count = producerLayer(spec.className)?.count;
  if (count) {
    const left = (spec.config[count] as number) - cut.removed;
    if (left < 1) {
      throw new Error(
        `removing ${cut.removed} channels would leave layer '${spec.name}' with no ${count}`,
      );
    }
    spec.config[count] = left;
  }
  const target = spec.className === "Reshape" ? spec.config.targetShape as number[] : undefined;
  if (target && target[target.length - 1] !== -1) {
    target[target.length - 1] = (cut.channels - cut.removed) * cut.spatial;
  }
  return spec;
}

/** `model` rebuilt with `edit` applied to each layer's config and the sliced weight values copied in. */
function rewriteWithSlices(
  model: tf.LayersModel,
  edit: (spec: LayerSpec) => LayerSpec,
  sliced: Map<string, Map<string, tf.Tensor>>,
): tf.LayersModel {
  return rewriteLayers(model, edit, {
    weight: (layer, param, value) => (sliced.get(layer)?.get(param) ?? value).clone(),
    fastInit: true,
  });
}

/**
 * `value` restricted to the indices `keep[axis]` along every axis, copied in
 * JS (tfjs-cpu gather and strided slice take seconds on large kernels).
 */
async function keepIndices(value: tf.Tensor, keep: number[][]): Promise<tf.Tensor> {
  const src = await value.data();
  const strides = value.shape.map((_, i) => value.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(keep.reduce((a, k) => a * k.length, 1));
  let o = 0;
  const walk = (axis: number, base: number): void => {
    if (axis === keep.length - 1) {
      for (const i of keep[axis]) out[o++] = src[base + i];
    } else {
      for (const i of keep[axis]) walk(axis + 1, base + i * strides[axis]);
    }
  };
  walk(0, 0);
  return tf.tensor(out, keep.map((k) => k.length), value.dtype);
}

function padBefore(model: tf.LayersModel, pad: ChannelMap): number {
  return (model.getLayer(pad.layer).getConfig() as { padBefore: number }).padBefore;
}
