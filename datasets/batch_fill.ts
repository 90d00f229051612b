/**
 * Turns stored uint8 pixels into one normalised (and optionally augmented)
 * float32 batch in a single pass over typed arrays.
 * @module
 */
import type { Rng } from "@shears/core";

/** Per-channel mean and standard deviation on the [0, 1] pixel scale. */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/** Training augmentation: random crop after zero padding, and horizontal flip. */
export interface Augmentation {
  /** Zero padding (pixels) on each side before the random crop back to size; 0 = no crop. */
  pad: number;
  /** Flip horizontally with probability 1/2. */
  flip: boolean;
}

/**
 * A lookup table `lut[c * 256 + v] = (v / 255 - mean[c]) / std[c]` for every
 * channel `c` and byte `v`, so normalising a pixel is one indexed load.
 */
export function normalizationTable(norm: Normalization, channels: number): Float32Array {
  const lut = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    const mean = norm.mean[norm.mean.length === 1 ? 0 : c];
    const std = norm.std[norm.std.length === 1 ? 0 : c];
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean) / std;
  }
  return lut;
}

/** Where one batch's examples come from and how they are laid out. */
export interface FillSpec {
  /** All examples of the split, `h * w * c` bytes each, HWC. */
  pixels: Uint8Array;
  /** Example indices of this batch, in order. */
  indices: ArrayLike<number>;
  h: number;
  w: number;
  c: number;
  /** From {@link normalizationTable}. */
  lut: Float32Array;
  /** Augmentation and its random source, or null for none. */
  augment: { pad: number; flip: boolean; rng: Rng } | null;
}

/**
 * Writes the normalised batch into `out` (length `indices.length * h * w * c`).
 * With augmentation each example draws, in order, a crop offset (dy, dx) in
 * [-pad, pad] and, if flipping is on, a coin: output pixel (y, x) is source
 * pixel (y + dy, (flip ? w - 1 - x : x) + dx), or zero (before normalisation)
 * where that falls outside the image — torchvision's
 * `RandomCrop(size, padding=pad)` followed by `RandomHorizontalFlip()`.
 */
export function fillBatch(out: Float32Array, spec: FillSpec): void {
  const { pixels, indices, h, w, c, lut, augment } = spec;
  const hwc = h * w * c;
  for (let k = 0; k < indices.length; k++) {
    const src = indices[k] * hwc;
    const dst = k * hwc;
    if (augment === null) {
      for (let p = 0, ch = 0; p < hwc; p++) {
        out[dst + p] = lut[ch * 256 + pixels[src + p]];
        if (++ch === c) ch = 0;
      }
      continue;
    }
    const { pad, rng } = augment;
    const dy = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
    const dx = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
    const flip = augment.flip && rng.next() < 0.5;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        const o = dst + (y * w + x) * c;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
          for (let ch = 0; ch < c; ch++) out[o + ch] = lut[ch * 256];
        } else {
          const s = src + (sy * w + sx) * c;
          for (let ch = 0; ch < c; ch++) out[o + ch] = lut[ch * 256 + pixels[s + ch]];
        }
      }
    }
  }
}
