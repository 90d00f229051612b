/**
 * Shears datasets: in-memory loaders for MNIST (embedded), Fashion-MNIST,
 * CIFAR-10/100, Tiny-ImageNet, image folders and a synthetic set, all
 * implementing core's `Dataset`.
 *
 * @example
 * ```ts
 * import { loadDataset } from "@shears/datasets";
 * const ds = await loadDataset("mnist", { limitTrain: 1000 });
 * for (const { x, y } of ds.batches("train", { batchSize: 64, augment: true, seed: 1, epoch: 0 })) {
 *   x.dispose(); y.dispose();
 * }
 * ```
 * @module
 */
export { DatasetError } from "./errors.ts";
export { datasetNames, loadDataset } from "./load.ts";
export { type DatasetShape, datasetShape } from "./shape.ts";
export type { LoadOptions } from "./options.ts";
export { syntheticDataset, type SyntheticOptions } from "./synthetic.ts";
export { type Examples, type InMemoryConfig, InMemoryDataset } from "./in_memory.ts";
export type { Augmentation, Normalization } from "./batch_fill.ts";
export { FASHION_MNIST_DIR, loadFashionMnist, loadMnist } from "./mnist.ts";
export { loadCifar10, loadCifar100 } from "./cifar.ts";
export { loadImageFolder, loadTinyImagenet } from "./image_folder.ts";
