/**
 * The mask controller a training loop calls after every optimizer step. It
 * counts global batches from the start of training and, on ReLUPruner's
 * cadence ({@link updateIntervalAt}), rebuilds the masks at the scheduled
 * keep ratio ({@link keepRatioAt}); with `targetRelus` it asks for exactly
 * that many ReLUs once the schedule has reached its target. Importance keeps
 * accumulating on every batch regardless (that is the scorer session's job).
 *
 * @example
 * ```ts
 * const session = taylor.start(ctx, {});
 * const controller = maskController(ctx, session, globalTopk, { epochs: 150, target: 0.1 });
 * // in the training loop, after `await session.onBatchEnd(info, batch)`:
 * if (await controller.onBatchEnd(info)) console.log(controller.last);
 * ```
 * @module
 */
import type {
  BatchInfo,
  Budget,
  Options,
  Pruner,
  PruneResult,
  RunContext,
  ScoreSession,
} from "@shears/core";
import { reluTotal } from "./relu_counts.ts";
import { checkSchedule, keepRatioAt, type KeepSchedule, updateIntervalAt } from "./schedule.ts";

/** Settings of a {@link MaskController}. */
export interface ControllerOptions extends KeepSchedule {
  /** Keep exactly this many ReLUs once the scheduled ratio equals the target. */
  targetRelus?: number;
  /**
   * What `BatchInfo.epoch` counts from [0]; the schedule counts from 1, so
   * with 0 the loop's epoch e is the schedule's epoch e + 1.
   */
  epochBase?: 0 | 1;
}

/** Rebuilds masks for a budget; returns (or resolves to) what was kept. */
export type MaskUpdate = (budget: Budget, epoch: number) => PruneResult | Promise<PruneResult>;

/** Decides, batch by batch, when and at what budget the masks are rebuilt. */
export class MaskController {
  #batches = 0;
  /** Mask updates done so far. */
  updates = 0;
  /** The result of the latest update, if any. */
  last?: { epoch: number; budget: Budget; result: PruneResult };

  constructor(readonly options: ControllerOptions, readonly update: MaskUpdate) {
    checkSchedule(options);
    const t = options.targetRelus;
    if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
      throw new Error(`target_relus must be an integer >= 1, got ${t}`);
    }
  }

  /** Global batches counted so far. */
  get batches(): number {
    return this.#batches;
  }

  /** The schedule's epoch (from 1) for a loop's batch info. */
  epochOf(info: BatchInfo): number {
    return info.epoch + 1 - (this.options.epochBase ?? 0);
  }

  /** The budget the schedule asks for in `epoch` (from 1). */
  budgetAt(epoch: number): Budget {
    const keepRatio = keepRatioAt(epoch, this.options);
    const { targetRelus, target } = this.options;
    return targetRelus !== undefined && keepRatio === target
      ? { keep: targetRelus }
      : { keepRatio };
  }

  /**
   * Counts one batch; rebuilds the masks when the cadence says so. Resolves to
   * true if it did. Await it before the next batch.
   */
  async onBatchEnd(info: BatchInfo): Promise<boolean> {
    this.#batches++;
    const epoch = this.epochOf(info);
    if (this.#batches % updateIntervalAt(epoch, this.options) !== 0) return false;
    const budget = this.budgetAt(epoch);
    this.last = { epoch, budget, result: await this.update(budget, epoch) };
    this.updates++;
    return true;
  }
}

/**
 * A {@link MaskController} that rebuilds masks with `pruner` from `session`'s
 * current scores (disposed after use). With `targetRelus` and no `target`,
 * the target ratio is targetRelus / (all ReLU elements), as the reference.
 */
export function maskController(
  ctx: RunContext,
  session: ScoreSession,
  pruner: Pruner,
  options: Omit<ControllerOptions, "target"> & { target?: number },
  pruneOptions: Options = {},
): MaskController {
  let target = options.target;
  if (target === undefined) {
    if (options.targetRelus === undefined) {
      throw new Error("maskController needs a target keep ratio or target_relus");
    }
    if (!ctx.model) throw new Error("maskController: the run has no model loaded");
    const total = reluTotal(ctx.model);
    if (options.targetRelus > total) {
      throw new Error(`target_relus must be in [1, ${total}], got ${options.targetRelus}`);
    }
    target = options.targetRelus / total;
  }
  return new MaskController({ ...options, target }, async (budget) => {
    const scores = await session.scores();
    try {
      return await pruner.prune(ctx, scores, budget, pruneOptions);
    } finally {
      for (const t of scores.values.values()) t.dispose();
    }
  });
}
