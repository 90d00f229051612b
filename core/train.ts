/**
 * The one training loop behind the finetune and distill stages (and the
 * gradient passes of the score stage).
 *
 * Loss = gamma·CE + alpha·KD(T) + Σ weight·regularizer + extra(features).
 * After every optimizer step the run's weight masks are re-applied (pruned
 * weights stay zero), then score sessions and the callbacks (a list, in
 * order) see the batch, each awaited in turn (a pruner may update masks
 * there); after each epoch the callbacks' `onEpochEnd` run in order. Score
 * sessions' taps see every batch's activations and gradients. The loop checks
 * for cancellation once per batch, and stops with a `NonFiniteError` at the
 * first NaN/Inf loss or weight (core/finite.ts).
 *
 * @example
 * ```ts
 * await train(ctx, { epochs: 2, batchSize: 64, optimizer: { kind: "sgd", lr: 0.05, momentum: 0.9 } },
 *   emit, cancel);
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import { type Cancel, type Emit, throwIfCancelled } from "./pipeline.ts";
import type { RunContext } from "./pipeline.ts";
import type {
  BatchInfo,
  EpochStats,
  Options,
  Regularizer,
  ScoreSession,
  TrainCallback,
} from "./plugin.ts";
import { type TapSink, withTaps } from "./taps.ts";
import {
  lrAt,
  makeOptimizer,
  type NamedVariable,
  type OptimizerConfig,
  type ParamGroup,
  type Schedule,
} from "./optim.ts";
import { crossEntropy, kdLoss } from "./losses.ts";
import { assertFinite } from "./finite.ts";

/** A regularizer with its weight in the loss. */
export interface WeightedRegularizer {
  name: string;
  reg: Regularizer;
  weight: number;
  options?: Options;
}

/** Everything one call of {@link train} needs. */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule?: Schedule;
  /** Per-variable lr multipliers / weight-decay switches. */
  groups?: ParamGroup[];
  /** Only variables whose original name passes are trained (default: all trainable). */
  trainable?: (name: string) => boolean;
  /** Weight of cross-entropy; default 1. */
  gamma?: number;
  /** Weight of the KD term (needs ctx.teacher); default 0. */
  alpha?: number;
  /** KD temperature; default 4. */
  temperature?: number;
  regularizers?: WeightedRegularizer[];
  /** Layers whose outputs feed `extraLoss` (student and teacher). */
  features?: { student: string[]; teacher?: string[] };
  /** An extra loss term on the features (e.g. attention transfer). */
  extraLoss?: (student: tf.Tensor[], teacher: tf.Tensor[]) => tf.Scalar;
  /** Score sessions fed on every batch. */
  sessions?: ScoreSession[];
  /**
   * Called in order after each optimizer step, mask re-application and the
   * sessions' `onBatchEnd` (each awaited before the next batch), and after
   * each epoch (evaluation, checkpoint, a pruning schedule).
   */
  callbacks?: TrainCallback[];
  /** Training augmentation; default true. */
  augment?: boolean;
  /** Use at most this many training examples per epoch. */
  limit?: number;
  /** Seed for shuffling and augmentation; default 0. */
  seed?: number;
  /** Epoch number of this call's first epoch in a longer run (schedules, shuffles). Default 0. */
  epochOffset?: number;
  /** Length of the whole run in epochs, for the lr schedule. Default `epochs`. */
  totalEpochs?: number;
  /** Skip the optimizer step (a pure scoring pass). */
  noStep?: boolean;
  /** Run the model in training mode (BN batch statistics). Default true. */
  trainMode?: boolean;
  /** Progress label; default "epoch". */
  label?: string;
}

const asArray = (t: tf.Tensor | tf.Tensor[]) => (Array.isArray(t) ? t : [t]);

