/**
 * The mask controller a training loop calls after every optimizer step. It
 * places each batch in the whole training (its global batch, from the
 * batch's epoch and index, so a training resumed at epoch k goes on at k's
 * first batch) and, on ReLUPruner's cadence ({@link updateIntervalAt}),
 * rebuilds the masks at the scheduled keep ratio ({@link keepRatioAt}); with
 * `targetRelus` it asks for exactly that many ReLUs once the schedule has
 * reached its target. Importance keeps accumulating on every batch
 * regardless (that is the scorer session's job; a resumed training rebuilds
 * it from its own batches).
 *
 * The `progressive` training callback is this controller as a plugin part:
 * core's `control` stage starts it with the run's scorer and pruner bound
 * in a driver, and at the end of training it sets the masks to the final
 * budget if the last update was not at it.
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
import {
  type BatchInfo,
  type Budget,
  type Callback,
  type FlagDefs,
  type Options,
  type Pruner,
  type PruneResult,
  readOptions,
  reluElements,
  type RunContext,
  type ScoreSession,
} from "@shears/core";
import {
  checkSchedule,
  keepRatioAt,
  type KeepSchedule,
  targetEpoch,
  updateIntervalAt,
} from "./schedule.ts";

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

/** Rebuilds masks for a budget at a schedule epoch and global batch; returns what was kept. */
export type MaskUpdate = (
  budget: Budget,
  epoch: number,
  batch: number,
) => PruneResult | Promise<PruneResult>;

/** Decides, batch by batch, when and at what budget the masks are rebuilt. */
export class MaskController {
  #batches = 0;
  #budget?: Budget;
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

  /** Global batch (from 1) of the latest batch counted: batches so far, those of a resumed training's done epochs included. */
  get batches(): number {
    return this.#batches;
  }

  /**
   * The budget the masks were last rebuilt at: by the latest update, or,
   * before the first update of a resumed training, by the schedule's latest
   * update before its first batch (the masks its checkpoint holds).
   */
  get lastBudget(): Budget | undefined {
    return this.#budget;
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
    const epoch = this.epochOf(info);
    const at = (epoch - 1) * info.batchesPerEpoch + info.batch + 1;
    if (!this.#batches) this.#budget = this.#updateBefore(at, info.batchesPerEpoch);
    this.#batches = at;
    if (at % updateIntervalAt(epoch, this.options) !== 0) return false;
    const budget = this.#budget = this.budgetAt(epoch);
    this.last = { epoch, budget, result: await this.update(budget, epoch, at) };
    this.updates++;
    return true;
  }

  /** The budget of the schedule's latest update before global batch `at`, if any. */
  #updateBefore(at: number, perEpoch: number): Budget | undefined {
    for (let g = at - 1; g >= 1; g--) {
      const epoch = Math.ceil(g / perEpoch);
      if (g % updateIntervalAt(epoch, this.options) === 0) return this.budgetAt(epoch);
    }
  }
}

/**
 * The options with the target as a keep ratio: with `targetRelus` and no
 * `target`, targetRelus / `total` (all ReLU elements), as the reference.
 */
function withTarget(
  options: Omit<ControllerOptions, "target"> & { target?: number },
  total: number,
): ControllerOptions {
  if (options.target !== undefined) return { ...options, target: options.target };
  if (options.targetRelus === undefined) {
    throw new Error("the mask controller needs a target keep ratio or target_relus");
  }
  if (options.targetRelus > total) {
    throw new Error(`target_relus must be in [1, ${total}], got ${options.targetRelus}`);
  }
  return { ...options, target: options.targetRelus / total };
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
  if (!ctx.model) throw new Error("maskController: the run has no model loaded");
  return new MaskController(withTarget(options, reluElements(ctx.model)), async (budget) => {
    const scores = await session.scores();
    try {
      return await pruner.prune(ctx, scores, budget, pruneOptions);
    } finally {
      for (const t of scores.values.values()) t.dispose();
    }
  });
}

const progressiveOptions = {
  warmup: { type: "int", default: 5, min: 0, help: "epochs before pruning starts" },
  interval: {
    type: "int",
    default: 100,
    min: 1,
    help: "global batches between mask updates; doubled after the target epoch",
  },
  target_epoch_ratio: {
    type: "number",
    default: 0.6,
    min: 0,
    max: 1,
    help: "where the budget is reached, as a fraction of the epochs after warmup",
  },
} satisfies FlagDefs;

/**
 * The `progressive` training callback: a {@link MaskController} over the
 * driver's scorer and pruner for `driver.epochs` epochs towards
 * `driver.budget` (a keep ratio, or `keep`: an exact ReLU count); at the end
 * the masks are set to the budget if the schedule ended before an update at
 * it (with a warning: no training after).
 */
export const progressiveCallback: Callback = {
  description: "ReLUPruner's schedule: cosine keep ratio from warmup to the target epoch, " +
    "masks rebuilt every `interval` batches (twice that after the target)",
  options: progressiveOptions,
  start(ctx, options, driver) {
    const o = readOptions(progressiveOptions, options, "relu_taylor/progressive");
    if (!ctx.model) throw new Error("relu_taylor/progressive: the run has no model loaded");
    const controller = new MaskController(
      withTarget({
        epochs: driver.epochs,
        warmup: o.warmup,
        interval: o.interval,
        targetEpochRatio: o.target_epoch_ratio,
        target: driver.budget.keepRatio,
        targetRelus: driver.budget.keep,
      }, reluElements(ctx.model)),
      (budget, epoch, batch) => driver.prune(budget, { epoch, batch }),
    );
    driver.log(
      `keep ${driver.budget.keep ?? driver.budget.keepRatio} by epoch ` +
        `${targetEpoch(controller.options)} of ${driver.epochs}`,
    );
    return {
      onBatchEnd: async (info) => void await controller.onBatchEnd(info),
      async finish() {
        const want = controller.budgetAt(driver.epochs);
        if (JSON.stringify(controller.lastBudget) === JSON.stringify(want)) return;
        await driver.prune(want);
        driver.log(
          "the schedule ended before a mask update at the target; masks set to it now (no training after)",
          "warn",
        );
      },
    };
  },
};
