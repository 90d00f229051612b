/**
 * Model zoo: exact PyTorch parameter counts, layer conventions, width scaling,
 * forward shapes, save/load round trips and the option-A shortcut layer.
 * @module
 */
import { ChannelPadShortcut, isUserFacing, MaskedReLU, tf } from "@shears/core";
import {
  buildModel,
  buildWith,
  customResnet18,
  type LayerKit,
  lenet5,
  mlp,
  modelNames,
  ModelOptionsError,
  resnet18,
  resnet20,
  resnet56,
  TORCH,
  vgg11Bn,
  vgg16,
  vgg16Bn,
} from "@shears/models";
import { allClose, deepEqual, equal, match, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

const CIFAR = [32, 32, 3];

/** Trainable parameters: the sum of model.trainableWeights sizes. */
function trainableParams(m: tf.LayersModel): number {
  return m.trainableWeights.reduce((s, w) => s + tf.util.sizeFromShape(w.shape as number[]), 0);
}

/** Builds, runs `f`, disposes. */
function withModel<T>(m: tf.LayersModel, f: (m: tf.LayersModel) => T): T {
  try {
    return f(m);
  } finally {
    m.dispose();
  }
}

function maskedLayers(m: tf.LayersModel): MaskedReLU[] {
  return m.layers.filter((l): l is MaskedReLU => l instanceof MaskedReLU);
}

Deno.test("parameter counts equal PyTorch's for the same architectures", () => {
  const cases: [string, number[], number, number][] = [
    ["resnet18", CIFAR, 10, 11_173_962],
    ["resnet18", CIFAR, 100, 11_220_132],
    ["custom_resnet18", CIFAR, 10, 11_173_962],
    ["resnet20", CIFAR, 10, 269_722],
    ["resnet56", CIFAR, 10, 853_018],
    ["vgg11_bn", CIFAR, 10, 9_231_114],
    ["vgg16_bn", CIFAR, 10, 14_728_266],
    // torchvision vgg16 features (14,714,688) + the seed's head on 512 flattened features
    ["vgg16", CIFAR, 2, 14_714_688 + (512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 2 + 2)],
    ["lenet5", [28, 28, 1], 10, 61_706],
    ["mlp", [28, 28, 1], 10, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10],
  ];
  for (const [name, inputShape, numClasses, expected] of cases) {
    withModel(buildModel(name, { inputShape, numClasses }), (m) => {
      equal(trainableParams(m), expected, `${name} (${numClasses} classes)`);
      deepEqual(m.outputs[0].shape, [null, numClasses], `${name} output shape`);
    });
  }
});

Deno.test("custom_resnet18: 16 MaskedReLU layers, 491,520 elements, no stem ReLU", async () => {
  const custom = customResnet18({ inputShape: CIFAR, numClasses: 10 });
  const active = await Promise.all(maskedLayers(custom).map((l) => l.activeCount()));
  withModel(custom, (m) => {
    const masked = maskedLayers(m);
    equal(masked.length, 16);
    const expectedNames = [1, 2, 3, 4].flatMap((s) =>
      [0, 1].flatMap((b) => [`layer${s}_${b}_relu1`, `layer${s}_${b}_relu2`])
    );
    deepEqual(masked.map((l) => l.name).sort(), expectedNames.sort());
    const elements = masked.reduce(
      (s, l) => s + tf.util.sizeFromShape(l.mask.shape as number[]),
      0,
    );
    equal(elements, 491_520);
    equal(active.reduce((s, n) => s + n, 0), 491_520);
    ok(!m.layers.some((l) => l.name === "relu1"), "no stem ReLU");
    ok(m.layers.every((l) => l.getClassName() !== "ReLU"), "no plain ReLU left");
    for (const p of ["layer2_1_relu2", "layer3_1_relu2", "layer4_1_relu2"]) {
      ok(m.getLayer(p) instanceof MaskedReLU, `${p} is an attention-transfer point`);
    }
    // masks are non-trainable weights
    ok(m.trainableWeights.every((w) => !w.name.includes("mask")));
  });
  withModel(resnet18({ inputShape: CIFAR, numClasses: 10 }), (m) => {
    equal(maskedLayers(m).length, 0);
    equal(m.layers.filter((l) => l.getClassName() === "ReLU").length, 17);
  });
});

/** A small input every zoo model takes, and the family whose conventions it follows. */
const SMALL: Record<string, { inputShape: number[]; width: number; keras?: boolean }> = {
  resnet18: { inputShape: [16, 16, 3], width: 0.125 },
  custom_resnet18: { inputShape: [16, 16, 3], width: 0.125 },
  resnet20: { inputShape: [16, 16, 3], width: 0.125 },
  resnet56: { inputShape: [16, 16, 3], width: 0.125 },
  vgg11_bn: { inputShape: CIFAR, width: 0.125 },
  vgg16_bn: { inputShape: CIFAR, width: 0.125 },
  vgg16: { inputShape: CIFAR, width: 0.125 },
  lenet5: { inputShape: [28, 28, 1], width: 0.125 },
  mlp: { inputShape: [16, 16, 3], width: 0.125 },
  mobilenet_v1: { inputShape: CIFAR, width: 0.25, keras: true },
  mobilenet_v2: { inputShape: CIFAR, width: 0.35, keras: true },
  mobilenet_v3_small: { inputShape: CIFAR, width: 0.5, keras: true },
  resnet50: { inputShape: CIFAR, width: 0.125, keras: true },
  se_resnet50: { inputShape: CIFAR, width: 0.125, keras: true },
  densenet121: { inputShape: CIFAR, width: 0.125, keras: true },
  inception_v3: { inputShape: [75, 75, 3], width: 0.125, keras: true },
  xception: { inputShape: [71, 71, 3], width: 0.0625, keras: true },
  efficientnet_b0: { inputShape: CIFAR, width: 0.25, keras: true },
  unet: { inputShape: [16, 16, 3], width: 0.0625, keras: true },
  text_cnn: { inputShape: [12], width: 0.1, keras: true },
};

Deno.test("conventions: linear convs/denses, separate activations, names, BN settings", () => {
  deepEqual(Object.keys(SMALL).sort(), [...modelNames].sort(), "a small case per zoo model");
  for (const name of modelNames) {
    const { inputShape, width, keras } = SMALL[name];
    withModel(buildModel(name, { inputShape, numClasses: 5, width }), (m) => {
      for (const l of m.layers) {
        ok(!/[./]/.test(l.name), `${name}: layer name ${l.name} has a dot or a slash`);
        const cfg = l.getConfig();
        if ("activation" in cfg && l.getClassName() !== "Activation") {
          equal(cfg.activation, "linear", `${name}/${l.name} activation`);
        }
        if (l.getClassName() === "BatchNormalization") {
          const [eps, momentum] = keras ? [[1e-3, 1.001e-5], [0.99, 0.999]] : [[1e-5], [0.9]];
          ok(eps.includes(cfg.epsilon as number), `${name}/${l.name} epsilon ${cfg.epsilon}`);
          ok(momentum.includes(cfg.momentum as number), `${name}/${l.name} momentum`);
        }
        if (l.getClassName() === "Conv2D" && !keras && name.startsWith("resnet")) {
          equal(cfg.useBias, false, `${name}/${l.name}: conv before BN has no bias`);
        }
      }
      const out = name === "unet" ? [null, ...inputShape.slice(0, 2), 5] : [null, 5];
      deepEqual(m.outputs[0].shape, out, `${name} ends in logits`);
      ok(!m.layers.some((l) => l.getClassName() === "Softmax"), `${name} has no softmax`);
    });
  }
});

Deno.test("resnet18 layer names follow the convention", () => {
  withModel(resnet18({ inputShape: [8, 8, 3], numClasses: 3, width: 0.125 }), (m) => {
    const names = new Set(m.layers.map((l) => l.name));
    for (
      const n of [
        "conv1",
        "bn1",
        "relu1",
        "layer1_0_conv1",
        "layer1_0_add",
        "layer1_0_relu2",
        "layer2_0_shortcut_conv",
        "layer2_0_shortcut_bn",
        "layer4_1_bn2",
        "avgpool",
        "fc",
      ]
    ) ok(names.has(n), `missing ${n}`);
    ok(!names.has("layer1_0_shortcut_conv"), "identity shortcut where the shape is unchanged");
  });
});

Deno.test("width multiplier scales channels; option-A pads the width-scaled difference", () => {
  const kernel = (m: tf.LayersModel, n: string) => m.getLayer(n).getWeights()[0].shape;
  withModel(resnet20({ inputShape: CIFAR, numClasses: 10, width: 0.5 }), (m) => {
    deepEqual(kernel(m, "conv1"), [3, 3, 3, 8]);
    deepEqual(kernel(m, "layer3_0_conv1"), [3, 3, 16, 32]);
    const s = m.getLayer("layer3_0_shortcut") as ChannelPadShortcut;
    deepEqual([s.stride, s.padBefore, s.padAfter], [2, 8, 8]);
    ok(trainableParams(m) < 269_722 / 3, "about a quarter of the full-width parameters");
  });
  // width 0.1: 16-32-64 -> 2-3-6: asymmetric padding (1 -> 0 + 1, 3 -> 1 + 2)
  withModel(resnet20({ inputShape: [8, 8, 3], numClasses: 4, width: 0.1 }), (m) => {
    const pads = ["layer2_0_shortcut", "layer3_0_shortcut"].map((n) => {
      const s = m.getLayer(n) as ChannelPadShortcut;
      return [s.padBefore, s.padAfter];
    });
    deepEqual(pads, [[0, 1], [1, 2]]);
    const y = tf.tidy(() => (m.predict(tf.ones([2, 8, 8, 3])) as tf.Tensor).shape);
    deepEqual(y, [2, 4]);
  });
  withModel(vgg16Bn({ inputShape: CIFAR, numClasses: 10, width: 0.25 }), (m) => {
    deepEqual(kernel(m, "features_conv13"), [3, 3, 128, 128]);
    deepEqual(kernel(m, "classifier"), [128, 10]);
  });
  withModel(mlp({ inputShape: [10], numClasses: 2, width: 0.5, hidden: [6, 3] }), (m) => {
    deepEqual(kernel(m, "fc1"), [10, 3]);
    deepEqual(kernel(m, "fc2"), [3, 2]); // round(1.5) = 2
    deepEqual(kernel(m, "fc3"), [2, 2]);
  });
});

Deno.test("tiny forward passes give [N, classes] finite logits without leaking tensors", () => {
  const cases: [string, number[], number][] = [
    ["resnet18", [16, 16, 3], 0.125],
    ["custom_resnet18", [16, 16, 3], 0.125],
    ["resnet20", [16, 16, 3], 0.25],
    ["resnet56", [16, 16, 3], 0.125],
    ["vgg11_bn", CIFAR, 0.125],
    ["vgg16_bn", CIFAR, 0.125],
    ["vgg16", CIFAR, 0.0625],
    ["lenet5", [28, 28, 1], 1],
    ["lenet5", [32, 32, 1], 0.5],
    ["mlp", [8, 8, 1], 0.25],
  ];
  for (const [name, inputShape, width] of cases) {
    withModel(buildModel(name, { inputShape, numClasses: 7, width, seed: 1 }), (m) => {
      const x = tf.randomNormal([3, ...inputShape], 0, 1, "float32", 2);
      const run = () => tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync());
      run();
      const before = tf.memory().numTensors;
      const y = tf.tidy(() => m.predict(x) as tf.Tensor);
      deepEqual(y.shape, [3, 7], `${name} logits shape`);
      ok(Array.from(y.dataSync()).every(Number.isFinite), `${name} logits finite`);
      y.dispose();
      run();
      equal(tf.memory().numTensors, before, `${name} leaks tensors`);
      x.dispose();
    });
  }
});

