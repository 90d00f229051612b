/**
 * The channel dependency graph of a functional LayersModel: which output
 * channels must be removed together, and every weight to slice with them.
 *
 * Every channel of every tensor is traced back to the channels that make it:
 * a producer's (Conv / Dense / Embedding outputs, see
 * {@link registerProducerLayer}), the model input's, or a
 * ChannelPadShortcut's zero padding. Channel-wise layers (BN, activations,
 * pooling, depthwise convs, MaskedReLU, ... see {@link registerChannelwiseLayer})
 * pass channels through; Concatenate shifts their indices; Flatten and
 * Reshape fold positions into the last axis (unit `(h*W + w)*C + c`, NHWC);
 * an elementwise merge (Add, Multiply, ...) makes the channels it combines one
 * channel. A {@link ChannelGroup} is a set of such channels that share a
 * producer or a merge: group channel j is removed from every weight that sees
 * it, or from none. The rules per layer class are in channel_rules.ts; a
 * table of every standard layer is in docs/layers.md.
 *
 * A group is not prunable when it touches the model input, a model output,
 * a softmax over channels, or a layer the graph cannot see through (a
 * LayerNormalization, a recurrent layer's units, a broadcast one-channel
 * input, an unknown layer with `allowUnknown`), or has no producer (only
 * zero padding); `reason` says which. A layer called more than once with
 * weights slices them for all its calls, so their channels are joined.
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
import { isKnownLayer, type LayerCall, type Role, type Sym, traceCall } from "./channel_rules.ts";
import { producerLayer } from "./producers.ts";
import { functionalView } from "./rewrite.ts";

export {
  isKnownLayer,
  registerOpaqueLayer,
  unsupportedLayer,
  UnsupportedLayerError,
} from "./channel_rules.ts";

type Node = tf.LayersModel["nodesByDepth"][string][number];

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
  /** Output weights of the producer layers (Conv, Dense, ...) that make the channels (kernel, bias). */
  producers: WeightRef[];
  /** Per-channel weights of channel-wise layers on the way (BN, depthwise, masks, ...). */
  followers: WeightRef[];
  /** Input-side kernels of the producers (and recurrent layers) that read the channels. */
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

/**
 * Whether a producer ref is its layer's kernel (`kernel`, `pointwise_kernel`,
 * `embeddings`), not its bias.
 * @example
 * ```ts
 * const kernels = group.producers.filter(isProducerKernel);
 * ```
 */
export function isProducerKernel(ref: WeightRef): boolean {
  return producerLayer(ref.className)?.kernel === ref.weight;
}

/**
 * The kernels that make or read a group's channels: its producers' kernels
 * (out-rows) and its consumers' (in-columns), each layer's kernel as
 * {@link isProducerKernel} names it (`kernel`, a SeparableConv2D's
 * `pointwise_kernel`, `embeddings`); biases and depthwise kernels left out.
 * @example
 * ```ts
 * groupKernels(graph.group("conv1")).map((r) => `${r.layer}/${r.weight}`);
 * ```
 */
export function groupKernels(group: ChannelGroup): WeightRef[] {
  return [...group.producers, ...group.consumers].filter(isProducerKernel);
}

/** The kernel rows of each producer of a group ({@link channelRows}); the caller disposes them. */
export function producerKernels(model: tf.LayersModel, group: ChannelGroup): tf.Tensor2D[] {
  return group.producers.filter(isProducerKernel).map((p) => channelRows(model, p));
}

type Pending = {
  role: Role;
  layer: string;
  className: string;
  elems: number[];
  spatial: number;
  weight?: string;
  axis?: number;
};
type LayerSpec = { name: string; className: string; config: Record<string, unknown> };

/** Classes whose calls must agree on channels when a layer is called more than once. */
const CONFIG_COUPLED = new Set(["Reshape", "ChannelPadShortcut"]);

