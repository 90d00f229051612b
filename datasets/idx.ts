/**
 * MNIST-format (IDX) files: `train-images-idx3-ubyte[.gz]` and friends, as
 * shipped for MNIST and Fashion-MNIST.
 * @module
 */
import { DatasetError } from "./errors.ts";
import { checkLabels, exists, gunzip, readBytes } from "./files.ts";
import type { Examples } from "./in_memory.ts";
import { limitOf, type LoadOptions } from "./options.ts";

/** Magic numbers of unsigned-byte IDX files: images (3 dims) and labels (1 dim). */
export const IDX_IMAGES = 2051;
/** Magic number of an IDX label file. */
export const IDX_LABELS = 2049;

/** A parsed IDX file: its dimensions and its bytes. */
export interface Idx {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parses an unsigned-byte IDX file strictly: the magic must be `magic`
 * (2051 images, 2049 labels) and the size exactly header + product of dims.
 */
export function parseIdx(bytes: Uint8Array, magic: number, path: string): Idx {
  const ndim = magic & 0xff;
  const what = `an IDX file with magic ${magic} (unsigned bytes, ${ndim} dims)`;
  const header = 4 + 4 * ndim;
  if (bytes.length < header) {
    throw new DatasetError(`${path}: ${bytes.length} bytes is too short for ${what}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const got = view.getInt32(0, false);
  if (got !== magic) throw new DatasetError(`${path}: magic number ${got}, expected ${what}`);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const want = header + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== want) {
    throw new DatasetError(
      `${path}: ${bytes.length} bytes, expected ${want} for ${what} of dims ${dims.join("x")}`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}

/** Reads `dir/stem.gz` (gunzipped) or else `dir/stem` and parses it as IDX. */
export async function readIdx(
  dir: string,
  stem: string,
  magic: number,
  hint: string,
): Promise<Idx> {
  const expected = `an IDX file with magic ${magic}${hint}`;
  const gz = `${dir}/${stem}.gz`;
  if (!(await exists(gz)) && (await exists(`${dir}/${stem}`))) {
    const path = `${dir}/${stem}`;
    return parseIdx(await readBytes(path, expected), magic, path);
  }
  return parseIdx(await gunzip(await readBytes(gz, expected), gz, expected), magic, gz);
}

/**
 * One split of an MNIST-layout directory (`prefix` = "train" or "t10k"):
 * 28x28 images and labels in [0, 10), the first `limit` examples.
 */
async function readIdxSplit(
  dir: string,
  prefix: string,
  limit: number,
  hint: string,
): Promise<Examples> {
  const images = await readIdx(dir, `${prefix}-images-idx3-ubyte`, IDX_IMAGES, hint);
  const labels = await readIdx(dir, `${prefix}-labels-idx1-ubyte`, IDX_LABELS, hint);
  const [n, h, w] = images.dims;
  const where = `${dir}/${prefix}-*-ubyte`;
  if (h !== 28 || w !== 28) {
    throw new DatasetError(`${where}: images are ${h}x${w}, expected 28x28`);
  }
  if (labels.dims[0] !== n) {
    throw new DatasetError(`${where}: ${n} images but ${labels.dims[0]} labels`);
  }
  const m = Math.min(n, limit);
  const ys = Int32Array.from(labels.data.subarray(0, m));
  checkLabels(ys, 10, `${dir}/${prefix}-labels-idx1-ubyte`);
  return { pixels: images.data.slice(0, m * h * w), labels: ys };
}

/**
 * Both splits of an MNIST-layout directory (train, then t10k), each cut to
 * `limitTrain` / `limitTest`; `hint` ends error messages (where to get the files).
 */
export async function readIdxDir(
  dir: string,
  opts: LoadOptions,
  hint: string,
): Promise<[Examples, Examples]> {
  const train = await readIdxSplit(dir, "train", limitOf(opts.limitTrain), hint);
  return [train, await readIdxSplit(dir, "t10k", limitOf(opts.limitTest), hint)];
}
