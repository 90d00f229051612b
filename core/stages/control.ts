/**
 * Pruning during training, driven by a training-callback part: the run's
 * scorer session and pruner are bound into a {@link PruneDriver}, a
 * registered {@link Callback} (e.g. `relu_taylor/progressive`) is started
 * with it, and the training stages in between feed the session and call
 * the callback on every batch. Each prune the callback asks for is recorded
 * in `ctx.report[record]` as `{batch, epoch, keep_ratio, kept, revived}`.
 *
 * @example
 * ```ts
 * const c = control({ callback: { name: "relu_taylor/progressive" },
 *   scorer: { name: "relu_taylor/taylor" }, pruner: { name: "relu_taylor/global_topk" },
 *   budget: { keepRatio: 0.1 }, epochs: 6 });
 * pipeline(load(...), c.start, progressive(6, distill((ctx) => ({ ...cfg, ...c.hooks(ctx) }))), c.finish);
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
import { type Emit, type RunContext, type Stage, stage } from "../pipeline.ts";

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

/** The stages and training hooks of a {@link control}. */
export interface Control {
  /** Starts the scorer session and the callback (after the model is loaded). */
  start: Stage;
  /** What a training stage adds to its spec: the session to feed and the callback. */
  hooks(ctx: RunContext): { sessions: ScoreSession[]; callbacks: TrainCallback[] };
  /** Lets the callback finish (e.g. final masks), then frees the session. */
  finish: Stage;
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
  const live = (ctx: RunContext) => {
    const l = ctx.state.get(key) as Live | undefined;
    if (!l) {
      throw new Error(`${spec.callback.name}: not started (put control().start before training)`);
    }
    return l;
  };
  return {
    start: stage("start " + spec.callback.name, (ctx, e) => {
      emit = e;
      const session = ctx.registry.scorer(spec.scorer.name).start(ctx, spec.scorer.options ?? {});
      const pruner = ctx.registry.pruner(spec.pruner.name);
      const driver: PruneDriver = {
        session,
        budget: spec.budget,
        epochs: spec.epochs,
        async prune(budget, at) {
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
    hooks: (ctx) => {
      const { session, callback } = live(ctx);
      return { sessions: [session], callbacks: [callback] };
    },
    finish: stage("finish " + spec.callback.name, async (ctx, e) => {
      emit = e;
      const { session, callback } = live(ctx);
      try {
        await callback.finish?.();
      } finally {
        callback.dispose?.();
        session.dispose();
        ctx.state.delete(key);
      }
    }),
  };
}
