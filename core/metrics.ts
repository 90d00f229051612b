/**
 * What a model costs and how well it does: parameters (total / non-zero),
 * multiply-accumulates, ReLU count, accuracy and loss on a split, inference
 * latency and size on disk. Whatever needs weight values (non-zero
 * parameters, active ReLUs, accuracy) reads them asynchronously, so it works
 * on GPU backends, and returns a promise.
 *
 * Counting rules (per example, batch dimension dropped):
 * - Parameters are what PyTorch counts for the same network: the weights a
 *   layer creates as trainable (kernels, biases, BN gamma and beta), whether
 *   or not the layer is frozen now. BN moving statistics and MaskedReLU masks
 *   are not parameters.
 * - MACs: every weight whose name ends in `kernel` (Conv1D/2D/3D `kernel`,
 *   DepthwiseConv2D `depthwise_kernel`, SeparableConv2D `depthwise_kernel` and
 *   `pointwise_kernel`, Dense `kernel`, and subclasses of these) costs its size
 *   times the number of output positions (all output dims but the last). That
 *   is kh*kw*cin*cout*Hout*Wout for a conv (a grouped kernel is already
 *   cin/groups deep), kh*kw*cin*mult*Hout*Wout for a depthwise conv and in*out
 *   for a Dense on vectors (a Dense on [T, C] applies its kernel T times).
 *   Conv2DTranspose / Conv3DTranspose cost their kernel times the input
 *   positions (kh*kw*cin*cout*Hin*Win). LSTM / GRU / SimpleRNN /
 *   Bidirectional cost their kernel and recurrent kernel once per time step,
 *   ConvLSTM2D once per step and output position. An Embedding (a lookup),
 *   biases, BatchNorm, pooling, adds and activations count 0. A layer called
 *   more than once (shared weights) counts once, for its first call.
 * - ReLUs: a `ReLU` layer or any layer with `activation: "relu"` counts every
 *   output element (all active); a MaskedReLU counts its mask elements, of
 *   which the ones equal to 1 are active.
 *
 * @example
 * ```ts
 * const { total } = await countParams(model);
 * const acc = await accuracy(model, data, { split: "test", batchSize: 256 });
 * console.log(total, countMacs(model), (await countRelus(model)).active, acc.top1);
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import type { Dataset, Split } from "./data.ts";
import { MaskedReLU } from "./layers/masked_relu.ts";
import { readScalars } from "./read.ts";
import { type Cancel, cancelPoint } from "./pipeline.ts";

type Layer = tf.layers.Layer;
type LayerVariable = Layer["weights"][number];

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Sublayers of a nested model, or none. */
function sublayers(layer: Layer): Layer[] {
  return (layer as unknown as { layers?: Layer[] }).layers ?? [];
}

/**
 * Every non-container layer of a model, nested models flattened.
 *
 * @example
 * ```ts
 * const convs = leafLayers(model).filter((l) => l.getClassName() === "Conv2D").length;
 * ```
 */
export function leafLayers(model: tf.LayersModel): Layer[] {
  const out: Layer[] = [];
  const visit = (l: Layer) => {
    const subs = sublayers(l);
    if (subs.length) subs.forEach(visit);
    else out.push(l);
  };
  model.layers.forEach(visit);
  return out;
}

/** The layers inside a wrapper or recurrent layer that own its weights. */
function innerLayers(layer: Layer): Layer[] {
  const l = layer as unknown as {
    cell?: Layer;
    cells?: Layer[];
    layer?: Layer;
    forwardLayer?: Layer;
    backwardLayer?: Layer;
  };
  if (l.forwardLayer && l.backwardLayer) return [l.forwardLayer, l.backwardLayer];
  return [l.cell, ...(l.cells ?? []), l.layer].filter((x): x is Layer => x !== undefined);
}

/**
 * The weights a layer created as trainable (they stay parameters when the
 * layer is frozen), its recurrent cell's or wrapped layer's included.
 */
