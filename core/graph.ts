/**
 * The channel dependency graph of a functional LayersModel: which output
 * channels must be removed together, and every weight to slice with them.
 *
 * Every channel of every tensor is traced back to the channels that make it:
 * a producer's (Conv2D filters, Dense units), the model input's, or a
 * ChannelPadShortcut's zero padding. Channel-wise layers (BN, activations,
 * pooling, depthwise convs, MaskedReLU, ... see {@link registerChannelwiseLayer})
 * pass channels through; Concatenate shifts their indices; Flatten folds H*W
 * positions in (unit `(h*W + w)*C + c`, NHWC); an elementwise merge (Add, ...)
 * makes the channels it adds one channel. A {@link ChannelGroup} is a set of
 * such channels that share a producer or an Add: group channel j is removed
 * from every weight that sees it, or from none.
 *
 * A group is not prunable when it touches the model input, a model output or
 * a softmax over channels, or has no producer (only zero padding); `reason`
 * says which.
 *
 * @example
 * ```ts
 * const graph = buildChannelGraph(model);
 * for (const g of graph.groups.filter((g) => g.prunable)) {
 *   console.log(g.id, g.size, g.producers.map((p) => p.layer));
 * }
 * const [kernel] = producerKernels(model, graph.groupOf("conv1")); // [size, kh*kw*cin]
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import { channelwiseLayer, channelwiseLayerNames } from "./channelwise.ts";

/** Where a group's channels sit in one layer's output tensor (or one of its weights). */
export interface ChannelMap {
  /** Layer name. */
  layer: string;
  /** The layer's serialized class name. */
  className: string;
  /** For each group channel j, the tensor channel carrying it here, or -1 if it does not. */
  index: number[];
  /** Channels of the tensor here: the stride between a channel's flattened units. */
  channels: number;
  /** Spatial positions a Flatten folded in upstream (1 if none): channel c is units p*channels + c. */
  spatial: number;
}

/** A weight to slice with a group: `index` maps group channels to positions along `axis`. */
export interface WeightRef extends ChannelMap {
  /** Param name of the weight within its layer (`kernel`, `bias`, `gamma`, `mask`, ...). */
  weight: string;
  /** Axis of the weight that runs over channels (units, for a flattened input). */
  axis: number;
}

/** Channels pruned as one unit, with everything that must be sliced alongside. */
export interface ChannelGroup {
  /** Stable id: the name of its first producer layer in model order (else its first source). */
  id: string;
  /** Number of channels. */
  size: number;
  /** Whether its channels may be removed. */
  prunable: boolean;
  /** Why not, when not prunable. */
  reason?: string;
  /** Output weights of the Conv2D / Dense layers that make the channels (kernel, bias). */
  producers: WeightRef[];
  /** Per-channel weights of channel-wise layers on the way (BN, depthwise, masks, ...). */
  followers: WeightRef[];
  /** Input-side kernels of the Conv2D / Dense layers that read the channels. */
  consumers: WeightRef[];
  /** ChannelPadShortcut outputs whose zero padding channels belong to the group. */
  pads: ChannelMap[];
  /** Every layer output that carries some of the group's channels, in model order. */
  tensors: ChannelMap[];
}

/** The channel groups of a model; see the module doc. */
export interface ChannelGraph {
  /** All groups, in model order of their first source. */
  groups: ChannelGroup[];
  /** The group with this id. */
  group(id: string): ChannelGroup;
  /** The groups the output channels of a layer belong to (one, unless it concatenates). */
  groupsOf(layer: string): ChannelGroup[];
  /** The one group the output channels of a layer belong to. */
  groupOf(layer: string): ChannelGroup;
}

/** A layer the channel graph cannot see through, named with what is supported. */
export class UnsupportedLayerError extends Error {
  constructor(layer: string, className: string, why: string) {
    super(`layer '${layer}' (${className}) ${why}`);
    this.name = "UnsupportedLayerError";
  }
}

/** The flattened units of group channel j in a map (empty if the channel is not there). */
export function unitsOf(map: ChannelMap, j: number): number[] {
  const c = map.index[j];
  if (c < 0) return [];
  return Array.from({ length: map.spatial }, (_, p) => p * map.channels + c);
}

/** A layer's weight by param name (`kernel`), or undefined. */
export function layerWeight(
  layer: tf.layers.Layer,
  param: string,
): tf.LayerVariable | undefined {
  return layer.weights.find((w) => paramName(layer.name, w.originalName) === param);
}

