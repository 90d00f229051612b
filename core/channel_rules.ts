/**
 * How each layer class moves channels, for the channel graph
 * ({@link buildChannelGraph}): one rule per call of a layer, turning the
 * channels of its input tensors into the channels of its outputs.
 *
 * A tensor's channels are traced as element ids (`Sym.elems[c]` for channel
 * c; `spatial` counts the positions a Flatten or Reshape folded into the
 * last axis, so channel c is the units `p * channels + c`). A rule may make
 * fresh channels (a producer's outputs), join two channels into one (an Add),
 * pin channels (not prunable, with a reason), and record the weights that
 * see a tensor's channels (producers, followers, consumers).
 *
 * Layers the graph cannot see through soundly (a recurrent layer's units, a
 * softmax over channels, a LayerNormalization, a nested model, ...) are
 * "opaque": their input channels and their fresh output channels are
 * pinned. A class no rule or registry knows is an {@link UnsupportedLayerError},
 * or opaque with `allowUnknown`.
 *
 * @example
 * ```ts
 * const ys = traceCall(call, { allowUnknown: false }); // one Sym per output tensor
 * ```
 * @module
 */
import { channelwiseLayer, resolveAxis } from "./channelwise.ts";
import { markUserFacing } from "./errors.ts";
import { producerLayer } from "./producers.ts";

/** The channels of one tensor, as traced element ids; see the module doc. */
export interface Sym {
  /** Element id of each channel (-1: a channel of no one, such as zero padding). */
  elems: number[];
  /** Positions folded into the last axis (1 if none): channel c is units p * channels + c. */
  spatial: number;
}

/** Which list of a channel group a recorded weight or tensor goes to. */
export type Role = "producers" | "followers" | "consumers" | "pads" | "tensors";

/** One call of one layer, as a rule sees it, and what the rule may do. */
export interface LayerCall {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** The channels of each input tensor. */
  xs: Sym[];
  /** Shapes of the input and output tensors, batch axis dropped. */
  inShapes: number[][];
  outShapes: number[][];
  /** The layer's weights: param name and rank. */
  weights: { param: string; rank: number }[];
  /** `n` new channels; `producer` if a producer makes them (else input, padding, opaque). */
  fresh(n: number, producer: boolean): number[];
  /** Pins channels: their groups are not prunable, for `reason` (the first reason given wins). */
  pin(elems: number[], reason: string): void;
  /** Makes two channels one. */
  union(a: number, b: number): void;
  /** Records a weight seeing channels `x` along `axis`, or with no weight the tensor itself. */
  ref(role: Role, x: Sym, weight?: string, axis?: number): void;
}

/** A layer the channel graph cannot see through, named with how to register it. */
export class UnsupportedLayerError extends Error {
  constructor(layer: string, className: string, why: string) {
    super(`layer '${layer}' (${className}) ${why}`);
    this.name = "UnsupportedLayerError";
  }
}
markUserFacing(UnsupportedLayerError);

/** Options of {@link traceCall}. */
export interface TraceOptions {
  /** Treat layers of unknown classes as opaque (channels pinned) instead of failing. */
  allowUnknown?: boolean;
}

type Rule = (c: LayerCall) => Sym[];

const axisOf = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const last = (shape: number[]) => shape.length ? shape[shape.length - 1] : 1;

/** Pins the inputs and makes pinned fresh outputs: the layer is a wall for channels. */
function opaque(c: LayerCall, why: string): Sym[] {
  const what = `${c.className} '${c.name}', which ${why}`;
  for (const x of c.xs) c.pin(x.elems, `is read by ${what}`);
  return c.outShapes.map((s) => {
    const elems = c.fresh(last(s), false);
    c.pin(elems, `is made by ${what}`);
    return { elems, spatial: 1 };
  });
}

function inputLayer(c: LayerCall): Sym[] {
  const elems = c.fresh(last(c.outShapes[0]), false);
  c.pin(elems, `is coupled to the model input '${c.name}'`);
  return [{ elems, spatial: 1 }];
}

