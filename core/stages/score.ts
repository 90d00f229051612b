/**
 * The score stage: runs a plugin's scorer and stores its scores in
 * `ctx.scores`. Scorers that need gradients get a pass of training batches
 * through the tapped model with no optimizer step.
 * @module
 */
import type { Options } from "../plugin.ts";
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { train } from "../train.ts";

/** Which scorer, with what options, stored under which key. */
export interface ScoreSpec {
  /** Registry name, e.g. "filter_taylor/taylor". */
  scorer: string;
  options?: Options | ((ctx: RunContext) => Options);
  /** Batch size of the gradient pass; default 64. */
  batchSize?: number;
  /** Overrides the scorer's own `batches`. */
  batches?: number | "epoch";
  /** Key in ctx.scores; default the scorer name. */
  key?: string;
}

/** Resolves a value that may depend on the run context. */
export function resolve<T>(v: T | ((ctx: RunContext) => T), ctx: RunContext): T {
  return typeof v === "function" ? (v as (ctx: RunContext) => T)(ctx) : v;
}

/**
 * Scores the model with a registered scorer.
 *
 * @example
 * ```ts
 * score({ scorer: "filter_taylor/taylor", batches: "epoch" });
 * ```
 */
export function score(spec: ScoreSpec): Stage {
  return stage("score", async (ctx, emit, cancel) => {
    const scorer = ctx.registry.scorer(spec.scorer);
    const session = scorer.start(ctx, resolve(spec.options ?? {}, ctx));
    try {
      const n = spec.batches ?? scorer.batches;
      if (n !== 0) {
        const batchSize = spec.batchSize ?? 64;
        await train(
          ctx,
          {
            epochs: 1,
            batchSize,
            optimizer: { kind: "sgd", lr: 0 },
            noStep: true,
            augment: false,
            sessions: [session],
            limit: n === "epoch" ? undefined : n * batchSize,
            trainMode: scorer.trainMode ?? true,
            epochOffset: ctx.step.index,
            totalEpochs: 1,
            label: `score ${spec.scorer}`,
          },
          emit,
          cancel,
        );
      }
      const key = spec.key ?? spec.scorer;
      const scores = await session.scores();
      ctx.scores.get(key)?.values.forEach((t) => t.dispose());
      ctx.scores.set(key, scores);
    } finally {
      session.dispose();
    }
  });
}