Deno.test("stem ReLU: resnet20 has one, resnet56 (RNI reference) not unless asked", () => {
  const has = (m: tf.LayersModel) => m.layers.some((l) => l.name === "relu1");
  const opts = { inputShape: [8, 8, 3], numClasses: 2, width: 0.125 };
  withModel(resnet20(opts), (m) => ok(has(m)));
  withModel(resnet56(opts), (m) => ok(!has(m)));
  withModel(resnet56({ ...opts, stemRelu: true }), (m) => ok(has(m)));
  withModel(resnet20({ ...opts, stemRelu: false }), (m) => ok(!has(m)));
});

Deno.test("VGG final pool: vgg16_bn averages (RNI), vgg11_bn and vgg16 max-pool", () => {
  const opts = { inputShape: CIFAR, numClasses: 2, width: 0.0625 };
  withModel(
    vgg16Bn(opts),
    (m) => equal(m.getLayer("features_pool5").getClassName(), "AveragePooling2D"),
  );
  withModel(vgg16Bn({ ...opts, finalPool: "max" }), (m) => {
    equal(m.getLayer("features_pool5").getClassName(), "MaxPooling2D");
  });
  withModel(
    vgg11Bn(opts),
    (m) => equal(m.getLayer("features_pool5").getClassName(), "MaxPooling2D"),
  );
  withModel(vgg16(opts), (m) => {
    equal(m.getLayer("features_pool5").getClassName(), "MaxPooling2D");
    equal(m.layers.filter((l) => l.getClassName() === "Dropout").length, 2);
    ok(!m.layers.some((l) => l.getClassName() === "BatchNormalization"));
  });
});

