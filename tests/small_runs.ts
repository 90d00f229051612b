/**
 * Flags that keep a run of each pipeline small (tiny models and data), for
 * the tests that run pipelines as a user would (examples_test.ts,
 * cross_method_parts_test.ts).
 * @module
 */

/**
 * Per pipeline script, flags that keep its run small; appended after a command's own.
 *
 * @example
 * ```ts
 * await runCli("rni.ts", ["--scorer=bn_scale", ...SMALL["rni.ts"]]);
 * ```
 */
export const SMALL: Record<string, string[]> = {
  "magnitude.ts": ["--dataset=synthetic", "--model=resnet20", "--width=0.125", "--p_prune=0,0.5"],
  "filter_taylor.ts": [
    "--dataset=synthetic",
    "--width=0.0625",
    "--iterations=1",
    "--filters_per_iteration=8",
    "--finetune_epochs=0",
    "--final_epochs=0",
    "--latency_batch=4",
  ],
  "rni.ts": [
    "--dataset=synthetic",
    "--pad=12",
    "--width=0.0625",
    "--prune_pc=0.5",
    "--finetune_epochs=0",
  ],
  "intra_fusion.ts": [
    "--dataset=synthetic",
    "--model=mlp",
    "--width=0.25",
    "--pad=0",
    "--group_idxs=0",
    "--sparsities=0.5",
  ],
  "relu_taylor.ts": [
    "--dataset=synthetic",
    "--width=0.0625",
    "--epochs=2",
    "--warmup=1",
    "--mask_interval=1",
  ],
  "prune.ts": ["--dataset=synthetic", "--model=resnet20", "--width=0.125", "--iterations=1"],
};
