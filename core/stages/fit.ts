/**
 * What the finetune and distill stages share: a training run over the
 * context with a checkpoint and a test evaluation after every epoch (both
 * training callbacks, after the spec's own), optionally keeping the weights
 * of the best test epoch. The checkpoint's state.json names the training
 * (`phase`, default the stage) and the epochs done. Regularizers given by
 * their parts: weight terms go to the loss, feature terms (student and
 * teacher layers) to the feature loss, and their parameter groups to the
 * optimizer.
 * @module
 */
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { train, type TrainConfig } from "../train.ts";
import { accuracy } from "../metrics.ts";
import { saveCheckpoint } from "../checkpoint.ts";
import { tf } from "../tf.ts";
import type { TrainCallback } from "../plugin.ts";

/** A training stage's settings; a function form reads the context (schedules, progressive step). */
export type FitSpec = TrainConfig & {
  /** Evaluate test top-1 after each epoch (default true); limit the test examples used. */
  evalEach?: boolean;
  evalLimit?: number;
  /** Keep the weights of the epoch with the best test top-1 (needs evalEach); default false. */
  keepBest?: boolean;
  /**
   * What the checkpoints of this training call it (state.json `stage`; default the stage's
   * name), so that a resume can tell it from the run's other trainings.
   */
  phase?: string;
};

/**
 * The rest of a training after its first `done` epochs (a resumed run's
 * checkpoint has done them): `spec`'s epochs after `done`, at their place in
 * the whole training, so the lr schedule and the data order go on where the
 * checkpoint stopped. `done` = all of them leaves none.
 *
 * @throws {RangeError} when `done` is not a whole number in [0, spec.epochs].
 * @example
 * ```ts
 * finetune(resumeAt({ epochs: 10, batchSize: 64, optimizer }, 4)); // epochs 5 to 10 of the 10
 * ```
 */
export function resumeAt<T extends TrainConfig>(
  spec: T,
  done: number,
): T & Required<Pick<TrainConfig, "epochOffset" | "totalEpochs">> {
  if (!Number.isInteger(done) || done < 0 || done > spec.epochs) {
    throw new RangeError(`resumeAt: done must be a whole number in [0, ${spec.epochs}]`);
  }
  return {
    ...spec,
    epochs: spec.epochs - done,
    epochOffset: (spec.epochOffset ?? 0) + done,
    totalEpochs: spec.totalEpochs ?? spec.epochs,
  };
}

/**
 * The config `train` gets from a spec: feature regularizers become the
 * feature loss (each weighted), weight regularizers stay, and the
 * regularizers' parameter groups follow the spec's own.
 */
function withRegularizers(ctx: RunContext, cfg: FitSpec): TrainConfig {
  const regs = cfg.regularizers ?? [];
  const feats = regs.filter((r) => r.reg.features);
  const groups = [
    ...(cfg.groups ?? []),
    ...regs.flatMap((r) => r.reg.paramGroups?.(ctx.model!, r.options ?? {}) ?? []),
  ];
  if (!feats.length) return { ...cfg, groups };
  const layers = feats.map((r) => r.reg.features!.layers(r.options ?? {}));
  const at = (i: number) => layers.slice(0, i).reduce((n, l) => n + l.student.length, 0);
  return {
    ...cfg,
    groups,
    regularizers: regs.filter((r) => !r.reg.features),
    features: {
      student: layers.flatMap((l) => l.student),
      teacher: layers.flatMap((l) => l.teacher),
    },
    extraLoss: (s, t) =>
      tf.tidy(() =>
        tf.addN(feats.map((r, i) => {
          const n = layers[i].student.length;
          return r.reg.features!.loss(
            s.slice(at(i), at(i) + n),
            t.slice(at(i), at(i) + n),
            r.options ?? {},
          )
            .mul(r.weight);
        })) as tf.Scalar
      ),
  };
}

/** Builds a training stage named `name`; `check` validates the context first. */
export function fitStage(
  name: string,
  spec: FitSpec | ((ctx: RunContext) => FitSpec),
  check: (ctx: RunContext, cfg: FitSpec) => void = () => {},
): Stage {
  return stage(name, async (ctx, emit, cancel) => {
    const cfg = typeof spec === "function" ? spec(ctx) : spec;
    check(ctx, cfg);
    let best = -Infinity, bestWeights: tf.Tensor[] | undefined;
    const evaluateAndCheckpoint: TrainCallback = {
      onEpochEnd: async (epoch, st) => {
        if (cfg.evalEach ?? true) {
          const acc = await accuracy(ctx.model!, ctx.data!, {
            split: "test",
            limit: cfg.evalLimit,
            cancel,
          });
          emit.metric("test_top1", acc.top1, epoch + 1);
          emit.log(
            `epoch ${epoch + 1}: loss ${st.loss.toFixed(4)}, train acc ${st.acc.toFixed(4)}, ` +
              `test top-1 ${acc.top1.toFixed(4)}, lr ${st.lr.toPrecision(3)}, ${
                st.seconds.toFixed(1)
              } s`,
          );
          if (cfg.keepBest && acc.top1 > best) {
            best = acc.top1;
            tf.dispose(bestWeights);
            bestWeights = ctx.model!.getWeights().map((w) => w.clone());
          }
        }
        if (ctx.runDir) {
          emit.artifact(
            "checkpoint",
            await saveCheckpoint(ctx.model!, ctx.runDir, {
              stage: cfg.phase ?? name,
              epoch: epoch + 1,
            }),
          );
        }
      },
    };
    try {
      await train(
        ctx,
        {
          ...withRegularizers(ctx, cfg),
          callbacks: [...(cfg.callbacks ?? []), evaluateAndCheckpoint],
        },
        emit,
        cancel,
      );
      if (bestWeights) {
        ctx.model!.setWeights(bestWeights);
        emit.log(`kept the best epoch (test top-1 ${best.toFixed(4)})`);
      }
    } finally {
      tf.dispose(bestWeights);
    }
  });
}