Deno.test("initialisation: He-normal fan_out convs, bnGammaInit, seeds repeat", () => {
  withModel(resnet56({ inputShape: [8, 8, 3], numClasses: 2, bnGammaInit: 0.5 }), (m) => {
    const gammas = m.layers.filter((l) => l.getClassName() === "BatchNormalization")
      .map((l) => l.getWeights()[0].dataSync());
    ok(gammas.length === 55 && gammas.every((g) => g.every((v) => v === 0.5)));
    // std of a 3x3x64x64 kernel: sqrt(2 / (3 * 3 * 64))
    const w = m.getLayer("layer3_4_conv2").getWeights()[0];
    const std = tf.tidy(() => tf.moments(w).variance.sqrt().dataSync()[0]);
    allClose([std], [Math.sqrt(2 / (9 * 64))], { rtol: 0.05, atol: 0 }, "kernel std");
  });
  const weightsOf = (seed: number) =>
    withModel(
      lenet5({ inputShape: [28, 28, 1], numClasses: 3, seed }),
      (m) => m.getWeights().map((t) => Array.from(t.dataSync())),
    );
  const a = weightsOf(7), b = weightsOf(7), c = weightsOf(8);
  deepEqual(a, b);
  notEqualArrays(a[0], c[0]);
  notEqualArrays(a[0], a[2]); // conv1 and conv2 kernels draw from different seeds
});