/** Flatten and Reshape: channel c stays at units p*C + c while C divides the new last axis. */
function reshape(c: LayerCall): Sym[] {
  const [x] = c.xs, units = last(c.outShapes[0]);
  if (units > 0 && units % x.elems.length === 0) {
    return [{ elems: x.elems, spatial: units / x.elems.length }];
  }
  return opaque(c, `reshapes ${x.elems.length} channels into a last axis of ${units}`);
}

function permute(c: LayerCall): Sym[] {
  const dims = c.config.dims as number[];
  return dims[dims.length - 1] === dims.length ? [c.xs[0]] : opaque(c, "moves the channel axis");
}

function concatenate(c: LayerCall): Sym[] {
  const rank = c.inShapes[0].length + 1;
  if (resolveAxis(c.config.axis ?? -1, rank) === rank - 1) {
    if (c.xs.some((x) => x.spatial !== 1)) return opaque(c, "concatenates flattened tensors");
    return [{ elems: c.xs.flatMap((x) => x.elems), spatial: 1 }];
  }
  // Along another axis: channel c of every input is channel c of the output.
  const [x] = c.xs;
  if (c.xs.some((t) => t.elems.length !== x.elems.length || t.spatial !== x.spatial)) {
    return opaque(c, "concatenates tensors whose channels do not line up");
  }
  for (const t of c.xs.slice(1)) t.elems.forEach((e, i) => c.union(x.elems[i], e));
  return [x];
}

/** Elementwise merges: equal channels join; a one-channel input broadcasts and is pinned. */
function merge(c: LayerCall): Sym[] {
  const n = Math.max(...c.xs.map((x) => x.elems.length));
  const base = c.xs.find((x) => x.elems.length === n)!;
  for (const x of c.xs) {
    if (x === base) continue;
    if (x.elems.length === n && x.spatial === base.spatial) {
      x.elems.forEach((e, i) => c.union(base.elems[i], e));
    } else if (x.elems.length === 1 && x.spatial === 1) {
      c.pin(x.elems, `is broadcast across channels by ${c.className} '${c.name}'`);
    } else {
      return opaque(c, "merges tensors whose channels do not line up");
    }
  }
  return [base];
}

function channelPad(c: LayerCall): Sym[] {
  const [x] = c.xs;
  if (x.spatial !== 1) return opaque(c, "pads flattened channels");
  const [before, after] = [c.config.padBefore as number, c.config.padAfter as number];
  const pad = c.fresh(before + after, false);
  const elems = [...pad.slice(0, before), ...x.elems, ...pad.slice(before)];
  const padOnly = elems.map((e, i) => i < before || i >= before + x.elems.length ? e : -1);
  c.ref("pads", { elems: padOnly, spatial: 1 });
  return [{ elems, spatial: 1 }];
}

/** LSTM / GRU / SimpleRNN: the kernel reads input channels; the units stay (gates, recurrence). */
function recurrent(c: LayerCall): Sym[] {
  c.ref("consumers", c.xs[0], "kernel", 0);
  return c.outShapes.map((s) => {
    const elems = c.fresh(last(s), false);
    c.pin(
      elems,
      `is made by ${c.className} '${c.name}', whose units are coupled in its recurrence`,
    );
    return { elems, spatial: 1 };
  });
}

const MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"];

const RULES = new Map<string, Rule>([
  ["InputLayer", inputLayer],
  ["Flatten", reshape],
  ["Reshape", reshape],
  ["Permute", permute],
  ["Concatenate", concatenate],
  ["ChannelPadShortcut", channelPad],
  ...MERGES.map((m): [string, Rule] => [m, merge]),
  ...["LSTM", "GRU", "SimpleRNN"].map((m): [string, Rule] => [m, recurrent]),
]);

/** Layers the graph does not see through, and why (standard ones, and {@link registerOpaqueLayer}'s). */
const OPAQUE = new Map<string, string>([
  ["LayerNormalization", "normalizes across channels"],
  // tfjs runs a softmax over the last axis only
  ["Softmax", "applies a softmax across channels"],
  ["Dot", "takes dot products across channels"],
  ["MultiHeadAttention", "mixes channels across heads"],
  ["EinsumDense", "contracts axes the graph does not trace"],
  ["Bidirectional", "wraps recurrent layers whose units are coupled"],
  ["TimeDistributed", "wraps another layer"],
  ["RNN", "runs cells whose units are coupled"],
  ["ConvLSTM2D", "has units coupled in its recurrence"],
  ["CategoryEncoding", "encodes token ids, not channels"],
  ["Functional", "is a nested model (apply its layers directly to prune inside it)"],
  ["Model", "is a nested model (apply its layers directly to prune inside it)"],
  ["Sequential", "is a nested model (apply its layers directly to prune inside it)"],
]);

