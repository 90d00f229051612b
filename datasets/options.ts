/**
 * Options every loader accepts.
 * @module
 */
import type { Augmentation } from "./batch_fill.ts";
import { DatasetError } from "./errors.ts";

/**
 * How to load a dataset.
 *
 * @example
 * ```ts
 * const ds = await loadDataset("cifar10", { dataDir: "/data/cifar", limitTrain: 5000 });
 * ```
 */
export interface LoadOptions {
  /** Directory holding the dataset's files (each loader documents its layout and default). */
  dataDir?: string;
  /** Keep at most this many training examples (the first ones, in the dataset's stored order). */
  limitTrain?: number;
  /** Keep at most this many test examples. */
  limitTest?: number;
  /** Seed for generated data (`synthetic`); default 0. */
  seed?: number;
  /** Side of the square images `image-folder` resizes to (default 224). */
  imageSize?: number;
  /** Override the dataset's crop padding for augmentation (pixels, 0 = no crop). */
  augmentPad?: number;
  /** Override whether augmentation flips horizontally. */
  augmentFlip?: boolean;
}

/** The dataset's default augmentation with the options' overrides applied. */
export function augmentationFor(defaults: Augmentation, opts: LoadOptions): Augmentation {
  return { pad: opts.augmentPad ?? defaults.pad, flip: opts.augmentFlip ?? defaults.flip };
}

/** A limit option as a count (Infinity when unset); must be a non-negative integer. */
export function limitOf(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new DatasetError(`example limit must be a non-negative integer, got ${limit}`);
  }
  return limit;
}
