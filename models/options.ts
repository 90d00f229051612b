/**
 * Options shared by every model builder, and their validation: a shape,
 * width or option a builder cannot take is a {@link ModelOptionsError}, one
 * line naming the value and what is accepted, thrown before any weight is
 * made (pipelines print it without a stack trace and exit 2).
 *
 * @example
 * ```ts
 * checkOptions("vgg11_bn", { inputShape: [28, 28, 1], numClasses: 10 }, 3, 32);
 * // ModelOptionsError: vgg11_bn: inputShape spatial sides must be >= 32, got [28,28,1]
 * ```
 * @module
 */
import { markUserFacing } from "@shears/core";

/** A model option a builder cannot take (user-facing: one line, exit 2). */
export class ModelOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelOptionsError";
  }
}
markUserFacing(ModelOptionsError);

/** Options every builder accepts. */
export interface ModelOptions {
  /** Input shape without the batch axis, channels last: [H, W, C] (or [features] for `mlp`). */
  inputShape: number[];
  /** Number of output logits. */
  numClasses: number;
  /**
   * Channel (and hidden-unit) multiplier for tiny test variants, default 1.
   * Every width c becomes max(1, round(c * width)).
   */
  width?: number;
  /** Initial BatchNorm gamma, default 1 (the RNI baselines start at 0.5). */
  bnGammaInit?: number;
  /** Seed for the weight initialisers; omitted = unseeded (tfjs default randomness). */
  seed?: number;
}

/**
 * Scales a channel count by the width multiplier: max(1, round(c * width)).
 * @example
 * ```ts
 * scaleWidth(64, 0.125); // 8
 * ```
 */
export function scaleWidth(c: number, width = 1): number {
  return Math.max(1, Math.round(c * width));
}

/** The smallest spatial side (H, W) of each image model that needs more than 1. */
const MIN_SIDES: Record<string, number> = {
  vgg11_bn: 32,
  vgg16_bn: 32,
  vgg16: 32,
  mobilenet_v1: 32,
  mobilenet_v2: 32,
  mobilenet_v3_small: 32,
  resnet50: 32,
  se_resnet50: 32,
  densenet121: 32,
  efficientnet_b0: 32,
  inception_v3: 75,
  xception: 71,
  unet: 16,
};

/**
 * The smallest input side (H and W) the image model `name` can be built
 * for: 32 for the VGGs and most Keras applications, 75 for Inception-V3, 71
 * for Xception, 1 where any size goes. Pipelines zero-pad smaller images up
 * to it.
 * @example
 * ```ts
 * minInputSide("mobilenet_v2"); // 32
 * ```
 */
export function minInputSide(name: string): number {
  return Object.hasOwn(MIN_SIDES, name) ? MIN_SIDES[name] : 1;
}

/**
 * Throws one clear line if `opts` is unusable for model `name`: `rank` is the
 * required length of inputShape (omitted = any length >= 1); `minSide` the
 * smallest spatial side (H, W) accepted for rank-3 inputs (default
 * {@link minInputSide}).
 */
export function checkOptions(
  name: string,
  opts: ModelOptions,
  rank?: number,
  minSide = minInputSide(name),
): void {
  const { inputShape, numClasses, width = 1, bnGammaInit = 1 } = opts;
  const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  const rankOk = Array.isArray(inputShape) &&
    (rank === undefined ? inputShape.length >= 1 : inputShape.length === rank);
  if (!rankOk || !inputShape.every(positiveInt)) {
    throw new ModelOptionsError(
      `${name}: inputShape must be ${rank ?? "one or more"} positive integers, got ${
        JSON.stringify(inputShape)
      }`,
    );
  }
  if (rank === 3 && Math.min(inputShape[0], inputShape[1]) < minSide) {
    throw new ModelOptionsError(
      `${name}: inputShape spatial sides must be >= ${minSide}, got ${JSON.stringify(inputShape)}`,
    );
  }
  if (!positiveInt(numClasses)) {
    throw new ModelOptionsError(
      `${name}: numClasses must be a positive integer, got ${numClasses}`,
    );
  }
  if (!(typeof width === "number" && width > 0 && Number.isFinite(width))) {
    throw new ModelOptionsError(`${name}: width must be a finite number > 0, got ${width}`);
  }
  if (!Number.isFinite(bnGammaInit)) {
    throw new ModelOptionsError(`${name}: bnGammaInit must be a finite number, got ${bnGammaInit}`);
  }
}
