/**
 * The dataset registry: names to loaders.
 * @module
 */
import { loadCifar10, loadCifar100 } from "./cifar.ts";
import { DatasetError } from "./errors.ts";
import { loadImageFolder, loadTinyImagenet } from "./image_folder.ts";
import type { InMemoryDataset } from "./in_memory.ts";
import { loadFashionMnist, loadMnist } from "./mnist.ts";
import type { LoadOptions } from "./options.ts";
import { syntheticDataset } from "./synthetic.ts";

const LOADERS: Record<string, (opts: LoadOptions) => Promise<InMemoryDataset>> = {
  "mnist": loadMnist,
  "fashion-mnist": loadFashionMnist,
  "cifar10": loadCifar10,
  "cifar100": loadCifar100,
  "tiny-imagenet": loadTinyImagenet,
  "image-folder": loadImageFolder,
  "synthetic": (opts) =>
    Promise.resolve(
      syntheticDataset({ n: opts.limitTrain, nTest: opts.limitTest, seed: opts.seed }),
    ),
};

/** Names `loadDataset` accepts. */
export const datasetNames: readonly string[] = Object.freeze(Object.keys(LOADERS));

/**
 * Loads a dataset by name into memory. `synthetic` takes its train and test
 * sizes from `limitTrain` / `limitTest` (defaults 512 / 128).
 *
 * @throws {DatasetError} for an unknown name (listing the known ones) or missing/malformed files.
 * @example
 * ```ts
 * const ds = await loadDataset("mnist");
 * ds.inputShape; // [28, 28, 1]
 * ```
 */
export async function loadDataset(
  name: string,
  opts: LoadOptions = {},
): Promise<InMemoryDataset> {
  const loader = LOADERS[name];
  if (!loader) {
    throw new DatasetError(`unknown dataset "${name}"; known: ${datasetNames.join(", ")}`);
  }
  return await loader(opts);
}