function parameterWeights(layer: Layer): LayerVariable[] {
  const own = (layer as unknown as { _trainableWeights?: LayerVariable[] })._trainableWeights ?? [];
  return [...own, ...innerLayers(layer).flatMap(parameterWeights)];
}

/**
 * Trainable parameters, as PyTorch counts them, and how many of them are not
 * exactly zero (what weight pruning leaves).
 *
 * @example
 * ```ts
 * const { total, nonZero } = await countParams(model); // sparsity = 1 - nonZero / total
 * ```
 */
export async function countParams(
  model: tf.LayersModel,
): Promise<{ total: number; nonZero: number }> {
  const weights = leafLayers(model).flatMap(parameterWeights);
  const total = weights.reduce((s, w) => s + prod(w.shape as number[]), 0);
  const counts = await readScalars(() => weights.map((w) => w.read().notEqual(0).sum()));
  return { total, nonZero: counts.reduce((a, b) => a + b, 0) };
}

/** One row of {@link layerTable}. */
export interface LayerRow {
  name: string;
  className: string;
  /** Output shape without the batch dimension (the first output's, for multi-output layers). */
  outputShape: number[];
  /** Trainable parameters of the layer. */
  params: number;
  /** Multiply-accumulates per example. */
  macs: number;
  /** Active ReLU elements per example (see the module doc). */
  relus: number;
}

function outputShapeOf(layer: Layer): number[] {
  const s = layer.outputShape as (number | null)[] | (number | null)[][];
  const first = Array.isArray(s[0]) ? (s[0] as (number | null)[]) : (s as (number | null)[]);
  return first.slice(1).map((d) => d ?? -1);
}

/** Input shape of the layer's first call (`layer.input` throws for a layer called twice). */
function inputShapeOf(layer: Layer): number[] {
  const s = layer.inboundNodes[0]?.inputTensors[0]?.shape ?? layer.inputSpec?.[0]?.shape;
  if (!s) throw new Error(`layer ${layer.name} has no known input shape`);
  return (s as (number | null)[]).slice(1).map((d) => d ?? -1);
}

const TRANSPOSED = new Set(["Conv2DTranspose", "Conv3DTranspose"]);
const RECURRENT = new Set(["LSTM", "GRU", "SimpleRNN", "Bidirectional", "ConvLSTM2D"]);

/** How many times a layer applies its kernels per example (see the module doc). */
function kernelPositions(layer: Layer): number {
  const cls = layer.getClassName();
  if (TRANSPOSED.has(cls)) return prod(inputShapeOf(layer).slice(0, -1));
  if (RECURRENT.has(cls)) {
    const steps = inputShapeOf(layer)[0];
    return cls === "ConvLSTM2D" ? steps * prod(outputShapeOf(layer).slice(-3, -1)) : steps;
  }
  return prod(outputShapeOf(layer).slice(0, -1));
}

function layerMacs(layer: Layer): number {
  const kernels = layer.weights.filter((w) => /kernel$/.test(w.originalName));
  if (!kernels.length) return 0;
  const positions = kernelPositions(layer);
  return kernels.reduce((sum, k) => sum + prod(k.shape as number[]) * positions, 0);
}

function activationOf(layer: Layer): string | undefined {
  const a = (layer.getConfig() as { activation?: unknown }).activation;
  return typeof a === "string" ? a : undefined;
}

async function layerRelus(layer: Layer): Promise<{ total: number; active: number }> {
  if (layer instanceof MaskedReLU) {
    return { total: prod(layer.mask.shape as number[]), active: await layer.activeCount() };
  }
  if (layer.getClassName() === "ReLU" || activationOf(layer) === "relu") {
    const n = prod(outputShapeOf(layer));
    return { total: n, active: n };
  }
  return { total: 0, active: 0 };
}

