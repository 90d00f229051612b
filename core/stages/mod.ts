/**
 * The six stages a pipeline is made of.
 * @module
 */
export { load, type LoadSpec } from "./load.ts";
export { resolve, score, type ScoreSpec } from "./score.ts";
export { mask, type MaskSpec, type PruneRecord } from "./mask.ts";
export { distill } from "./distill.ts";
export { finetune } from "./finetune.ts";
export type { FitSpec } from "./fit.ts";
export { evaluate, type EvaluateSpec, type Evaluation } from "./evaluate.ts";
