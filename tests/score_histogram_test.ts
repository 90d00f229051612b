/**
 * core's scoreHistogram: the summary of a run's scores (count, min, max,
 * counts at or below / at or above thresholds) in the report, and their
 * histogram in the run directory; no tensors made or lost.
 */
import { lastValueFrom, toArray } from "rxjs";
import { pipeline, scoreHistogram, tf } from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal, match } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { withTempDir } from "../pipelines/test_harness.ts";

await useTestBackend();

Deno.test("scoreHistogram: count, min, max, below_/above_ counts; the SVG; no tensor leak", () =>
  withTempDir(async (dir) => {
    const ctx = testContext({ runDir: dir });
    const a = tf.tensor1d([0.125, 0.25, 0.5]), b = tf.tensor2d([[1, 0.75], [-0.5, 0.375]]);
    ctx.scores.set("imp", {
      target: "channels",
      values: new Map<string, tf.Tensor>([["g1", a], ["g2", b]]),
    });
    const before = tf.memory().numTensors;
    await lastValueFrom(
      pipeline(scoreHistogram({
        scores: "imp",
        file: "h.svg",
        title: (_, n) => `${n} scores`,
        xLabel: "importance",
        report: "summary",
        below: [0.25],
        above: [0.75, 1],
      }))(ctx).pipe(toArray()),
    );
    equal(tf.memory().numTensors, before);
    deepEqual(ctx.report.summary, {
      count: 7,
      min: -0.5,
      max: 1,
      below_0_25: 3,
      above_0_75: 2,
      above_1: 1,
    });
    match(await Deno.readTextFile(`${dir}/h.svg`), /7 scores/);
    tf.dispose([a, b]);
  }));