function notEqualArrays(a: number[], b: number[]): void {
  ok(a.length !== b.length || a.some((v, i) => v !== b[i]), "arrays should differ");
}

/** Saves through tf.io into memory and loads back. */
async function roundTrip(m: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler((a) => {
    artifacts = a;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  return await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
}

/** Replaces every weight with random values (masks with random 0/1) so a round trip is tested on non-default state. */
function randomizeWeights(m: tf.LayersModel): void {
  m.setWeights(m.weights.map((w, i) =>
    tf.tidy(() => {
      const shape = w.shape as number[];
      if (w.name.includes("mask")) {
        return tf.randomUniform(shape, 0, 1, "float32", i).round();
      }
      if (w.name.includes("moving_variance")) return tf.randomUniform(shape, 0.5, 2, "float32", i);
      return tf.randomNormal(shape, 0, 0.3, "float32", i);
    })
  ));
}

Deno.test("save -> load round trip keeps MaskedReLU masks and ChannelPadShortcut outputs", async () => {
  const models = [
    customResnet18({ inputShape: [8, 8, 3], numClasses: 4, width: 0.125 }),
    resnet20({ inputShape: [8, 8, 3], numClasses: 4, width: 0.25 }),
  ];
  for (const m of models) {
    randomizeWeights(m);
    const loaded = await roundTrip(m);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, "float32", 3);
    const [a, b] = [m, loaded].map((mm) => tf.tidy(() => (mm.predict(x) as tf.Tensor).dataSync()));
    deepEqual(Array.from(b), Array.from(a), `${m.name} outputs after load`);
    const activeOf = (mm: tf.LayersModel) =>
      Promise.all(maskedLayers(mm).map((l) => l.activeCount()));
    deepEqual(await activeOf(loaded), await activeOf(m));
    equal(
      loaded.layers.filter((l) => l instanceof ChannelPadShortcut).length,
      m.layers.filter((l) => l instanceof ChannelPadShortcut).length,
    );
    x.dispose();
    m.dispose();
    loaded.dispose();
  }
});

Deno.test("ChannelPadShortcut equals x[:, ::s, ::s, :] zero-padded on channels", () => {
  const [n, h, w, c] = [2, 5, 5, 3];
  const layer = new ChannelPadShortcut({ stride: 2, padBefore: 1, padAfter: 2, name: "sc" });
  const xs = Array.from({ length: n * h * w * c }, (_, i) => Math.sin(i) + i / 100);
  const x = tf.tensor4d(xs, [n, h, w, c]);
  const y = layer.apply(x) as tf.Tensor;
  const [oh, ow, oc] = [3, 3, c + 3];
  deepEqual(y.shape, [n, oh, ow, oc]);
  deepEqual(layer.computeOutputShape([null, h, w, c]), [null, oh, ow, oc]);
  const expected: number[] = [];
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let k = 0; k < oc; k++) {
          const src = k - 1; // output channel padBefore + i = input channel i
          expected.push(src >= 0 && src < c ? xs[((b * h + 2 * i) * w + 2 * j) * c + src] : 0);
        }
      }
    }
  }
  deepEqual(Array.from(y.dataSync()), Array.from(Float32Array.from(expected)));
  // gradient: dL/dx = upstream gradient routed back to the kept positions, zero elsewhere
  const up = tf.randomNormal([n, oh, ow, oc], 0, 1, "float32", 5);
  const g = tf.grad((t: tf.Tensor) => (layer.apply(t) as tf.Tensor).mul(up).sum())(x);
  const upv = up.dataSync();
  const gv = g.dataSync();
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < h; r++) {
      for (let q = 0; q < w; q++) {
        for (let k = 0; k < c; k++) {
          const kept = r % 2 === 0 && q % 2 === 0;
          const want = kept ? upv[((b * oh + r / 2) * ow + q / 2) * oc + k + 1] : 0;
          equal(gv[((b * h + r) * w + q) * c + k], want);
        }
      }
    }
  }
  const clone = ChannelPadShortcut.fromConfig(
    ChannelPadShortcut,
    layer.getConfig(),
  ) as ChannelPadShortcut;
  deepEqual([clone.stride, clone.padBefore, clone.padAfter], [2, 1, 2]);
  tf.dispose([x, y, up, g]);
  throws(() => new ChannelPadShortcut({ padBefore: -1 }), /padBefore must be an integer >= 0/);
});

