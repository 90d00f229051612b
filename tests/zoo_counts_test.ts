/**
 * The Keras-applications builders at full size (224x224x3, 1000 classes,
 * width 1) have exactly the weights Keras' models have (Keras' "Total
 * params": BN moving statistics included). EfficientNet-B0 leaves out
 * Keras' Normalization preprocessing layer and its 7 weights (mean and
 * variance of 3 channels, and a count); tfjs has no such layer.
 * @module
 */
import { tf } from "@shears/core";
import { buildModel } from "@shears/models";
import { equal } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

const KERAS_COUNTS: [string, number][] = [
  ["mobilenet_v1", 4_253_864],
  ["mobilenet_v2", 3_538_984],
  ["mobilenet_v3_small", 2_554_968],
  ["resnet50", 25_636_712],
  ["densenet121", 8_062_504],
  ["inception_v3", 23_851_784],
  ["xception", 22_910_480],
  ["efficientnet_b0", 5_330_571 - 7],
];

Deno.test("full-size weight counts equal Keras' (224x224x3, 1000 classes)", () => {
  for (const [name, expected] of KERAS_COUNTS) {
    const before = tf.memory().numTensors;
    const m = buildModel(name, { inputShape: [224, 224, 3], numClasses: 1000 });
    try {
      equal(m.countParams(), expected, name);
    } finally {
      m.dispose();
    }
    equal(tf.memory().numTensors, before, `${name} leaks`);
  }
});

Deno.test("full-size counts of the other new builders", () => {
  const cases: [string, number[], number, number][] = [
    // U-Net, 1 input channel, 2 classes: the paper's layers with "same" padding
    ["unet", [64, 64, 1], 2, 31_030_658],
    // Kim's CNN: 20000 x 300 embedding, 3 x 100 filters of 3, 4, 5 tokens, Dense 300 -> 2
    ["text_cnn", [50], 2, 20000 * 300 + (3 + 4 + 5) * 300 * 100 + 300 + 300 * 2 + 2],
  ];
  for (const [name, inputShape, numClasses, expected] of cases) {
    const m = buildModel(name, { inputShape, numClasses });
    equal(m.countParams(), expected, name);
    m.dispose();
  }
});