/** The param part of a weight's original name (`conv1/kernel` -> `kernel`). */
export function paramName(layer: string, originalName: string): string {
  return originalName.startsWith(`${layer}/`)
    ? originalName.slice(layer.length + 1)
    : originalName.slice(originalName.lastIndexOf("/") + 1);
}

/**
 * The values of a weight that belong to each group channel, one row per group
 * channel: shape [group size, (weight size / units along axis) * spatial].
 * A channel the weight does not see gets a zero row. The caller disposes it.
 */
export function channelRows(model: tf.LayersModel, ref: WeightRef): tf.Tensor2D {
  const w = layerWeight(model.getLayer(ref.layer), ref.weight);
  if (!w) throw new Error(`layer '${ref.layer}' has no weight '${ref.weight}'`);
  return tf.tidy(() => {
    const v = w.read();
    const perm = [ref.axis, ...v.shape.map((_, i) => i).filter((i) => i !== ref.axis)];
    const rows = v.transpose(perm).reshape([v.shape[ref.axis], -1]);
    const padded = rows.concat(tf.zerosLike(rows.slice([0, 0], [1, -1])));
    const zero = v.shape[ref.axis];
    const idx = ref.index.flatMap((c, j) =>
      c < 0 ? new Array(ref.spatial).fill(zero) : unitsOf(ref, j)
    );
    return padded.gather(idx).reshape([ref.index.length, -1]) as tf.Tensor2D;
  });
}

/** The kernel rows of each producer of a group ({@link channelRows}); the caller disposes them. */
export function producerKernels(model: tf.LayersModel, group: ChannelGroup): tf.Tensor2D[] {
  return group.producers.filter((p) => p.weight === "kernel").map((p) => channelRows(model, p));
}

type Role = "producers" | "followers" | "consumers" | "pads" | "tensors";
type Sym = { elems: number[]; spatial: number };
type Pending = {
  role: Role;
  layer: string;
  className: string;
  elems: number[];
  spatial: number;
  weight?: string;
  axis?: number;
};
type LayerSpec = {
  name: string;
  className: string;
  config: Record<string, unknown>;
  inboundNodes: [string, number, number, unknown][][];
};

const MERGES = new Set(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]);
const PRODUCERS: Record<string, { out: number; in: number }> = {
  Conv2D: { out: 3, in: 2 },
  Dense: { out: 1, in: 0 },
};

/** Traces channels through a model; see the module doc. */
class Tracer {
  sources: { layer: string; producer: boolean }[] = [];
  elemSource: number[] = [];
  parent: number[] = [];
  pins = new Map<number, string>();
  pending: Pending[] = [];
  outputs = new Map<string, Sym>();

  fresh(layer: string, n: number, producer: boolean): number[] {
    const s = this.sources.push({ layer, producer }) - 1;
    return Array.from({ length: n }, () => {
      const e = this.parent.length;
      this.parent.push(e);
      this.elemSource.push(s);
      return e;
    });
  }

  find(e: number): number {
    while (this.parent[e] !== e) e = this.parent[e] = this.parent[this.parent[e]];
    return e;
  }

  union(a: number, b: number): void {
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }

  pin(elems: number[], reason: string): void {
    for (const e of elems) if (e >= 0 && !this.pins.has(e)) this.pins.set(e, reason);
  }

  ref(role: Role, layer: tf.layers.Layer, x: Sym, weight?: string, axis?: number): void {
    const className = layer.getClassName();
    this.pending.push({ role, layer: layer.name, className, ...x, weight, axis });
  }

  /** Refs for the weights of `layer` named in `axes` (param -> axis), seeing tensor x. */
  weights(
    role: Role,
    layer: tf.layers.Layer,
    x: Sym,
    axes: (param: string, rank: number) => number,
  ) {
    for (const w of layer.weights) {
      const param = paramName(layer.name, w.originalName);
      this.ref(role, layer, x, param, axes(param, w.shape.length));
    }
  }

