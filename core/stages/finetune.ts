/**
 * The finetune stage: trains the model on the task loss (plus any
 * regularizers), masks held in place, checkpointing every epoch.
 * @module
 */
import type { RunContext, Stage } from "../pipeline.ts";
import { type FitSpec, fitStage } from "./fit.ts";

/**
 * Fine-tunes `ctx.model`.
 *
 * @example
 * ```ts
 * finetune({ epochs: 10, batchSize: 64, optimizer: { kind: "sgd", lr: 1e-3, momentum: 0.9 } });
 * ```
 */
export function finetune(spec: FitSpec | ((ctx: RunContext) => FitSpec)): Stage {
  return fitStage("finetune", spec);
}