/**
 * Per-layer name, class, output shape, parameters, MACs and active ReLU
 * elements, in the model's layer order (nested models flattened).
 *
 * @example
 * ```ts
 * for (const r of await layerTable(model)) console.log(r.name, r.macs);
 * ```
 */
export function layerTable(model: tf.LayersModel): Promise<LayerRow[]> {
  return Promise.all(
    leafLayers(model).map(async (layer) => ({
      name: layer.name,
      className: layer.getClassName(),
      outputShape: outputShapeOf(layer),
      params: parameterWeights(layer).reduce((s, w) => s + prod(w.shape as number[]), 0),
      macs: layerMacs(layer),
      relus: (await layerRelus(layer)).active,
    })),
  );
}

/** Multiply-accumulates for one example (rules in the module doc). */
export function countMacs(model: tf.LayersModel): number {
  return leafLayers(model).reduce((s, l) => s + layerMacs(l), 0);
}

/** ReLU elements per example: all of them, and those still acting as ReLU. */
export async function countRelus(
  model: tf.LayersModel,
): Promise<{ total: number; active: number }> {
  let total = 0, active = 0;
  for (const r of await Promise.all(leafLayers(model).map(layerRelus))) {
    total += r.total;
    active += r.active;
  }
  return { total, active };
}

/** Classification quality on a split; fractions in [0, 1]. */
export interface Accuracy {
  top1: number;
  top5: number;
  /** Mean softmax cross-entropy. */
  loss: number;
  /** Examples evaluated. */
  n: number;
}

/** True when the model's last layer already applies a softmax (outputs are probabilities). */
function endsInSoftmax(model: tf.LayersModel): boolean {
  const last = model.layers[model.layers.length - 1];
  return last.getClassName() === "Softmax" || activationOf(last) === "softmax";
}

/**
 * Top-1 / top-5 accuracy and mean cross-entropy of `model` on a split (test by
 * default), in inference mode (BN uses moving statistics, no dropout), in
 * dataset order. The model outputs logits (or probabilities when its last
 * layer is a softmax). Top-k uses min(5, classes). With `cancel`, a
 * cancelled run stops before the next batch (a `CancelledError`).
 *
 * @example
 * ```ts
 * const opts = { split: "test", batchSize: 256, limit: 1000 } as const;
 * const { top1, loss } = await accuracy(model, data, opts);
 * ```
 */
export async function accuracy(
  model: tf.LayersModel,
  data: Dataset,
  opts: { split?: Split; batchSize?: number; limit?: number; cancel?: Cancel } = {},
): Promise<Accuracy> {
  const probs = endsInSoftmax(model);
  const k = Math.min(5, data.numClasses);
  let top1 = 0, top5 = 0, loss = 0, n = 0;
  const batches = data.batches(opts.split ?? "test", {
    batchSize: opts.batchSize ?? 128,
    shuffle: false,
    limit: opts.limit,
  });
  for (const { x, y } of batches) {
    try {
      if (opts.cancel) await cancelPoint(opts.cancel);
      const [c1, c5, l] = await readScalars(() => {
        const out = model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor2D;
        const logp = probs ? tf.log(tf.clipByValue(out, 1e-12, 1)) : tf.logSoftmax(out);
        const labels = y.toInt();
        const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(labels, out.shape[1]))));
        const idx = tf.topk(out, k).indices;
        const hit = tf.equal(idx, labels.expandDims(1)).toFloat();
        const hit1 = hit.slice([0, 0], [-1, 1]).sum();
        return [hit1, hit.sum(), nll];
      });
      top1 += c1;
      top5 += c5;
      loss += l;
      n += y.shape[0];
    } finally {
      x.dispose();
      y.dispose();
    }
  }
  if (n === 0) return { top1: 0, top5: 0, loss: NaN, n };
  return { top1: top1 / n, top5: top5 / n, loss: loss / n, n };
}

