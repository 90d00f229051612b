/**
 * inferenceModel: BN folded away and ReLUs fused, same inference outputs, on
 * zoo models (VGG: conv-BN-ReLU chains; ResNet: BN before the residual add).
 */
import { inferenceModel, initBackend, Rng, tf } from "@shears/core";
import { buildModel } from "@shears/models";
import { allClose, equal, ok } from "./assert.ts";

await initBackend("cpu", { quiet: true });

/** Gives every BN non-trivial moving statistics and affine parameters (seeded). */
function randomizeBn(model: tf.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  for (const l of model.layers) {
    if (l.getClassName() !== "BatchNormalization") continue;
    l.setWeights(
      l.getWeights().map((w) => {
        const v = Float32Array.from({ length: w.size }, () => 0.5 + rng.next());
        return tf.tensor(v, w.shape);
      }),
    );
  }
}

const classes = (m: tf.LayersModel) => m.layers.map((l) => l.getClassName());

for (
  const [name, opts] of [
    ["vgg11_bn", { inputShape: [32, 32, 1], numClasses: 10, width: 0.125 }],
    ["resnet20", { inputShape: [16, 16, 3], numClasses: 10, width: 0.25 }],
  ] as const
) {
  Deno.test(`inferenceModel on ${name}: same outputs, no BN, ReLUs fused`, async () => {
    const model = buildModel(name, { ...opts, inputShape: [...opts.inputShape] });
    randomizeBn(model, 3);
    const before = tf.memory().numTensors;
    const fast = await inferenceModel(model);
    const x = tf.randomNormal([4, ...opts.inputShape], 0, 1, "float32", 5);
    const [want, got] = [model.predict(x) as tf.Tensor, fast.predict(x) as tf.Tensor];
    const peak = tf.tidy(() => want.abs().max());
    const scale = (await peak.data())[0];
    peak.dispose();
    allClose(await got.data(), await want.data(), { rtol: 1e-4, atol: 1e-4 * scale }, "outputs");
    equal(classes(fast).filter((c) => c === "BatchNormalization").length, 0, "BN left");
    const relus = (m: tf.LayersModel) => classes(m).filter((c) => c === "ReLU").length;
    ok(relus(fast) < relus(model), "some ReLUs fused");
    const fusedConvs = fast.layers.filter((l) =>
      l.getClassName() === "Conv2D" &&
      (l.getConfig() as { activation: string }).activation === "relu"
    ).length;
    equal(fusedConvs, relus(model) - relus(fast), "each removed ReLU is a conv's activation");
    tf.dispose([x, want, got]);
    fast.dispose();
    equal(tf.memory().numTensors, before, "tensors leaked");
    model.dispose();
  });
}

/** Activation layers by what they compute: `relu6` for ReLU(maxValue 6), else the activation. */
function activationLayers(m: tf.LayersModel): string[] {
  return m.layers.flatMap((l) => {
    const c = l.getConfig() as { maxValue?: number; activation?: string };
    if (l.getClassName() === "ReLU") return [c.maxValue === 6 ? "relu6" : "relu"];
    return l.getClassName() === "Activation" ? [c.activation!] : [];
  });
}

/** The activations producers carry (their `activation` config, when not linear). */
function fusedActivations(m: tf.LayersModel): string[] {
  return m.layers.flatMap((l) => {
    const a = (l.getConfig() as { activation?: string }).activation;
    return l.getClassName() !== "Activation" && a && a !== "linear" ? [a] : [];
  });
}

for (
  const [name, probe, act] of [
    ["mobilenet_v2", "bn_Conv1", "relu6"],
    ["efficientnet_b0", "stem_bn", "swish"],
  ] as const
) {
  Deno.test(`inferenceModel on ${name}: every BN folded (depthwise too), ${act} fused`, async () => {
    const model = buildModel(name, {
      inputShape: [32, 32, 3],
      numClasses: 10,
      width: 0.35,
      seed: 1,
    });
    randomizeBn(model, 3);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 30, "float32", 5);
    // The input is large enough that ReLU6 clips (so fusing it as a plain ReLU would show).
    const pre = tf.model({ inputs: model.inputs, outputs: model.getLayer(probe).output });
    const peakPre = tf.tidy(() => (pre.predict(x) as tf.Tensor).max());
    ok((await peakPre.data())[0] > 6, "activations reach 6, where ReLU6 clips");
    const fast = await inferenceModel(model);
    const [want, got] = [model.predict(x) as tf.Tensor, fast.predict(x) as tf.Tensor];
    const peak = tf.tidy(() => want.abs().max());
    const scale = (await peak.data())[0];
    allClose(await got.data(), await want.data(), { rtol: 1e-4, atol: 1e-4 * scale }, "outputs");
    equal(classes(fast).filter((c) => c === "BatchNormalization").length, 0, "BN left");
    const before = activationLayers(model).filter((a) => a === act).length;
    const left = activationLayers(fast).filter((a) => a === act).length;
    ok(before > 0 && left < before, `${act} layers fused`);
    equal(
      fusedActivations(fast).filter((a) => a === act).length,
      before - left,
      "fused as the same",
    );
    ok(
      fast.layers.some((l) =>
        l.getClassName() === "DepthwiseConv2D" && (l.getConfig() as { useBias: boolean }).useBias
      ),
      "BN folded into a depthwise conv",
    );
    tf.dispose([x, want, got, peak, peakPre]);
    for (const m of [fast, model]) m.dispose();
  });
}
