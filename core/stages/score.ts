/**
 * The score stage: runs a plugin's scorer and stores its scores in
 * `ctx.scores`. Scorers that need gradients get a pass of training batches
 * through the tapped model with no optimizer step. A `channels` scorer is
 * handed the channel groups the run prunes (as Torch-Pruning hands an
 * importance its group) and checked: every requested group must get a
 * score of the group's size, and an id the model does not have is an error
 * naming it; scores for other groups are dropped.
 * @module
 */
import type { tf } from "../tf.ts";
import type { Options, ScoreRequest, Scores } from "../plugin.ts";
import type { PartRef } from "../parts.ts";
import { type RunContext, type Stage, stage } from "../pipeline.ts";
import { train } from "../train.ts";
import { buildChannelGraph } from "../graph.ts";
import { UsageError } from "../errors.ts";
import { type GroupKind, prunableGroups } from "../units.ts";

/** Which scorer, with what options, stored under which key. */
export interface ScoreSpec {
  /** Registry name, e.g. "filter_taylor/taylor", or a chosen part (its options as defaults). */
  scorer: string | PartRef;
  options?: Options | ((ctx: RunContext) => Options);
  /**
   * `channels` scorers: the group ids to score (see the module doc), or a kind of group: the
   * model's prunable groups of that kind as it is when scored; default: what the scorer gives.
   */
  groups?: GroupKind | ((ctx: RunContext) => string[]);
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
 * Checks channel scores against `model`'s channel graph and the requested
 * group ids (see the module doc); returns the scores of the requested groups
 * (all scored ones when none are requested), disposing the others. Throws a
 * one-line error naming missing or unknown groups.
 *
 * @example
 * ```ts
 * const scores = checkChannelScores("my/scorer", await session.scores(), model, ["conv1"]);
 * ```
 */
export function checkChannelScores(
  scorer: string,
  scores: Scores,
  model: tf.LayersModel,
  groups?: string[],
): Scores {
  const dispose = () => scores.values.forEach((t) => t.dispose());
  if (scores.target !== "channels") {
    dispose();
    throw new UsageError(`scorer ${scorer} gave ${scores.target} scores, not channels`);
  }
  const graph = buildChannelGraph(model);
  const sizes = new Map(graph.groups.map((g) => [g.id, g.size]));
  const invented = [...scores.values.keys()].filter((id) => !sizes.has(id));
  const missing = (groups ?? []).filter((id) => !scores.values.has(id));
  const wrong = [...scores.values].filter(([id, t]) => sizes.has(id) && t.size !== sizes.get(id));
  const problem = invented.length
    ? `scores channel groups the model does not have: ${invented.join(", ")}`
    : missing.length
    ? `gave no scores for channel groups ${missing.join(", ")}`
    : wrong.length
    ? `gave ${wrong[0][1].size} scores for group ${wrong[0][0]} of ${
      sizes.get(wrong[0][0])
    } channels`
    : undefined;
  if (problem) {
    dispose();
    throw new UsageError(
      `scorer ${scorer} ${problem} (scores are keyed by group id; the model's groups: ${
        graph.groups.filter((g) => g.prunable).map((g) => g.id).join(", ")
      })`,
    );
  }
  if (!groups) return scores;
  const wanted = new Set(groups);
  const values = new Map<string, tf.Tensor>();
  for (const [id, t] of scores.values) {
    if (wanted.has(id)) values.set(id, t);
    else t.dispose();
  }
  return { target: "channels", values };
}

/**
 * Scores the model with a registered scorer.
 *
 * @example
 * ```ts
 * score({ scorer: "filter_taylor/taylor", batches: "epoch" });
 * score({ scorer: "filter_taylor/l1", groups: "conv" }); // the conv filters left, each iteration
 * ```
 */
export function score(spec: ScoreSpec): Stage {
  const ref = typeof spec.scorer === "string" ? { name: spec.scorer } : spec.scorer;
  return stage("score", async (ctx, emit, cancel) => {
    const scorer = ctx.registry.scorer(ref.name);
    const groups = typeof spec.groups === "string"
      ? prunableGroups(ctx.model!, spec.groups).map((g) => g.id)
      : spec.groups?.(ctx);
    const request: ScoreRequest = groups ? { groups } : {};
    const options = { ...ref.options, ...resolve(spec.options ?? {}, ctx) };
    const session = scorer.start(ctx, options, request);
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
            label: `score ${ref.name}`,
          },
          emit,
          cancel,
        );
      }
      const key = spec.key ?? ref.name;
      let scores = await session.scores();
      if (scorer.target === "channels") {
        scores = checkChannelScores(ref.name, scores, ctx.model!, groups);
      }
      ctx.scores.get(key)?.values.forEach((t) => t.dispose());
      ctx.scores.set(key, scores);
    } finally {
      session.dispose();
    }
  });
}