/** Asserts `f` throws a user-facing ModelOptionsError of one line matching `re`, making no tensor. */
function rejects1(f: () => unknown, re: RegExp): void {
  const before = tf.memory().numTensors;
  throws(f, (e: Error) => {
    ok(e instanceof ModelOptionsError && isUserFacing(e), `${e.name}: ${e.message}`);
    match(e.message, re);
    ok(!e.message.includes("\n"), "one line");
    return true;
  });
  equal(tf.memory().numTensors, before, "weights were made before the error");
}

Deno.test("bad names and options fail with one clear line", () => {
  rejects1(() => buildModel("resnet19", { inputShape: CIFAR, numClasses: 10 }), /resnet19/);
  throws(
    () => buildModel("resnet19", { inputShape: CIFAR, numClasses: 10 }),
    (e: Error) => modelNames.every((n) => e.message.includes(n)),
  );
  rejects1(() => resnet18({ inputShape: [32, 32], numClasses: 10 }), /inputShape must be 3/);
  rejects1(() => resnet18({ inputShape: CIFAR, numClasses: 0 }), /numClasses must be/);
  rejects1(() => resnet18({ inputShape: CIFAR, numClasses: 10, width: 0 }), /width must be/);
  rejects1(() => vgg16Bn({ inputShape: [16, 16, 3], numClasses: 10 }), /sides must be >= 32/);
  rejects1(() => lenet5({ inputShape: [10, 10, 1], numClasses: 10 }), /too small/);
  rejects1(() => mlp({ inputShape: [4], numClasses: 2, hidden: [0] }), /hidden must be/);
});