/** Union-find over traced channels, and everything recorded along the way; see the module doc. */
class Tracer {
  sources: { layer: string; producer: boolean }[] = [];
  elemSource: number[] = [];
  parent: number[] = [];
  pins = new Map<number, string>();
  pending: Pending[] = [];
  /** Traced channels of each tensor, by its id. */
  outputs = new Map<number, Sym>();

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
    if (a < 0 || b < 0) return;
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }

  pin(elems: number[], reason: string): void {
    for (const e of elems) if (e >= 0 && !this.pins.has(e)) this.pins.set(e, reason);
  }

  /** Joins two tensors' channels one to one (the calls of a shared layer), or pins both. */
  couple(a: Sym, b: Sym, why: string): void {
    if (a.elems.length === b.elems.length && a.spatial === b.spatial) {
      a.elems.forEach((e, i) => this.union(e, b.elems[i]));
    } else {
      this.pin(a.elems, why);
      this.pin(b.elems, why);
    }
  }

  /** The first traced call of each layer (refs are recorded there; later calls couple to it). */
  firsts = new Map<string, { xs: Sym[]; ys: Sym[] }>();

  /** Whether the tensors a call (node) reads are traced. */
  ready(node: Node): boolean {
    return node.inboundLayers.length === 0 ||
      node.inputTensors.every((t) => this.outputs.has(t.id));
  }

  /** Traces one call (node) of a layer in this model. */
  visit(spec: LayerSpec, layer: tf.layers.Layer, node: Node, options: GraphOptions) {
    const { name, className, config } = spec;
    const weights = layer.weights.map((w) => ({
      param: paramName(name, w.originalName),
      rank: w.shape.length,
    }));
    const first = this.firsts.get(name);
    const xs = node.inboundLayers.length
      ? node.inputTensors.map((t) => this.outputs.get(t.id)!)
      : [];
    const shapes = (ts: tf.SymbolicTensor[]) => ts.map((t) => (t.shape as number[]).slice(1));
    const call: LayerCall = {
      name,
      className,
      config,
      xs,
      inShapes: shapes(node.inputTensors),
      outShapes: shapes(node.outputTensors),
      weights,
      fresh: (n, producer) => this.fresh(name, n, producer),
      pin: (elems, reason) => this.pin(elems, reason),
      union: (a, b) => this.union(a, b),
      ref: (role, x, weight, axis) => {
        if (!first) this.pending.push({ role, layer: name, className, ...x, weight, axis });
      },
    };
    const ys = traceCall(call, options);
    if (config.activation === "softmax") {
      for (const y of ys) this.pin(y.elems, `feeds a softmax over channels at '${name}'`);
    }
    if (!first) {
      this.firsts.set(name, { xs, ys });
      for (const y of ys) call.ref("tensors", y);
    } else if (weights.length > 0 || CONFIG_COUPLED.has(className)) {
      // One set of weights (or one config) serves every call: their channels are removed together.
      const why = `is read by '${name}' (${className}), called on tensors of different channels`;
      xs.forEach((x, i) => first.xs[i] && this.couple(first.xs[i], x, why));
      ys.forEach((y, i) => first.ys[i] && this.couple(first.ys[i], y, why));
    }
    ys.forEach((y, i) => this.outputs.set(node.outputTensors[i].id, y));
  }
}

/** Options of {@link buildChannelGraph}. */
export interface GraphOptions {
  /**
   * Treat a layer of a class no rule or registry knows as opaque: its input
   * and output channels are pinned (not prunable; the reason names it) and
   * the rest of the model is traced. Default false: such a layer is an
   * {@link UnsupportedLayerError} naming it and how to register it.
   */
  allowUnknown?: boolean;
}

/**
 * Builds the channel graph of a LayersModel (functional or Sequential; channels-last).
 * Throws {@link UnsupportedLayerError} naming the first layer of a class it
 * does not know, unless `options.allowUnknown`.
 */
export function buildChannelGraph(
  model: tf.LayersModel,
  options: GraphOptions = {},
): ChannelGraph {
  model = functionalView(model);
  const config = model.getConfig() as unknown as { layers: LayerSpec[] };
  const t = new Tracer();
  const nodes = modelNodes(model);
  // Calls in config order; a shared layer's later call waits until what it reads is traced.
  const calls = config.layers.flatMap((spec) =>
    (nodes.get(spec.name) ?? []).map((node) => ({ spec, node }))
  );
  while (calls.length) {
    const i = calls.findIndex((c) => t.ready(c.node));
    if (i < 0) throw new Error(`model '${model.name}': its layers read tensors no layer makes`);
    const { spec, node } = calls.splice(i, 1)[0];
    t.visit(spec, model.getLayer(spec.name), node, options);
  }
  for (const out of model.outputs) {
    t.pin(t.outputs.get(out.id)!.elems, `feeds the model output '${out.sourceLayer.name}'`);
  }
  return assemble(t);
}

/** A layer of a class the channel graph does not know ({@link unknownLayers}). */
export interface UnknownLayer {
  /** Layer name. */
  layer: string;
  /** Its serialized class name. */
  className: string;
}

/**
 * The layers of `model` whose class no rule or registry of the channel graph
 * knows, in model order: what {@link buildChannelGraph} rejects, or treats
 * as opaque with `allowUnknown`.
 * @example
 * ```ts
 * unknownLayers(model); // [{ layer: "scale", className: "MyScale" }]
 * ```
 */
export function unknownLayers(model: tf.LayersModel): UnknownLayer[] {
  const { layers } = functionalView(model).getConfig() as unknown as { layers: LayerSpec[] };
  return layers.filter((l) => !isKnownLayer(l.className))
    .map((l) => ({ layer: l.name, className: l.className }));
}

/**
 * Each layer's calls (nodes) in `model`'s own graph. A layer shared with
 * another model (one rewired by `rewireModel`, say, or a nested model, whose
 * first node is its own) has nodes in both; this model's are the ones in
 * `nodesByDepth`.
 */
function modelNodes(model: tf.LayersModel): Map<string, Node[]> {
  const mine = new Set(Object.values(model.nodesByDepth).flat());
  return new Map(
    model.layers.map((l) => [l.name, l.inboundNodes.filter((n) => mine.has(n))]),
  );
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
  // Ids are unique: a second group named after one layer (an output of a multi-output layer) gets #1, ...
  const used = new Map<string, number>();
  for (const g of groups) {
    const n = used.get(g.id) ?? 0;
    used.set(g.id, n + 1);
    if (n > 0) g.id = `${g.id}#${n}`;
  }
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
        // A tensor concatenated with itself, say: one group channel, two places.
        t.pin([e], `is seen twice by '${p.layer}' (its channels ${m.index[j]} and ${c})`);
      } else m.index[j] = c;
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
