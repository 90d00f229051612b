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

/**
 * Throws one clear line if `opts` is unusable for model `name`: `rank` is the
 * required length of inputShape (omitted = any length >= 1); `minSide` the
 * smallest spatial side (H, W) accepted for rank-3 inputs.
 */
export function checkOptions(name: string, opts: ModelOptions, rank?: number, minSide = 1): void {
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