/** Trains `ctx.model` on `ctx.data` as `cfg` says; returns the stats of each epoch. */
export async function train(
  ctx: RunContext,
  cfg: TrainConfig,
  emit: Emit,
  cancel: Cancel,
): Promise<EpochStats[]> {
  const model = ctx.model, data = ctx.data;
  if (!model || !data) {
    throw new Error("train needs ctx.model and ctx.data (run the load stage first)");
  }
  const alpha = cfg.alpha ?? 0, gamma = cfg.gamma ?? 1, T = cfg.temperature ?? 4;
  const teacherFeats = cfg.features?.teacher ?? [];
  if ((alpha || teacherFeats.length) && !ctx.teacher) {
    throw new Error("distillation needs a teacher (ctx.teacher)");
  }
  const sessions = cfg.sessions ?? [];
  const sink: TapSink = (key, x, dy) => {
    for (const s of sessions) {
      if (s.taps.some((t) => `${t.layer}:${t.at}` === key)) s.onTap?.(key, x, dy);
    }
  };
  const net = withTaps(model, sessions.flatMap((s) => s.taps), sink, cfg.features?.student);
  const teacherNet = ctx.teacher && (alpha || teacherFeats.length)
    ? withTaps(ctx.teacher, [], sink, teacherFeats)
    : undefined;
  const named: NamedVariable[] = model.trainableWeights
    .filter((w) => cfg.trainable?.(w.originalName) ?? true)
    .map((w) => ({ name: w.originalName, variable: w.read() as tf.Variable }));
  const opt = makeOptimizer(cfg.optimizer, cfg.groups);
  const stats: EpochStats[] = [];
  const offset = cfg.epochOffset ?? 0;
  const total = cfg.totalEpochs ?? cfg.epochs;
  const label = cfg.label ?? "epoch";
  const training = cfg.trainMode ?? true;
  let globalStep = 0;
  try {
    for (let ep = 0; ep < cfg.epochs; ep++) {
      const epoch = offset + ep;
      const lr = lrAt(cfg.schedule ?? { kind: "constant" }, cfg.optimizer.lr, epoch, total);
      const opts = {
        batchSize: cfg.batchSize,
        shuffle: true,
        augment: cfg.augment ?? true,
        seed: cfg.seed ?? 0,
        epoch,
        limit: cfg.limit,
      };
      const nBatches = Math.ceil(
        Math.min(data.size("train"), cfg.limit ?? Infinity) / cfg.batchSize,
      );
      const t0 = performance.now();
      let lossSum = 0, correct = 0, seen = 0, b = 0;
      for (const batch of data.batches("train", opts)) {
        try {
          throwIfCancelled(cancel);
          const tOut = teacherNet
            ? tf.tidy(() => asArray(teacherNet.apply(batch.x, { training: false }) as tf.Tensor))
            : [];
          let hits: tf.Tensor | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const outs = asArray(net.apply(batch.x, { training }) as tf.Tensor | tf.Tensor[]);
            const logits = outs[0];
            hits = tf.keep(logits.argMax(1).equal(batch.y.toInt()).sum());
            let loss = crossEntropy(logits, batch.y).mul(gamma);
            if (alpha) loss = loss.add(kdLoss(logits, tOut[0], T).mul(alpha));
            for (const r of cfg.regularizers ?? []) {
              loss = loss.add(r.reg.loss!(model, r.options ?? {}).mul(r.weight));
            }
            if (cfg.extraLoss) loss = loss.add(cfg.extraLoss(outs.slice(1), tOut.slice(1)));
            return loss as tf.Scalar;
          }, named.map((n) => n.variable));
          if (!cfg.noStep) opt.step(named, grads, lr);
          tf.dispose(grads);
          tf.dispose(tOut);
          if (ctx.masks.size && !cfg.noStep) ctx.masks.apply(model);
          const loss = (await value.data())[0];
          correct += (await hits!.data())[0];
          value.dispose();
          hits!.dispose();
          await assertFinite(loss, cfg.noStep ? [] : model.weights, {
            where: `${label} ${epoch + 1}/${total}, batch ${b + 1}/${nBatches}`,
            lr,
          });
          lossSum += loss * batch.y.shape[0];
          seen += batch.y.shape[0];
          globalStep++;
          const info: BatchInfo = { epoch, batch: b, globalStep, batchesPerEpoch: nBatches, loss };
          for (const s of sessions) await s.onBatchEnd?.(info, batch);
          for (const c of cfg.callbacks ?? []) await c.onBatchEnd?.(info, batch);
        } finally {
          batch.x.dispose();
          batch.y.dispose();
        }
        b++;
        emit.progress(`${label} ${epoch + 1}/${total}`, b, nBatches, {
          loss: lossSum / seen,
          acc: correct / seen,
        });
        await new Promise((r) => setTimeout(r, 0)); // let cancellation (SIGINT, unsubscribe) in
      }
      const st = {
        epoch,
        loss: lossSum / Math.max(1, seen),
        acc: correct / Math.max(1, seen),
        lr,
        seconds: (performance.now() - t0) / 1000,
      };
      stats.push(st);
      if (!cfg.noStep) {
        emit.metric("train_loss", st.loss, epoch + 1);
        emit.metric("train_acc", st.acc, epoch + 1);
      }
      for (const c of cfg.callbacks ?? []) await c.onEpochEnd?.(epoch, st);
    }
  } finally {
    opt.dispose(); // wrappers made by withTaps own no variables: nothing else to free
  }
  return stats;
}
