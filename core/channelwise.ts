/**
 * The registry of channel-wise layers: layers that keep their input's channels
 * in place (output channel c depends only on input channel c), with zero or
 * more per-channel weights. The channel graph ({@link buildChannelGraph})
 * passes channels through them and slices their weights alongside a removed
 * channel; a plugin with its own such layer registers it once, on import.
 *
 * Every weight of a registered layer is per-channel along its last axis,
 * unless `axes` names another axis for it.
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
  /** Returns why a layer's config is not channel-wise (it is then rejected), or undefined. */
  check?: (config: Record<string, unknown>) => string | undefined;
}

const lastAxis = (config: Record<string, unknown>) =>
  config.axis === undefined || config.axis === -1 || (Array.isArray(config.axis) &&
      config.axis.length === 1 && config.axis[0] === -1)
    ? undefined
    : `normalizes over axis ${
      JSON.stringify(config.axis)
    }; only the channel axis (-1) is supported`;

const registry = new Map<string, ChannelwiseLayer>([
  ["BatchNormalization", { check: lastAxis }],
  ["SigmoidBatchNorm", { check: lastAxis }],
  ["MaskedReLU", {}],
  ["DepthwiseConv2D", {
    axes: { depthwise_kernel: 2 },
    check: (c) =>
      c.depthMultiplier !== undefined && c.depthMultiplier !== 1
        ? `has depthMultiplier ${c.depthMultiplier}; only 1 is supported`
        : c.dataFormat === "channelsFirst"
        ? "is channelsFirst; only channelsLast is supported"
        : undefined,
  }],
  ...[
    "ReLU",
    "Activation",
    "LeakyReLU",
    "ELU",
    "Dropout",
    "ZeroPadding2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
  ].map((name): [string, ChannelwiseLayer] => [name, {
    check: (c) =>
      c.dataFormat === "channelsFirst"
        ? "is channelsFirst; only channelsLast is supported"
        : undefined,
  }]),
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