/**
 * Registers (or replaces) a layer class the channel graph does not see
 * through: its input and output channels are pinned, their groups' reason
 * saying `why` (e.g. "mixes channels in its custom call").
 * @example
 * ```ts
 * registerOpaqueLayer("MyAttention", "mixes channels across heads");
 * ```
 */
export function registerOpaqueLayer(className: string, why: string): void {
  OPAQUE.set(className, why);
}

/**
 * Whether the channel graph knows a layer class: a rule, a producer, a
 * channel-wise or an opaque registration.
 * @example
 * ```ts
 * isKnownLayer("Conv2D"); // true
 * ```
 */
export function isKnownLayer(className: string): boolean {
  return RULES.has(className) || OPAQUE.has(className) ||
    producerLayer(className) !== undefined || channelwiseLayer(className) !== undefined;
}

/** Why a registered layer's call is not traced through: more inputs than one, or its check. */
function whyNot(
  c: LayerCall,
  check?: (config: Record<string, unknown>, inShape: number[]) => string | undefined,
): string | undefined {
  return c.xs.length !== 1 ? `reads ${c.xs.length} tensors` : check?.(c.config, c.inShapes[0]);
}

function producer(c: LayerCall): Sym[] | undefined {
  const spec = producerLayer(c.className);
  if (!spec) return undefined;
  const why = whyNot(c, spec.check);
  if (why) return opaque(c, why);
  const [x] = c.xs;
  if (Object.keys(spec.reads).length === 0) {
    c.pin(x.elems, `is read by ${c.className} '${c.name}' as ids, not channels`);
  }
  const y = { elems: c.fresh(last(c.outShapes[0]), true), spatial: 1 };
  for (const { param, rank } of c.weights) {
    const reads = spec.reads[param];
    if (reads !== undefined) c.ref("consumers", x, param, axisOf(reads, rank));
    if (param === spec.kernel) c.ref("producers", y, param, axisOf(spec.out, rank));
    else if (reads === undefined) c.ref("producers", y, param, rank - 1);
  }
  return [y];
}

function channelwise(c: LayerCall): Sym[] | undefined {
  const spec = channelwiseLayer(c.className);
  if (!spec) return undefined;
  const why = whyNot(c, spec.check);
  if (why) return opaque(c, why);
  const [x] = c.xs;
  for (const { param, rank } of c.weights) {
    c.ref("followers", x, param, spec.axes?.[param] ?? rank - 1);
  }
  return [x];
}

/** The channels of each output of one layer call; see the module doc. */
export function traceCall(c: LayerCall, options: TraceOptions = {}): Sym[] {
  const rule = RULES.get(c.className);
  if (rule) return rule(c);
  const ys = producer(c) ?? channelwise(c);
  if (ys) return ys;
  const why = OPAQUE.get(c.className);
  if (why !== undefined) return opaque(c, why);
  if (options.allowUnknown) return opaque(c, "the channel graph does not know (allowUnknown)");
  throw unsupportedLayer(c.name, c.className);
}

/**
 * The error for a layer of a class the channel graph does not know: it names
 * the layer and class and says how to register it (or to pass
 * `--allow_unknown`). One line, user-facing.
 * @example
 * ```ts
 * throw unsupportedLayer("scale", "MyScale");
 * ```
 */
export function unsupportedLayer(layer: string, className: string): UnsupportedLayerError {
  return new UnsupportedLayerError(
    layer,
    className,
    `is not known to the channel graph: register it with registerChannelwiseLayer("${className}") ` +
      `if its output channel c depends only on input channel c, or with ` +
      `registerProducerLayer("${className}", { kernel, out, reads, count }) if a kernel makes its ` +
      `output channels (in a --plugin module); or pass --allow_unknown (allowUnknown) to prune ` +
      `around it with its channels pinned`,
  );
}