Deno.test("shapes and widths a builder cannot take: one line before any weight is made", () => {
  // train_teacher --model vgg11_bn on 28x28 MNIST; summary --model lenet5 --width 1e6
  rejects1(
    () => buildModel("vgg11_bn", { inputShape: [28, 28, 1], numClasses: 10 }),
    /^vgg11_bn: inputShape spatial sides must be >= 32, got \[28,28,1\]$/,
  );
  rejects1(
    () => buildModel("lenet5", { inputShape: [28, 28, 1], numClasses: 10, width: 1e6 }),
    /^lenet5: width 1000000 makes a layer of 6000000 channels, more than 65536; use a smaller width$/,
  );
  // Within the channel limit but too many weights in all: found by the dry run, nothing allocated.
  rejects1(
    () => buildModel("vgg16", { inputShape: CIFAR, numClasses: 10, width: 20 }),
    /^vgg16: width 20 makes more than 1073741824 weights \(\d+ by layer 'features_conv\d+'\)/,
  );
  const mins: [string, number][] = [
    ["mobilenet_v1", 32],
    ["mobilenet_v2", 32],
    ["mobilenet_v3_small", 32],
    ["resnet50", 32],
    ["se_resnet50", 32],
    ["densenet121", 32],
    ["inception_v3", 75],
    ["xception", 71],
    ["efficientnet_b0", 32],
    ["unet", 16],
  ];
  for (const [name, side] of mins) {
    const re = new RegExp(`^${name}: inputShape spatial sides must be >= ${side}, got`);
    rejects1(() => buildModel(name, { inputShape: [side - 1, side, 3], numClasses: 2 }), re);
  }
  rejects1(
    () => buildModel("unet", { inputShape: [40, 32, 1], numClasses: 2 }),
    /^unet: inputShape sides must be multiples of 16/,
  );
  rejects1(
    () => buildModel("unet", { inputShape: [32, 32, 1], numClasses: 2, up: "nearest" as never }),
    /up must be/,
  );
  rejects1(
    () => buildModel("text_cnn", { inputShape: [28, 28, 1], numClasses: 10 }),
    /inputShape must be 1 positive/,
  );
  rejects1(
    () => buildModel("text_cnn", { inputShape: [4], numClasses: 2 }),
    /sequence length >= 5/,
  );
  rejects1(
    () => buildModel("text_cnn", { inputShape: [8], numClasses: 2, vocabSize: 0 }),
    /vocabSize/,
  );
  rejects1(
    () => buildModel("mobilenet_v1", { inputShape: CIFAR, numClasses: 2, depthMultiplier: 0 }),
    /depthMultiplier must be an integer >= 1/,
  );
});

