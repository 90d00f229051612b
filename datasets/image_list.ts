/**
 * Shared by the image-file datasets (`image-folder`, `tiny-imagenet`): read a
 * list of labelled image files into uint8 HWC examples of one fixed size.
 * @module
 */
import type { Augmentation, Normalization } from "./batch_fill.ts";
import { readBytes } from "./files.ts";
import { decodeImage, resizeBilinear } from "./images.ts";
import type { Examples } from "./in_memory.ts";

/** The ImageNet per-channel mean and std, used for natural-image folders. */
export const IMAGENET_NORMALIZATION: Normalization = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** Default augmentation for `size`x`size` images: pad size/8 (as CIFAR's 4 of 32), flip. */
export function imageAugmentation(size: number): Augmentation {
  return { pad: Math.round(size / 8), flip: true };
}

/** One labelled image file. */
export interface ImageRef {
  path: string;
  label: number;
}

/** Whether a file name has a PNG or JPEG extension. */
export function isImageFile(name: string): boolean {
  return /\.(png|jpe?g)$/i.test(name);
}

/**
 * Orders refs round-robin across classes (first image of each class, then the
 * second, ...), keeping each class's own order, so any prefix is balanced.
 */
export function interleaveByClass(refs: ImageRef[]): ImageRef[] {
  const byClass = new Map<number, ImageRef[]>();
  for (const r of refs) {
    const list = byClass.get(r.label) ?? [];
    list.push(r);
    byClass.set(r.label, list);
  }
  const lists = [...byClass.keys()].sort((a, b) => a - b).map((k) => byClass.get(k)!);
  const out: ImageRef[] = [];
  for (let i = 0; out.length < refs.length; i++) {
    for (const list of lists) if (i < list.length) out.push(list[i]);
  }
  return out;
}

/** Decodes the first `limit` refs, resized to `size`x`size` RGB. */
export async function readImages(refs: ImageRef[], size: number, limit: number): Promise<Examples> {
  const kept = refs.slice(0, Math.min(refs.length, limit));
  const per = size * size * 3;
  const pixels = new Uint8Array(kept.length * per);
  const labels = new Int32Array(kept.length);
  for (let k = 0; k < kept.length; k++) {
    const { path, label } = kept[k];
    const img = decodeImage(await readBytes(path, "a PNG or JPEG image"), path);
    pixels.set(resizeBilinear(img, size, size), k * per);
    labels[k] = label;
  }
  return { pixels, labels };
}