  /** Traces one layer; `inputs` are the tensors it reads in this model (see {@link modelInputs}). */
  visit(spec: LayerSpec, layer: tf.layers.Layer, inputs: tf.SymbolicTensor[]): Sym {
    const { className, config, name } = spec;
    const bad = (why: string) => new UnsupportedLayerError(name, className, why);
    if (spec.inboundNodes.length > 1) {
      throw bad(`is called ${spec.inboundNodes.length} times; shared layers are not supported`);
    }
    const xs = (spec.inboundNodes[0] ?? []).map(([from, , tensorIndex]) => {
      const x = this.outputs.get(from);
      if (!x || tensorIndex !== 0) throw bad(`reads output ${tensorIndex} of '${from}'`);
      return x;
    });
    const x = xs[0];
    if (className === "InputLayer") {
      const shape = config.batchInputShape as number[];
      const elems = this.fresh(name, shape[shape.length - 1], false);
      this.pin(elems, `is coupled to the model input '${name}'`);
      return { elems, spatial: 1 };
    }
    if (xs.length !== 1 && !MERGES.has(className) && className !== "Concatenate") {
      throw bad(`has ${xs.length} inputs; expected 1`);
    }
    const producer = PRODUCERS[className];
    if (producer) {
      if (config.dataFormat === "channelsFirst") throw bad("is channelsFirst; only channelsLast");
      this.ref("consumers", layer, x, "kernel", producer.in);
      const n = (config.filters ?? config.units) as number;
      const y = { elems: this.fresh(name, n, true), spatial: 1 };
      this.weights("producers", layer, y, (p) => p === "kernel" ? producer.out : 0);
      return y;
    }
    const cw = channelwiseLayer(className);
    if (cw) {
      const why = cw.check?.(config);
      if (why) throw bad(why);
      this.weights("followers", layer, x, (p, rank) => cw.axes?.[p] ?? rank - 1);
      return x;
    }
    if (className === "Flatten") {
      const shape = inputs[0].shape as number[];
      const positions = shape.slice(1, -1).reduce((a, b) => a * b, 1);
      return { elems: x.elems, spatial: x.spatial * positions };
    }
    if (className === "Concatenate") {
      const rank = inputs[0].shape.length;
      if (config.axis !== -1 && config.axis !== rank - 1) {
        throw bad(`concatenates along axis ${config.axis}; only the channel axis is supported`);
      }
      if (xs.some((t) => t.spatial !== 1)) throw bad("concatenates flattened tensors");
      return { elems: xs.flatMap((t) => t.elems), spatial: 1 };
    }
    if (MERGES.has(className)) {
      for (const t of xs.slice(1)) {
        if (t.elems.length !== x.elems.length || t.spatial !== x.spatial) {
          throw bad("merges tensors of different channel counts (broadcasting is not supported)");
        }
        t.elems.forEach((e, c) => this.union(x.elems[c], e));
      }
      return x;
    }
    if (className === "ChannelPadShortcut") {
      const [before, after] = [config.padBefore as number, config.padAfter as number];
      const pad = this.fresh(name, before + after, false);
      const elems = [...pad.slice(0, before), ...x.elems, ...pad.slice(before)];
      const padOnly = elems.map((e, c) => c < before || c >= before + x.elems.length ? e : -1);
      this.ref("pads", layer, { elems: padOnly, spatial: 1 });
      return { elems, spatial: 1 };
    }
    throw bad(
      `is not supported by the channel graph; supported: InputLayer, Conv2D, Dense, Flatten, ` +
        `Concatenate, ${[...MERGES].join(", ")}, ChannelPadShortcut, ${
          channelwiseLayerNames().join(", ")
        } (register others with registerChannelwiseLayer)`,
    );
  }
}

/**
 * Builds the channel graph of a functional LayersModel (channels-last).
 * Throws {@link UnsupportedLayerError} naming the first layer it cannot trace.
 */
export function buildChannelGraph(model: tf.LayersModel): ChannelGraph {
  if (model instanceof tf.Sequential) {
    throw new Error(
      `model '${model.name}' is a Sequential model; build it with the functional API (tf.model)`,
    );
  }
  const config = model.getConfig() as unknown as {
    layers: LayerSpec[];
    outputLayers: [string, number, number][];
  };
  const t = new Tracer();
  const inputs = modelInputs(model);
  for (const spec of config.layers) {
    const layer = model.getLayer(spec.name);
    const y = t.visit(spec, layer, inputs.get(spec.name) ?? []);
    if (spec.config.activation === "softmax") {
      t.pin(y.elems, `feeds a softmax over channels at '${spec.name}'`);
    }
    t.ref("tensors", layer, y);
    t.outputs.set(spec.name, y);
  }
  for (const [name] of config.outputLayers) {
    t.pin(t.outputs.get(name)!.elems, `feeds the model output '${name}'`);
  }
  return assemble(t);
}

