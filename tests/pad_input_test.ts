import { tf } from "@shears/core";
import { padInput } from "../pipelines/common.ts";
import { allClose, deepEqual, equal } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { concatDepthwise, randomizeWeights } from "./channel_models.ts";

await useTestBackend();

Deno.test("padInput: a branching model on smaller images, zero-padded centred, same weights", async () => {
  const before = tf.memory().numTensors;
  const model = concatDepthwise(); // 4x4x2 input, two branches concatenated, BN, flatten
  randomizeWeights(model, 7);
  // 2x2 pads 1 on every side; 3x3 pads 0 before and 1 after (the odd pixel goes after).
  const cases: [number, [number, number]][] = [[2, [1, 1]], [3, [0, 1]]];
  for (const [side, padding] of cases) {
    const padded = padInput(model, [side, side, 2]);
    deepEqual(padded.inputs[0].shape, [null, side, side, 2]);
    const pad = padded.getLayer("input_pad");
    equal(pad.getClassName(), "ZeroPadding2D");
    deepEqual(pad.outputShape, [null, 4, 4, 2]);
    const [got, want] = tf.tidy(() => {
      const x = tf.randomNormal([3, side, side, 2], 0, 1, "float32", 1);
      return [
        padded.predict(x) as tf.Tensor,
        model.predict(tf.pad(x, [[0, 0], padding, padding, [0, 0]])) as tf.Tensor,
      ];
    });
    allClose(await got.data(), await want.data(), { atol: 1e-5 });
    tf.dispose([got, want]);
    padded.dispose();
  }
  model.dispose();
  equal(tf.memory().numTensors, before);
});
