/**
 * What the finetune and distill stages share: a training run over the
 * context with a checkpoint and a test evaluation after every epoch.
 * @module
 */
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { train, type TrainConfig } from "../train.ts";
import { accuracy } from "../metrics.ts";
import { saveCheckpoint } from "../checkpoint.ts";

/** A training stage's settings; a function form reads the context (schedules, progressive step). */
export type FitSpec = TrainConfig & {
  /** Evaluate test top-1 after each epoch (default true); limit the test examples used. */
  evalEach?: boolean;
  evalLimit?: number;
};

/** Builds a training stage named `name`; `check` validates the context first. */
export function fitStage(
  name: string,
  spec: FitSpec | ((ctx: RunContext) => FitSpec),
  check: (ctx: RunContext, cfg: FitSpec) => void = () => {},
): Stage {
  return stage(name, async (ctx, emit, cancel) => {
    const cfg = typeof spec === "function" ? spec(ctx) : spec;
    check(ctx, cfg);
    await train(
      ctx,
      {
        ...cfg,
        onEpochEnd: async (epoch, st) => {
          await cfg.onEpochEnd?.(epoch, st);
          if (cfg.evalEach ?? true) {
            const acc = await accuracy(ctx.model!, ctx.data!, {
              split: "test",
              limit: cfg.evalLimit,
            });
            emit.metric("test_top1", acc.top1, epoch + 1);
            emit.log(
              `epoch ${epoch + 1}: loss ${st.loss.toFixed(4)}, train acc ${st.acc.toFixed(4)}, ` +
                `test top-1 ${acc.top1.toFixed(4)}, lr ${st.lr.toPrecision(3)}, ${
                  st.seconds.toFixed(1)
                } s`,
            );
          }
          if (ctx.runDir) {
            emit.artifact(
              "checkpoint",
              await saveCheckpoint(ctx.model!, ctx.runDir, { stage: name, epoch: epoch + 1 }),
            );
          }
        },
      },
      emit,
      cancel,
    );
  });
}