/** Median of a non-empty list. */
function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * A timer of one inference batch of `batchSize` random inputs through
 * `model` (one predict call, waiting for the output's data); `dispose` frees
 * the input.
 */
function batchTimer(model: tf.LayersModel, batchSize: number) {
  const shape = (model.inputs[0].shape as (number | null)[]).slice(1) as number[];
  const x = tf.randomNormal([batchSize, ...shape]);
  return {
    async time(): Promise<number> {
      const t0 = performance.now();
      // one batch of batchSize (predict would otherwise split it into batches of 32)
      const out = model.predict(x, { batchSize }) as tf.Tensor;
      await out.data();
      const ms = performance.now() - t0;
      out.dispose();
      return ms;
    },
    dispose: () => x.dispose(),
  };
}

/** Median of `runs` (at least 1) timed batches after `warmup` untimed ones. */
async function medianTime(
  timer: ReturnType<typeof batchTimer>,
  warmup: number,
  runs: number,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await timer.time();
  const times: number[] = [];
  for (let i = 0; i < Math.max(1, runs); i++) times.push(await timer.time());
  return median(times);
}

/**
 * Median wall time (ms) of one inference batch of `batchSize` random inputs,
 * after `warmup` (default 3) untimed runs, over `runs` (default 10) runs. Each
 * run waits for the output's data, so asynchronous (GPU) backends are timed to
 * completion.
 *
 * @example
 * ```ts
 * const ms = await latency(model, { batchSize: 1, runs: 20 });
 * ```
 */
export async function latency(
  model: tf.LayersModel,
  opts: { batchSize: number; warmup?: number; runs?: number },
): Promise<number> {
  const timer = batchTimer(model, opts.batchSize);
  try {
    return await medianTime(timer, opts.warmup ?? 3, opts.runs ?? 10);
  } finally {
    timer.dispose();
  }
}

/** What {@link compareLatency} measured. */
export interface LatencyComparison {
  /** Median over rounds of each model's median batch time (ms), in the order given. */
  ms: number[];
  /** Median over rounds of `ms[0] / ms[i]` within the round: the speed-up of model i. */
  speedUp: number[];
}

/**
 * Latencies of several models measured side by side: `rounds` (default 5)
 * rounds, each timing every model in turn for `runs` (default 10) batches
 * after `warmup` (default 2) untimed ones. A speed-up is taken within a round
 * and then the median over rounds, so load that comes and goes on a shared
 * machine moves both sides of each ratio instead of one (timing a base model
 * and its pruned version minutes apart can be off by a factor of 1.5).
 *
 * @example
 * ```ts
 * const { ms, speedUp } = await compareLatency([base, pruned], { batchSize: 64 });
 * console.log(`x${speedUp[1].toFixed(2)} faster`);
 * ```
 */
export async function compareLatency(
  models: tf.LayersModel[],
  opts: { batchSize: number; rounds?: number; runs?: number; warmup?: number },
): Promise<LatencyComparison> {
  const timers = models.map((m) => batchTimer(m, opts.batchSize));
  try {
    const rounds: number[][] = [];
    for (let r = 0; r < Math.max(1, opts.rounds ?? 5); r++) {
      const round: number[] = [];
      for (const t of timers) round.push(await medianTime(t, opts.warmup ?? 2, opts.runs ?? 10));
      rounds.push(round);
    }
    return {
      ms: models.map((_, i) => median(rounds.map((r) => r[i]))),
      speedUp: models.map((_, i) => median(rounds.map((r) => r[0] / r[i]))),
    };
  } finally {
    timers.forEach((t) => t.dispose());
  }
}

/** Total bytes of the files in `dir` (recursively), e.g. a saved model. */
export function sizeOnDisk(dir: string): number {
  let bytes = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) bytes += sizeOnDisk(p);
    else if (e.isFile) bytes += Deno.statSync(p).size;
  }
  return bytes;
}
