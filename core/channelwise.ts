/**
 * The registry of channel-wise layers: layers that keep their input's channels
 * in place (output channel c depends only on input channel c), with zero or
 * more per-channel weights. The channel graph ({@link buildChannelGraph})
 * passes channels through them and slices their weights alongside a removed
 * channel; a plugin with its own such layer registers it once, on import.
 *
 * Every weight of a registered layer is per-channel along its last axis,
 * unless `axes` names another axis for it. A `check` that finds a config
 * that is not channel-wise (BatchNormalization over an axis other than the
 * channels, a channelsFirst pooling, a depthwise conv with depthMultiplier 2)
 * does not fail the graph: the layer's channels are pinned (not prunable),
 * with the reason in `ChannelGroup.reason`.
 *
 * @example
 * ```ts
 * registerChannelwiseLayer("SigmoidBatchNorm"); // theta, moving_mean, moving_variance: last axis
 * registerChannelwiseLayer("MyScale", { axes: { scale: 0 } });
 * ```
 * @module
 */

/** How the channel graph treats a channel-wise layer class. */
export interface ChannelwiseLayer {
  /** Channel axis of a weight by its param name (`depthwise_kernel`), default: its last axis. */
  axes?: Record<string, number>;
  /**
   * Returns why a layer's config is not channel-wise for an input of shape
   * `inShape` (batch axis dropped), or undefined. When it says why, the
   * layer's input and output channels are pinned with that reason.
   */
  check?: (config: Record<string, unknown>, inShape: number[]) => string | undefined;
}

/**
 * A layer config's axis (a number, or a one-element list as Keras saves it,
 * negative from the end) as an index into a tensor of `rank` axes (batch
 * included), or undefined when it is not one axis.
 *
 * @example
 * ```ts
 * resolveAxis([3], 4); // 3
 * resolveAxis(-1, 2); // 1
 * ```
 */
export function resolveAxis(axis: unknown, rank: number): number | undefined {
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : undefined) : axis;
  if (typeof a !== "number" || !Number.isInteger(a)) return undefined;
  const i = a < 0 ? a + rank : a;
  return i >= 0 && i < rank ? i : undefined;
}

/** Why a normalization's `axis` is not the channel axis of an input of shape `inShape`. */
const overChannels = (config: Record<string, unknown>, inShape: number[]) =>
  resolveAxis(config.axis ?? -1, inShape.length + 1) === inShape.length
    ? undefined
    : `normalizes over axis ${JSON.stringify(config.axis)}, not the channel axis`;

const channelsLast = (config: Record<string, unknown>) =>
  config.dataFormat === "channelsFirst" ? "is channelsFirst (channels are not last)" : undefined;

const registry = new Map<string, ChannelwiseLayer>([
  ["BatchNormalization", { check: overChannels }],
  ["SigmoidBatchNorm", { check: overChannels }],
  ["MaskedReLU", {}],
  ["DepthwiseConv2D", {
    axes: { depthwise_kernel: 2 },
    check: (c) =>
      c.depthMultiplier !== undefined && c.depthMultiplier !== 1
        ? `has depthMultiplier ${c.depthMultiplier} (output channels c*m..c*m+m-1 per input channel)`
        : channelsLast(c),
  }],
  ["Activation", {
    check: (c) => c.activation === "softmax" ? "applies a softmax across channels" : undefined,
  }],
  ["PReLU", {
    check: (c, inShape) =>
      Array.isArray(c.sharedAxes) && c.sharedAxes.includes(inShape.length)
        ? "shares one alpha across channels"
        : undefined,
  }],
  ["Masking", {
    // A removed channel held at zero changes no mask when the mask value is 0.
    check: (c) =>
      (c.maskValue ?? 0) === 0
        ? undefined
        : `masks time steps by all channels (maskValue ${c.maskValue})`,
  }],
  ...[
    "ReLU",
    "LeakyReLU",
    "ELU",
    "ThresholdedReLU",
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "RepeatVector",
    "Rescaling",
    "Resizing",
    "CenterCrop",
    "RandomWidth",
    "RandomHeight",
  ].map((name): [string, ChannelwiseLayer] => [name, {}]),
  ...[
    "ZeroPadding2D",
    "Cropping2D",
    "UpSampling2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "MaxPooling3D",
    "AveragePooling3D",
  ].map((name): [string, ChannelwiseLayer] => [name, { check: channelsLast }]),
]);

/**
 * Registers (or replaces) a channel-wise layer class by its serialized class
 * name, so channel graphs pass channels through it and surgery slices its
 * per-channel weights.
 */
export function registerChannelwiseLayer(className: string, spec: ChannelwiseLayer = {}): void {
  registry.set(className, spec);
}

/** The registration of a class name, if it is a channel-wise layer. */
export function channelwiseLayer(className: string): ChannelwiseLayer | undefined {
  return registry.get(className);
}

/** Class names of all registered channel-wise layers. */
export function channelwiseLayerNames(): string[] {
  return [...registry.keys()];
}
