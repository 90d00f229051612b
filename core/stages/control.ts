/**
 * Pruning during training, driven by a training-callback part: the run's
 * scorer session and pruner are bound into a {@link PruneDriver}, a
 * registered {@link Callback} (e.g. `relu_taylor/progressive`) is started
 * with it, and the training stages in between feed the session and call
 * the callback on every batch ({@link Control.train} makes that training:
 * one epoch per progressive step; a resumed run starts it at the epochs its
 * checkpoint has done, and one whose checkpoint finished them skips it).
 * A prune the callback asks for when training has ended (at `finish`) is
 * checkpointed too, so that a run's last checkpoint of this training holds
 * the masks it ended with. Each prune the callback asks for is recorded in
 * `ctx.report[record]` as `{batch, epoch, keep_ratio, kept, revived}`;
 * {@link churnAtBudget} sums those rows up.
 *
 * @example
 * ```ts
 * const c = control({ callback: { name: "relu_taylor/progressive" },
 *   scorer: { name: "relu_taylor/taylor" }, pruner: { name: "relu_taylor/global_topk" },
 *   budget: { keepRatio: 0.1 }, epochs: 6 });
 * pipeline(load(...), c.start, progressive(6, distill((ctx) => ({ ...cfg, ...c.hooks(ctx) }))), c.finish);
 * pipeline(load(...), ...c.train(distill, cfg)); // the same
 * pipeline(load(checkpointed), ...c.train(distill, cfg, 4)); // epochs 5 and 6 of the 6
 * c.train(distill, cfg, 6); // [] (the checkpoint finished the 6)
 * ```
 * @module
 */
import type {
  Budget,
  CallbackSession,
  PruneDriver,
  ScoreSession,
  TrainCallback,
} from "../plugin.ts";
import type { PartRef } from "../parts.ts";
import { type Emit, progressive, type RunContext, type Stage, stage } from "../pipeline.ts";
import type { FitSpec } from "./fit.ts";
import { saveCheckpoint } from "../checkpoint.ts";

/** The parts, options and budget of a {@link control}. */
export interface ControlSpec {
  /** The callback, the scorer and the pruner: registry names and options. */
  callback: PartRef;
  scorer: PartRef;
  pruner: PartRef;
  /** The budget to reach by the end of training. */
  budget: Budget;
  /** Epochs of training the callback rides along. */
  epochs: number;
  /** Report key of the recorded prunes; default "mask_updates". */
  record?: string;
}

/** One recorded prune (a row of `ctx.report[record]`). */
export interface PruneUpdateRow {
  /** Global batch after which the masks were rebuilt. */
  batch: number;
  /** Schedule epoch (from 1). */
  epoch: number;
  keep_ratio: number;
  kept: number;
  /** Kept units the previous masks had pruned (the churn of a rebuild). */
  revived: number;
}

/** The prunes and their churn at the budget, as {@link churnAtBudget} gives them. */
export interface BudgetChurn {
  /** All prunes. */
  updates: number;
  /** Prunes that kept the final count (the budget reached). */
  atBudget: number;
  /** Mean share of the kept units each of them revived (0 when none). */
  churn: number;
}

/**
 * How many prunes `rows` holds, how many of them kept `kept` units (the
 * count at the budget), and the mean share of those units each of these
 * brought back: how much the kept set still moves once the budget is reached.
 *
 * @example
 * ```ts
 * churnAtBudget([{ kept: 10, revived: 5 }, { kept: 4, revived: 1 }, { kept: 4, revived: 0 }], 4);
 * // { updates: 3, atBudget: 2, churn: 0.125 }
 * ```
 */
export function churnAtBudget(
  rows: Pick<PruneUpdateRow, "kept" | "revived">[],
  kept: number,
): BudgetChurn {
  const at = rows.filter((u) => u.kept === kept);
  const churn = at.reduce((a, u) => a + u.revived / u.kept, 0) / Math.max(1, at.length);
  return { updates: rows.length, atBudget: at.length, churn };
}

