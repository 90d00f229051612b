/**
 * The dataset contract every loader in `datasets/` implements and every
 * training or scoring loop in `core/` consumes.
 * @module
 */
import type { tf } from "./tf.ts";

/** Which part of a dataset. */
export type Split = "train" | "test";

/** One batch: images (N,H,W,C) or vectors (N,D), float32, normalised; labels int32 (N). */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor1D;
}

/** How to iterate a split. */
export interface BatchOptions {
  batchSize: number;
  /** Shuffle the order (seeded by `seed` and `epoch`). Default: true for train. */
  shuffle?: boolean;
  /** Apply the dataset's training augmentation. Default: false. */
  augment?: boolean;
  /** Seed for shuffling and augmentation. */
  seed?: number;
  /** Epoch number, mixed into the seed so each epoch differs but repeats. */
  epoch?: number;
  /** Use at most this many examples of the split. */
  limit?: number;
  /** Drop a last partial batch. Default: false. */
  dropLast?: boolean;
}

/**
 * A labelled image or vector dataset held in memory.
 *
 * `batches` yields tensors the caller owns: dispose `x` and `y` of each batch.
 *
 * @example
 * ```ts
 * for (const { x, y } of ds.batches("test", { batchSize: 128 })) {
 *   // ... use x, y
 *   x.dispose(); y.dispose();
 * }
 * ```
 */
export interface Dataset {
  /** Registry name, e.g. "mnist", "cifar10". */
  readonly name: string;
  /** Shape of one example, e.g. [28, 28, 1]. */
  readonly inputShape: number[];
  /** Number of classes. */
  readonly numClasses: number;
  /** Number of examples in a split. */
  size(split: Split): number;
  /** Batches of a split; the caller disposes each batch's tensors. */
  batches(split: Split, opts: BatchOptions): Iterable<Batch>;
}

/** Number of batches `batches(split, opts)` will yield. */
export function batchCount(ds: Dataset, split: Split, opts: BatchOptions): number {
  const n = Math.min(ds.size(split), opts.limit ?? Infinity);
  return opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);
}
