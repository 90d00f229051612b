/**
 * The `Dataset` every loader returns: uint8 pixels held in memory, normalised
 * (and augmented) per batch on the JS side, one tensor per batch.
 * @module
 */
import { type Batch, type BatchOptions, type Dataset, Rng, type Split, tf } from "@shears/core";
import { DatasetError } from "./errors.ts";
import { limitOf } from "./options.ts";
import {
  type Augmentation,
  fillBatch,
  type Normalization,
  normalizationTable,
} from "./batch_fill.ts";

/** The examples of one split: `labels.length` images of `prod(inputShape)` bytes each, HWC. */
export interface Examples {
  pixels: Uint8Array;
  labels: Int32Array;
}

/** Everything an {@link InMemoryDataset} is made of. */
export interface InMemoryConfig {
  name: string;
  /** [H, W, C] for images, [D] for vectors (vectors are never augmented). */
  inputShape: number[];
  numClasses: number;
  train: Examples;
  test: Examples;
  normalization: Normalization;
  /** Used when `batches(..., { augment: true })`. */
  augmentation: Augmentation;
  /** Optional class names, index = label. */
  classNames?: readonly string[];
}

/**
 * A dataset held in memory as uint8 pixels (1 byte per value) with int32
 * labels. `batches` normalises with the dataset's per-channel mean/std,
 * shuffles and augments with an `Rng` seeded by `seed` and `epoch`, and yields
 * one `x` (float32, [N, ...inputShape]) and one `y` (int32, [N]) tensor per
 * batch, created only when the batch is reached.
 *
 * Shuffling and augmentation are deterministic: the same `seed` and `epoch`
 * give the same order and the same crops and flips. `limit` keeps the first
 * `limit` examples of the split (a fixed subset), then shuffles those.
 *
 * @example
 * ```ts
 * const ds = syntheticDataset({ n: 64 });
 * for (const { x, y } of ds.batches("train", { batchSize: 16, augment: true, seed: 1, epoch: 0 })) {
 *   x.dispose(); y.dispose();
 * }
 * ```
 */
export class InMemoryDataset implements Dataset {
  /** Registry name. */
  readonly name: string;
  /** Shape of one example. */
  readonly inputShape: number[];
  /** Number of classes. */
  readonly numClasses: number;
  /** Per-channel mean/std (on [0, 1]) that `batches` normalises with. */
  readonly normalization: Normalization;
  /** The augmentation `batches` applies when asked to. */
  readonly augmentation: Augmentation;
  /** Class names, index = label, where the source has them. */
  readonly classNames?: readonly string[];
  readonly #splits: Record<Split, Examples>;
  readonly #lut: Float32Array;
  readonly #hwc: [number, number, number];

  /** @param cfg pixels, labels and per-dataset settings; sizes must agree. */
  constructor(cfg: InMemoryConfig) {
    this.name = cfg.name;
    this.inputShape = [...cfg.inputShape];
    this.numClasses = cfg.numClasses;
    this.normalization = cfg.normalization;
    this.classNames = cfg.classNames;
    const shape = cfg.inputShape;
    this.#hwc = shape.length === 3 ? [shape[0], shape[1], shape[2]] : [1, shape[0], 1];
    this.augmentation = shape.length === 3 ? cfg.augmentation : { pad: 0, flip: false };
    const per = shape.reduce((a, b) => a * b, 1);
    for (const split of ["train", "test"] as const) {
      const { pixels, labels } = cfg[split];
      if (pixels.length !== labels.length * per) {
        throw new Error(
          `${cfg.name} ${split}: ${pixels.length} bytes for ${labels.length} examples of ${per}`,
        );
      }
    }
    this.#splits = { train: cfg.train, test: cfg.test };
    this.#lut = normalizationTable(cfg.normalization, this.#hwc[2]);
  }

  /** Number of examples in a split. */
  size(split: Split): number {
    return this.#splits[split].labels.length;
  }

  /** Batches of a split; the caller disposes each batch's `x` and `y`. */
  *batches(split: Split, opts: BatchOptions): Generator<Batch> {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new DatasetError(`batch size must be a positive integer, got ${batchSize}`);
    }
    const { pixels, labels } = this.#splits[split];
    const n = Math.min(labels.length, limitOf(opts.limit));
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const rng = new Rng(mixSeed(opts.seed ?? 0, opts.epoch ?? 0));
    const shuffleRng = rng.fork();
    const augmentRng = rng.fork();
    if (opts.shuffle ?? split === "train") shuffleRng.shuffle(order);
    const { pad, flip } = this.augmentation;
    const augment = opts.augment && (pad > 0 || flip) ? { pad, flip, rng: augmentRng } : null;
    const [h, w, c] = this.#hwc;
    const end = opts.dropLast ? n - (n % batchSize) : n;
    for (let start = 0; start < end; start += batchSize) {
      const indices = order.subarray(start, Math.min(start + batchSize, end));
      const xs = new Float32Array(indices.length * h * w * c);
      fillBatch(xs, { pixels, indices, h, w, c, lut: this.#lut, augment });
      const ys = new Int32Array(indices.length);
      for (let k = 0; k < indices.length; k++) ys[k] = labels[indices[k]];
      yield {
        x: tf.tensor(xs, [indices.length, ...this.inputShape], "float32"),
        y: tf.tensor1d(ys, "int32"),
      };
    }
  }
}

/** One 32-bit seed from (seed, epoch), so each epoch gets its own stream. */
function mixSeed(seed: number, epoch: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x85ebca6b, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ (epoch >>> 0), 0x1b873593);
  return (h ^ (h >>> 13)) >>> 0;
}