/**
 * The input tensors of each layer's call in `model`'s own graph. A layer
 * shared with another model (one rewired by `rewireModel`, say) has a node
 * per model, so its `layer.input` is ill-defined and its node 0 may belong to
 * the other model; `nodesByDepth` holds only this model's nodes.
 */
function modelInputs(model: tf.LayersModel): Map<string, tf.SymbolicTensor[]> {
  const inputs = new Map<string, tf.SymbolicTensor[]>();
  for (const node of Object.values(model.nodesByDepth).flat()) {
    inputs.set(node.outboundLayer.name, node.inputTensors);
  }
  return inputs;
}

/** Turns traced channels into groups. */
function assemble(t: Tracer): ChannelGraph {
  // Sources joined by any shared channel form one group.
  const srcParent = t.sources.map((_, i) => i);
  const findSrc = (s: number): number => {
    while (srcParent[s] !== s) s = srcParent[s] = srcParent[srcParent[s]];
    return s;
  };
  t.parent.forEach((_, e) => {
    const [a, b] = [findSrc(t.elemSource[e]), findSrc(t.elemSource[t.find(e)])];
    if (a !== b) srcParent[Math.max(a, b)] = Math.min(a, b);
  });
  const groupOfSource = new Map<number, number>();
  const named = new Set<number>();
  const groups: ChannelGroup[] = [];
  t.sources.forEach((s, i) => {
    const root = findSrc(i);
    let g = groupOfSource.get(root);
    if (g === undefined) {
      groupOfSource.set(root, g = groups.length);
      groups.push({
        id: s.layer,
        size: 0,
        prunable: true,
        producers: [],
        followers: [],
        consumers: [],
        pads: [],
        tensors: [],
      });
    }
    if (s.producer && !named.has(g)) {
      named.add(g);
      groups[g].id = s.layer;
    }
  });
  // Channels of a group in order of their first element (a lone producer's own order).
  const where = new Map<number, { g: number; j: number }>();
  t.parent.forEach((_, e) => {
    const r = t.find(e);
    if (where.has(r)) return;
    const g = groupOfSource.get(findSrc(t.elemSource[e]))!;
    where.set(r, { g, j: groups[g].size++ });
  });
  for (const p of t.pending) {
    const maps = new Map<number, ChannelMap>();
    p.elems.forEach((e, c) => {
      if (e < 0) return;
      const { g, j } = where.get(t.find(e))!;
      let m = maps.get(g);
      if (!m) {
        const { layer, className, weight, axis, spatial } = p;
        const index = new Array<number>(groups[g].size).fill(-1);
        m = { layer, className, index, channels: p.elems.length, spatial };
        if (weight !== undefined) Object.assign(m, { weight, axis });
        maps.set(g, m);
      }
      if (m.index[j] >= 0) {
        throw new UnsupportedLayerError(
          p.layer,
          p.className,
          `sees one channel twice (channels ${m.index[j]} and ${c}); not supported`,
        );
      }
      m.index[j] = c;
    });
    for (const [g, m] of maps) (groups[g][p.role] as ChannelMap[]).push(m);
  }
  for (const [e, reason] of t.pins) {
    const g = groups[where.get(t.find(e))!.g];
    if (g.prunable) Object.assign(g, { prunable: false, reason });
  }
  for (const g of groups) {
    if (g.prunable && g.producers.length === 0) {
      Object.assign(g, { prunable: false, reason: "has no producer (only zero padding)" });
    }
  }
  return graphOf(groups);
}

function graphOf(groups: ChannelGroup[]): ChannelGraph {
  const byId = new Map(groups.map((g) => [g.id, g]));
  const groupsOf = (layer: string) => {
    const gs = groups.filter((g) => g.tensors.some((m) => m.layer === layer));
    if (gs.length === 0) throw new Error(`no layer '${layer}' in the channel graph`);
    return gs;
  };
  return {
    groups,
    group(id) {
      const g = byId.get(id);
      if (!g) {
        throw new Error(
          `no channel group '${id}'; groups: ${groups.map((g) => g.id).slice(0, 20).join(", ")}`,
        );
      }
      return g;
    },
    groupsOf,
    groupOf(layer) {
      const gs = groupsOf(layer);
      if (gs.length > 1) {
        throw new Error(
          `the output of '${layer}' spans ${gs.length} channel groups (${
            gs.map((g) => g.id).join(", ")
          }); use groupsOf`,
        );
      }
      return gs[0];
    },
  };
}
