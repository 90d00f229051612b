/**
 * Shears core: the engine every plugin and pipeline builds on. It knows no
 * pruning method by name.
 * @module
 */
export { tf } from "./tf.ts";
export * from "./read.ts";
export * from "./rng.ts";
export * from "./data.ts";
export * from "./pipeline.ts";
export * from "./plugin.ts";
export * from "./budget.ts";
export * from "./units.ts";
export * from "./parts.ts";
export * from "./masks.ts";
export { MaskedReLU } from "./layers/masked_relu.ts";
export { ChannelPadShortcut, type ChannelPadShortcutArgs } from "./layers/channel_pad_shortcut.ts";
export * from "./backend.ts";
export * from "./train.ts";
export * from "./taps.ts";
export * from "./optim.ts";
export * from "./losses.ts";
export * from "./channelwise.ts";
export * from "./producers.ts";
export * from "./graph.ts";
export * from "./rewrite.ts";
export * from "./surgery.ts";
export * from "./bn_fold.ts";
export * from "./deploy.ts";
export * from "./stages/mod.ts";
export * from "./export/mod.ts";
export * from "./stages/export.ts";
export * from "./run.ts";

export * from "./errors.ts";
export * from "./metrics.ts";
export * from "./io.ts";
export * from "./liveness.ts";
export * from "./checkpoint.ts";
export * from "./finite.ts";
export * from "./flags.ts";
export * from "./cli.ts";
export * from "./plot.ts";
export * from "./format.ts";
