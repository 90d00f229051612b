/**
 * A generated, learnable dataset for tests and smoke runs.
 * @module
 */
import { Rng } from "@shears/core";
import { DatasetError } from "./errors.ts";
import { type Examples, InMemoryDataset } from "./in_memory.ts";

/** Options of {@link syntheticDataset}. */
export interface SyntheticOptions {
  /** Training examples (default 512). */
  n?: number;
  /** Test examples (default 128). */
  nTest?: number;
  /** [H, W, C] or [D] (default [8, 8, 3]). */
  inputShape?: number[];
  /** Number of classes (default 4). */
  numClasses?: number;
  /** Seed of the patterns and the noise (default 0). */
  seed?: number;
}

/**
 * A deterministic dataset whose classes are learnable: each class has a
 * pattern of 4x4 blocks (per channel, levels uniform in [32, 224]; for vector
 * shapes one level per value), and each example is its class's pattern plus
 * Gaussian noise (std 40 of 255), clipped to bytes. Labels cycle 0, 1, ...,
 * numClasses - 1. Train and test share the patterns and differ in noise.
 * Normalised with mean 0.5, std 0.27; augmentation crops with 1 px padding
 * and does not flip.
 *
 * @example
 * ```ts
 * const ds = syntheticDataset({ n: 64, nTest: 16, inputShape: [8, 8, 1], numClasses: 2 });
 * ds.size("train"); // 64
 * ```
 */
export function syntheticDataset(opts: SyntheticOptions = {}): InMemoryDataset {
  const { n = 512, nTest = 128, inputShape = [8, 8, 3], numClasses = 4, seed = 0 } = opts;
  if (!(inputShape.length === 1 || inputShape.length === 3) || inputShape.some((d) => !(d >= 1))) {
    throw new DatasetError(`synthetic input shape must be [H, W, C] or [D], got [${inputShape}]`);
  }
  for (const [what, v] of [["train size", n], ["test size", nTest]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new DatasetError(`synthetic ${what} must be a non-negative integer, got ${v}`);
    }
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new DatasetError(`synthetic needs at least 2 classes, got ${numClasses}`);
  }
  const [h, w, c] = inputShape.length === 3 ? inputShape : [1, inputShape[0], 1];
  const [bh, bw] = inputShape.length === 3 ? [Math.min(4, h), Math.min(4, w)] : [1, w];
  const per = h * w * c;
  const rng = new Rng(seed);
  const patterns = Array.from({ length: numClasses }, () => {
    const blocks = Float64Array.from({ length: bh * bw * c }, () => 32 + 192 * rng.next());
    const p = new Float64Array(per);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const b = (Math.floor((y * bh) / h) * bw + Math.floor((x * bw) / w)) * c;
        for (let ch = 0; ch < c; ch++) p[(y * w + x) * c + ch] = blocks[b + ch];
      }
    }
    return p;
  });
  const make = (count: number): Examples => {
    const pixels = new Uint8Array(count * per);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      labels[i] = i % numClasses;
      const p = patterns[labels[i]];
      for (let j = 0; j < per; j++) {
        pixels[i * per + j] = Math.min(255, Math.max(0, Math.round(p[j] + 40 * rng.normal())));
      }
    }
    return { pixels, labels };
  };
  return new InMemoryDataset({
    name: "synthetic",
    inputShape,
    numClasses,
    train: make(n),
    test: make(nTest),
    normalization: { mean: [0.5], std: [0.27] },
    augmentation: { pad: 1, flip: false },
  });
}
