/**
 * The distill stage: trains the student against the teacher (KD loss, T = 4
 * by default), masks held in place; score sessions and per-batch hooks (a
 * pruner updating masks every N batches) ride along.
 * @module
 */
import type { RunContext, Stage } from "../pipeline.ts";
import { type FitSpec, fitStage } from "./fit.ts";

/**
 * Distils `ctx.teacher` into `ctx.model`; `alpha` must be > 0.
 *
 * @example
 * ```ts
 * distill({ epochs: 1, batchSize: 128, alpha: 0.5, gamma: 0.5, optimizer: { kind: "sgd", lr: 0.05 } });
 * ```
 */
export function distill(spec: FitSpec | ((ctx: RunContext) => FitSpec)): Stage {
  return fitStage("distill", spec, (ctx, cfg) => {
    if (!ctx.teacher) throw new Error("distill needs a teacher (load one, or train it first)");
    if (!(cfg.alpha! > 0)) throw new Error(`distill needs alpha > 0, got ${cfg.alpha}`);
  });
}
