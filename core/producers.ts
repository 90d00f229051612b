/**
 * The registry of producer layers: layers whose output channels are new,
 * each made by one slice of a kernel (a Conv2D's filters, a Dense layer's
 * units, an Embedding's dimensions). The channel graph makes a fresh channel
 * for each output channel of a producer, and records the weights that read
 * its input channels (so a removed input channel removes their rows). Surgery
 * shrinks the config key `count` when output channels go.
 *
 * Besides the `kernel`, every other weight of a producer that does not read
 * its input (a bias) is per output channel along its last axis.
 *
 * @example
 * ```ts
 * // A custom conv whose weight "w" is [kh, kw, in, out], filter count in config "filters"
 * registerProducerLayer("MyConv", {
 *   kernel: "w",
 *   out: -1,
 *   reads: { w: -2 },
 *   count: "filters",
 * });
 * ```
 * @module
 */

/** How the channel graph and surgery treat a producer layer class. */
export interface ProducerLayer {
  /** Param name of the weight that makes the output channels (`kernel`, `pointwise_kernel`). */
  kernel: string;
  /** The kernel's axis over output channels; negative counts from the end. */
  out: number;
  /**
   * Weights that read the input channels: param name -> axis over input
   * channels (negative from the end). None: the input is not channels (an
   * Embedding's token ids), and it is pinned.
   */
  reads: Record<string, number>;
  /** Config key holding the number of output channels (`filters`, `units`, `outputDim`). */
  count: string;
  /**
   * Returns why a layer's config cannot be sliced for an input of shape
   * `inShape` (batch axis dropped), or undefined; when it says why, the
   * layer's input and output channels are pinned with that reason.
   */
  check?: (config: Record<string, unknown>, inShape: number[]) => string | undefined;
}

const channelsLast = (config: Record<string, unknown>) =>
  config.dataFormat === "channelsFirst" ? "is channelsFirst (channels are not last)" : undefined;

const conv: ProducerLayer = { kernel: "kernel", out: -1, reads: { kernel: -2 }, count: "filters" };
const transpose: ProducerLayer = { ...conv, out: -2, reads: { kernel: -1 } };

const registry = new Map<string, ProducerLayer>([
  ["Dense", { kernel: "kernel", out: -1, reads: { kernel: -2 }, count: "units" }],
  ["Conv1D", { ...conv, check: channelsLast }],
  ["Conv2D", { ...conv, check: channelsLast }],
  ["Conv3D", { ...conv, check: channelsLast }],
  ["Conv2DTranspose", { ...transpose, check: channelsLast }],
  ["Conv3DTranspose", { ...transpose, check: channelsLast }],
  ["SeparableConv2D", {
    kernel: "pointwise_kernel",
    out: -1,
    reads: { depthwise_kernel: -2, pointwise_kernel: -2 },
    count: "filters",
    check: (c) =>
      c.depthMultiplier !== undefined && c.depthMultiplier !== 1
        ? `has depthMultiplier ${c.depthMultiplier} (pointwise rows c*m..c*m+m-1 per input channel)`
        : channelsLast(c),
  }],
  ["Embedding", { kernel: "embeddings", out: -1, reads: {}, count: "outputDim" }],
]);

/**
 * Registers (or replaces) a producer layer class by its serialized class name.
 * @example
 * ```ts
 * registerProducerLayer("MyDense", { kernel: "w", out: -1, reads: { w: -2 }, count: "units" });
 * ```
 */
export function registerProducerLayer(className: string, spec: ProducerLayer): void {
  registry.set(className, spec);
}

/**
 * The registration of a class name, if it is a producer layer.
 * @example
 * ```ts
 * producerLayer("Conv2DTranspose")?.out; // -2: kernel [kh, kw, out, in]
 * ```
 */
export function producerLayer(className: string): ProducerLayer | undefined {
  return registry.get(className);
}

/**
 * Class names of all registered producer layers.
 * @example
 * ```ts
 * producerLayerNames().includes("SeparableConv2D"); // true
 * ```
 */
export function producerLayerNames(): string[] {
  return [...registry.keys()];
}
