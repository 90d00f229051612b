/**
 * Shared helpers of the filter_taylor tests: a run context over fixed batches
 * and a way to run one stage to completion.
 * @module
 */
import { type Batch, type Dataset, type Rng, type RunContext, type Stage, tf } from "@shears/core";
import filterTaylor from "@shears/filter_taylor";
import { lastValueFrom } from "rxjs";
import { testContext } from "./context.ts";

/** A dataset that yields the same fixed batches, in order, for every split. */
export function fixedBatches(
  batches: { x: number[][][][]; y: number[] }[],
  classes: number,
): Dataset {
  const first = batches[0].x[0];
  const n = batches.reduce((s, b) => s + b.y.length, 0);
  return {
    name: "fixed",
    inputShape: [first.length, first[0].length, first[0][0].length],
    numClasses: classes,
    size: () => n,
    *batches(): Iterable<Batch> {
      for (const b of batches) yield { x: tf.tensor4d(b.x), y: tf.tensor1d(b.y, "int32") };
    },
  };
}

/** A fresh run context over `model` and `data`, with the filter_taylor plugin registered. */
export function contextFor(model: tf.LayersModel, data: Dataset): RunContext {
  return testContext({ model, data, plugins: [filterTaylor] });
}

/** Runs one stage over `ctx` to completion. */
export async function runStage(stage: Stage, ctx: RunContext): Promise<void> {
  await lastValueFrom(stage.run(ctx), { defaultValue: undefined });
}

/** Seeded random nested array of shape [n, h, w, c]. */
export function randomImages(rng: Rng, n: number, h: number, w: number, c: number): number[][][][] {
  return Array.from(
    { length: n },
    () =>
      Array.from(
        { length: h },
        () => Array.from({ length: w }, () => Array.from({ length: c }, () => rng.normal())),
      ),
  );
}