/** The stages and training hooks of a {@link control}. */
export interface Control {
  /** Starts the scorer session and the callback (after the model is loaded). */
  start: Stage;
  /** What a training stage adds to its spec: the session to feed and the callback. */
  hooks(ctx: RunContext): { sessions: ScoreSession[]; callbacks: TrainCallback[] };
  /** Lets the callback finish (e.g. final masks), then frees the session. */
  finish: Stage;
  /**
   * What the checkpoints of {@link Control.train} call it (their state.json `stage`),
   * `pruning (<callback>)`: a resume checks that its checkpoint is of this training.
   */
  phase: string;
  /**
   * The whole training the callback rides along: `start`, then one-epoch
   * runs of the training stage `fit` makes (e.g. distill or finetune; `cfg`
   * with the epoch's position and the `hooks`) under {@link progressive},
   * then `finish`. The runs are epochs `from` + 1 to `epochs` (from 0: all;
   * a resumed run passes the epochs its checkpoint has done), so the lr
   * schedule, the shuffles and the callback (which reads the epoch of each
   * batch) go on where the checkpoint stopped; `from` = `epochs`: no stages.
   * When `finish` prunes (after the last epoch's checkpoint), the run's
   * checkpoint is written again with those masks, as epoch `epochs`.
   *
   * @throws {RangeError} when `from` is not a whole number in [0, `epochs`].
   * @example
   * ```ts
   * pipeline(load(...), ...c.train(distill, cfg, state.epoch)); // state: the checkpoint's
   * ```
   */
  train(
    fit: (spec: (ctx: RunContext) => FitSpec) => Stage,
    cfg: Omit<FitSpec, "epochs">,
    from?: number,
  ): Stage[];
}

interface Live {
  session: ScoreSession;
  callback: CallbackSession;
}

/**
 * Binds a scorer and a pruner to a training callback part; see the module doc.
 */
export function control(spec: ControlSpec): Control {
  const key = `control/${spec.callback.name}`;
  const record = spec.record ?? "mask_updates";
  let emit: Emit | undefined;
  let prunes = 0, prunedAtFinish = false;
  const live = (ctx: RunContext) => {
    const l = ctx.state.get(key) as Live | undefined;
    if (!l) {
      throw new Error(`${spec.callback.name}: not started (put control().start before training)`);
    }
    return l;
  };
  const c: Control = {
    start: stage("start " + spec.callback.name, (ctx, e) => {
      emit = e;
      prunes = 0;
      prunedAtFinish = false;
      const session = ctx.registry.scorer(spec.scorer.name).start(ctx, spec.scorer.options ?? {});
      const pruner = ctx.registry.pruner(spec.pruner.name);
      const driver: PruneDriver = {
        session,
        budget: spec.budget,
        epochs: spec.epochs,
        async prune(budget, at) {
          prunes++;
          const scores = await session.scores();
          let result;
          try {
            result = await pruner.prune(ctx, scores, budget, spec.pruner.options ?? {});
          } finally {
            for (const t of scores.values.values()) t.dispose();
          }
          if (at) {
            ((ctx.report[record] ??= []) as PruneUpdateRow[]).push({
              batch: at.batch,
              epoch: at.epoch,
              keep_ratio: budget.keepRatio ?? result.kept / result.total,
              kept: result.kept,
              revived: result.revived ?? 0,
            });
          }
          return result;
        },
        log: (message, level) => emit?.log(message, level),
      };
      try {
        const callback = ctx.registry.callback(spec.callback.name)
          .start(ctx, spec.callback.options ?? {}, driver);
        ctx.state.set(key, { session, callback } satisfies Live);
      } catch (err) {
        session.dispose();
        throw err;
      }
    }),
    phase: `pruning (${spec.callback.name})`,
    hooks: (ctx) => {
      const { session, callback } = live(ctx);
      return { sessions: [session], callbacks: [callback] };
    },
    finish: stage("finish " + spec.callback.name, async (ctx, e) => {
      emit = e;
      const { session, callback } = live(ctx);
      const before = prunes;
      try {
        await callback.finish?.();
        prunedAtFinish = prunes > before;
      } finally {
        callback.dispose?.();
        session.dispose();
        ctx.state.delete(key);
      }
    }),
    train: (fit, cfg, from = 0) => {
      if (!Number.isInteger(from) || from < 0 || from > spec.epochs) {
        throw new RangeError(`control.train: from must be a whole number in [0, ${spec.epochs}]`);
      }
      if (from === spec.epochs) return [];
      return [
        c.start,
        progressive(
          spec.epochs - from,
          fit((ctx) => ({
            ...cfg,
            epochs: 1,
            epochOffset: from + ctx.step.index,
            totalEpochs: spec.epochs,
            phase: c.phase,
            ...c.hooks(ctx),
          })),
        ),
        c.finish,
        stage("checkpoint " + spec.callback.name, async (ctx, e) => {
          if (!prunedAtFinish || !ctx.runDir) return;
          const state = { stage: c.phase, epoch: spec.epochs };
          e.artifact("checkpoint", await saveCheckpoint(ctx.model!, ctx.runDir, state));
        }),
      ];
    },
  };
  return c;
}