Deno.test("buildWith: an input too small for some layer is found by the dry run, naming the layer", () => {
  const pools = (kit: LayerKit, x: tf.SymbolicTensor, n: number) => {
    for (let i = 1; i <= n; i++) {
      x = tf.layers.maxPooling2d({ name: `p${i}`, poolSize: 3 }).apply(x) as tf.SymbolicTensor;
    }
    return kit.dense(tf.layers.flatten({ name: "f" }).apply(x) as tf.SymbolicTensor, "fc", 2);
  };
  const build = (n: number) =>
    buildWith("tiny", { inputShape: [4, 4, 1], numClasses: 2 }, TORCH, (kit) => {
      const input = tf.input({ shape: [4, 4, 1] });
      return tf.model({ inputs: input, outputs: pools(kit, input, n) });
    });
  rejects1(
    () => build(2),
    /^tiny: inputShape \[4,4,1\] is too small: layer 'p2' would output \[0,0,1\]$/,
  );
  withModel(build(1), (m) => deepEqual(m.outputs[0].shape, [null, 2]));
});

/** murmur3 fmix32 of (h, j) mapped to [-1, 1); the same as in models_torch_reference.py. */
function unit(h: number, j: number): number {
  let x = (Math.imul(h, 0x9e3779b1) + j) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return (x >>> 0) / 2 ** 31 - 1;
}

/** Sets every weight to the closed form of models_torch_reference.py (PyTorch layout, then transposed). */
function setClosedFormWeights(m: tf.LayersModel): void {
  m.setWeights(m.weights.map((w) => {
    const key = w.originalName;
    const h = Array.from(key).reduce((s, ch, i) => s + (i + 1) * ch.charCodeAt(0), 0);
    const shape = w.shape as number[];
    const kind = key.split("/")[1];
    // PyTorch layouts: conv [O, I, kh, kw], dense [O, I]
    const torchShape = shape.length === 4
      ? [shape[3], shape[2], shape[0], shape[1]]
      : shape.length === 2
      ? [shape[1], shape[0]]
      : shape;
    const fanIn = tf.util.sizeFromShape(torchShape.slice(1));
    const values = Float32Array.from({ length: tf.util.sizeFromShape(shape) }, (_, j) => {
      const s = unit(h, j);
      if (kind === "kernel") return s * Math.sqrt(6 / fanIn);
      if (kind === "gamma") return 1 + 0.2 * s;
      if (kind === "moving_variance") return 0.5 + s * s;
      return 0.1 * s;
    });
    return tf.tidy(() => {
      const t = tf.tensor(values, torchShape);
      return shape.length === 4
        ? t.transpose([2, 3, 1, 0])
        : shape.length === 2
        ? t.transpose()
        : t;
    });
  }));
}

Deno.test("eval-mode logits match PyTorch references (tests/models_torch_reference.py)", () => {
  // printed by `/usr/bin/python3 tests/models_torch_reference.py`
  const cases: [tf.LayersModel, number, number[]][] = [
    [
      resnet20({ inputShape: [15, 15, 3], numClasses: 3, width: 0.25 }),
      15,
      [2.586401, 31.193909, 27.877956, 2.34079, 49.625813, 34.769321],
    ],
    [
      resnet18({ inputShape: [16, 16, 3], numClasses: 3, width: 0.125 }),
      16,
      [-1.73682, -158.518402, 3.989645, -7.185706, -159.888412, 2.872133],
    ],
    [
      vgg16Bn({ inputShape: CIFAR, numClasses: 3, width: 0.0625 }),
      32,
      [-0.478912, -0.265708, 0.102443, -0.536528, -0.31765, -0.034404],
    ],
  ];
  for (const [m, side, expected] of cases) {
    withModel(m, () => {
      setClosedFormWeights(m);
      const y = tf.tidy(() => {
        const x = tf.tensor(
          Float32Array.from({ length: 2 * side * side * 3 }, (_, j) => Math.sin(0.3 * j)),
          [2, side, side, 3],
        );
        return (m.predict(x) as tf.Tensor).dataSync();
      });
      allClose(y, expected, { rtol: 1e-3, atol: 1e-3 }, `${m.name} logits`);
    });
  }
});
