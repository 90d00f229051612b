/**
 * A dataset's input shape and class count without loading its examples, so
 * a pipeline can check models, teachers and budgets against the data before
 * the (long) load: fixed for the built-in sets, read from the class list
 * (folder names, `wnids.txt`) for image folders and Tiny-ImageNet.
 *
 * @example
 * ```ts
 * await datasetShape("cifar10"); // { inputShape: [32, 32, 3], numClasses: 10 }
 * ```
 * @module
 */
import { DatasetError } from "./errors.ts";
import { datasetRoot, listDir, readBytes } from "./files.ts";
import { datasetNames } from "./load.ts";
import type { LoadOptions } from "./options.ts";

/** What a model must take and give for a dataset. */
export interface DatasetShape {
  /** Per-example input shape, e.g. [28, 28, 1]. */
  inputShape: number[];
  numClasses: number;
}

const FIXED: Record<string, DatasetShape> = {
  "mnist": { inputShape: [28, 28, 1], numClasses: 10 },
  "fashion-mnist": { inputShape: [28, 28, 1], numClasses: 10 },
  "cifar10": { inputShape: [32, 32, 3], numClasses: 10 },
  "cifar100": { inputShape: [32, 32, 3], numClasses: 100 },
  "synthetic": { inputShape: [8, 8, 3], numClasses: 4 },
};

/**
 * The shape `loadDataset(name, opts)` would give, read without loading the
 * examples. Unknown names and missing class lists are {@link DatasetError}s.
 */
export async function datasetShape(name: string, opts: LoadOptions = {}): Promise<DatasetShape> {
  const fixed = FIXED[name];
  if (fixed) return structuredClone(fixed);
  if (name === "image-folder") {
    if (!opts.dataDir) throw new DatasetError("image-folder needs --data_dir");
    const classes = await listDir(`${opts.dataDir}/train`, "dirs", "train/<class>/<image>");
    const size = opts.imageSize ?? 224;
    return { inputShape: [size, size, 3], numClasses: classes.length };
  }
  if (name === "tiny-imagenet") {
    if (!opts.dataDir) throw new DatasetError("tiny-imagenet needs a data directory");
    const root = await datasetRoot(opts.dataDir, "tiny-imagenet-200", "wnids.txt");
    const text = new TextDecoder().decode(await readBytes(`${root}/wnids.txt`, "wnids.txt"));
    const wnids = new Set(text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s));
    return { inputShape: [64, 64, 3], numClasses: wnids.size };
  }
  throw new DatasetError(`unknown dataset "${name}"; known: ${datasetNames.join(", ")}`);
}
