/**
 * CIFAR-10 and CIFAR-100, binary versions: records of label byte(s) then
 * 3072 bytes of 32x32 pixels stored channel-major (all R, all G, all B).
 * @module
 */
import { DatasetError } from "./errors.ts";
import { checkLabels, datasetRoot, readBytes } from "./files.ts";
import { type Examples, InMemoryDataset } from "./in_memory.ts";
import { augmentationFor, limitOf, type LoadOptions } from "./options.ts";

const PIXELS = 32 * 32;

interface CifarFormat {
  name: string;
  numClasses: number;
  /** Label bytes before the pixels of each record; the last one is the label used. */
  labelBytes: number;
  sub: string;
  train: string[];
  test: string[];
  mean: number[];
  std: number[];
  url: string;
}

const CIFAR10: CifarFormat = {
  name: "cifar10",
  numClasses: 10,
  labelBytes: 1,
  sub: "cifar-10-batches-bin",
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ["test_batch.bin"],
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.247, 0.2435, 0.2616],
  url: "download the CIFAR-10 binary version from https://www.cs.toronto.edu/~kriz/cifar.html",
};

const CIFAR100: CifarFormat = {
  name: "cifar100",
  numClasses: 100,
  labelBytes: 2,
  sub: "cifar-100-binary",
  train: ["train.bin"],
  test: ["test.bin"],
  mean: [0.5071, 0.4865, 0.4409],
  std: [0.2673, 0.2564, 0.2762],
  url: "download the CIFAR-100 binary version from https://www.cs.toronto.edu/~kriz/cifar.html",
};

/**
 * CIFAR-10 from `dataDir` (or `dataDir/cifar-10-batches-bin`):
 * `data_batch_1..5.bin` (train) and `test_batch.bin`, records of 1 label byte +
 * 3072 pixel bytes (CHW). 32x32x3, 10 classes; augmentation crops with 4 px
 * padding and flips.
 */
export function loadCifar10(opts: LoadOptions = {}): Promise<InMemoryDataset> {
  return loadCifar(CIFAR10, opts);
}

/**
 * CIFAR-100 from `dataDir` (or `dataDir/cifar-100-binary`): `train.bin` and
 * `test.bin`, records of coarse label byte + fine label byte + 3072 pixel bytes
 * (CHW). Labels are the 100 fine classes; 32x32x3; augmentation as CIFAR-10.
 */
export function loadCifar100(opts: LoadOptions = {}): Promise<InMemoryDataset> {
  return loadCifar(CIFAR100, opts);
}

async function loadCifar(fmt: CifarFormat, opts: LoadOptions): Promise<InMemoryDataset> {
  if (!opts.dataDir) {
    throw new DatasetError(`${fmt.name} needs a data directory: ${fmt.url} and pass --data_dir`);
  }
  const dir = await datasetRoot(opts.dataDir, fmt.sub, fmt.test[0]);
  const train = await readRecords(fmt, dir, fmt.train, limitOf(opts.limitTrain));
  const test = await readRecords(fmt, dir, fmt.test, limitOf(opts.limitTest));
  return new InMemoryDataset({
    name: fmt.name,
    inputShape: [32, 32, 3],
    numClasses: fmt.numClasses,
    train,
    test,
    normalization: { mean: fmt.mean, std: fmt.std },
    augmentation: augmentationFor({ pad: 4, flip: true }, opts),
  });
}

/** Reads files in order until `limit` records, converting CHW records to HWC. */
async function readRecords(
  fmt: CifarFormat,
  dir: string,
  files: string[],
  limit: number,
): Promise<Examples> {
  const record = fmt.labelBytes + 3 * PIXELS;
  const expected = `the ${fmt.name} binary format (records of ${record} bytes); ${fmt.url}`;
  const chunks: { bytes: Uint8Array; n: number }[] = [];
  let total = 0;
  for (const file of files) {
    if (total >= limit) break;
    const path = `${dir}/${file}`;
    const bytes = await readBytes(path, expected);
    if (bytes.length === 0 || bytes.length % record !== 0) {
      throw new DatasetError(
        `${path}: ${bytes.length} bytes is not a whole number of ${record}-byte records; expected ${expected}`,
      );
    }
    const n = Math.min(bytes.length / record, limit - total);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) labels[i] = bytes[i * record + fmt.labelBytes - 1];
    checkLabels(labels, fmt.numClasses, path);
    chunks.push({ bytes, n });
    total += n;
  }
  const pixels = new Uint8Array(total * 3 * PIXELS);
  const labels = new Int32Array(total);
  let k = 0;
  for (const { bytes, n } of chunks) {
    for (let i = 0; i < n; i++, k++) {
      const src = i * record + fmt.labelBytes;
      labels[k] = bytes[src - 1];
      const dst = k * 3 * PIXELS;
      for (let p = 0; p < PIXELS; p++) {
        pixels[dst + 3 * p] = bytes[src + p];
        pixels[dst + 3 * p + 1] = bytes[src + PIXELS + p];
        pixels[dst + 3 * p + 2] = bytes[src + 2 * PIXELS + p];
      }
    }
  }
  return { pixels, labels };
}
