/**
 * The seed's pruning schedule (`PrunningFineTuner_VGG16.prune`).
 * @module
 */

/** The reference settings: N filters per iteration, fine-tune epochs, SGD. */
export const REFERENCE = Object.freeze({
  filtersPerIteration: 512,
  finetuneEpochs: 10,
  finalEpochs: 15,
  lr: 1e-3,
  momentum: 0.9,
});

/**
 * Iterations that prune about 2/3 of the filters:
 * floor(floor(total / N) * 2 / 3).
 *
 * @example
 * ```ts
 * defaultIterations(4224, 512); // 5 (VGG-16's 4224 filters)
 * ```
 */
export function defaultIterations(totalFilters: number, perIteration: number): number {
  if (!(perIteration >= 1)) {
    throw new Error(`filters per iteration must be >= 1, got ${perIteration}`);
  }
  return Math.floor(Math.floor(totalFilters / perIteration) * 2 / 3);
}
