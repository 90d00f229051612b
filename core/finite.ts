/**
 * The non-finite guard: training stops at the first NaN or ±Inf loss, or at
 * the first step that leaves a weight NaN or ±Inf, with one line that says
 * where and what to try; nothing non-finite is ever checkpointed.
 *
 * @example
 * ```ts
 * await assertFinite(loss, model.weights, { where: "epoch 2/5, batch 7/40", lr: 0.05 });
 * const bad = await nonFinite(model.weights); // [] when every weight is finite
 * ```
 * @module
 */
import type { tf } from "./tf.ts";
import { markUserFacing } from "./errors.ts";
import { readScalars } from "./read.ts";

/** Training diverged: a loss or weight became NaN or ±Inf. User-facing (exit 2). */
export class NonFiniteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteError";
  }
}
markUserFacing(NonFiniteError);

/**
 * The names (original names, e.g. `conv1/kernel`) of the weights holding a
 * NaN or ±Inf; empty when all are finite. One read for all of them: the sum
 * of a tensor is finite exactly when its elements are (short of overflowing
 * float32, which only a diverged model reaches).
 *
 * @example
 * ```ts
 * if ((await nonFinite(model.weights)).length) throw new Error("diverged");
 * ```
 */
export async function nonFinite(weights: tf.LayerVariable[]): Promise<string[]> {
  const sums = await readScalars(() => weights.map((w) => w.read().sum().cast("float32")));
  return weights.filter((_, i) => !Number.isFinite(sums[i])).map((w) => w.originalName);
}

/** Where in training a check is made, for the message. */
export interface FiniteCheckPoint {
  /** E.g. "epoch 2/5, batch 7/40". */
  where: string;
  /** The learning rate in force. */
  lr: number;
}

/**
 * Throws {@link NonFiniteError} when `loss` is not finite, or when one of
 * `weights` (after the optimizer step) holds a NaN or ±Inf. Pass no weights
 * to check the loss alone.
 *
 * @example
 * ```ts
 * await assertFinite(loss, cfg.noStep ? [] : model.weights, { where: "epoch 1/2, batch 3/4", lr });
 * ```
 */
export async function assertFinite(
  loss: number,
  weights: tf.LayerVariable[],
  at: FiniteCheckPoint,
): Promise<void> {
  const hint = `(lr ${at.lr.toPrecision(3)}): training diverged; try a lower learning rate`;
  if (!Number.isFinite(loss)) throw new NonFiniteError(`loss is ${loss} at ${at.where} ${hint}`);
  const bad = await nonFinite(weights);
  if (bad.length) {
    throw new NonFiniteError(
      `weights became NaN or Inf (${bad.slice(0, 3).join(", ")}${
        bad.length > 3 ? `, ${bad.length - 3} more` : ""
      }) after the step at ${at.where} ${hint}`,
    );
  }
}
