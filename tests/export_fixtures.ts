/**
 * Small models of the kind each pipeline saves, made with the plugins' own
 * parts (not by running the pipelines), for the export tests; and two test
 * layers with no standard form: `Sine` ships a module, `Unshippable` nothing.
 * Not a test file itself (no `_test` suffix).
 * @module
 */
import {
  foldBatchNorm,
  MaskedReLU,
  type Plugin,
  registerExportModule,
  Rng,
  tf,
} from "@shears/core";
import { buildModel } from "@shears/models";
import magnitude from "@shears/magnitude";
import filterTaylor from "@shears/filter_taylor";
import rni, { SigmoidBatchNorm, toSigmoidBatchNorm } from "@shears/rni";
import intraFusion from "@shears/intra_fusion";
import { padInput } from "../pipelines/common.ts";
import { testContext } from "./context.ts";

/** The pipelines whose saved models the export must handle. */
export const pipelineKinds = [
  "relu_taylor",
  "magnitude",
  "filter_taylor",
  "rni",
  "intra_fusion",
] as const;

/** One of {@link pipelineKinds}. */
export type PipelineKind = typeof pipelineKinds[number];

/** The input of every fixture model: an mnist digit. */
export const INPUT: [number, number, number] = [28, 28, 1];

/**
 * Sets every batch norm's moving statistics to those of its input on the
 * images `x` (layer by layer, so each sees the already calibrated ones
 * before it), as training would leave them, and a BatchNormalization's gamma
 * to [0.5, 1.5) and beta to N(0, 0.1): activations stay normalised and the
 * outputs at a trained model's scale, while the fold has real work to do.
 */
export function calibrateBn(model: tf.LayersModel, x: tf.Tensor, seed: number): void {
  const rng = new Rng(seed);
  for (const l of model.layers) {
    const cls = l.getClassName();
    if (cls !== "BatchNormalization" && cls !== SigmoidBatchNorm.className) continue;
    const probe = tf.model({ inputs: model.inputs, outputs: l.input as tf.SymbolicTensor });
    const [mean, variance] = tf.tidy(() => {
      const h = probe.predict(x) as tf.Tensor;
      const m = tf.moments(h, h.shape.slice(0, -1).map((_, i) => i));
      return [m.mean, m.variance.add(1e-3)];
    });
    const n = mean.shape[0]!;
    const affine = cls === "BatchNormalization"
      ? [
        tf.tensor1d(Array.from({ length: n }, () => 0.5 + rng.next())),
        tf.tensor1d(Array.from({ length: n }, () => 0.1 * rng.normal())),
      ]
      : [l.getWeights()[0].clone()];
    const values = [...affine, mean, variance];
    l.setWeights(values);
    tf.dispose(values);
  }
}

/** A VGG-11-BN of width 0.125 for 32x32 images, taking 28x28 digits (zero-padded in front). */
function paddedVgg(seed: number): tf.LayersModel {
  const inner = buildModel("vgg11_bn", {
    inputShape: [32, 32, 1],
    numClasses: 10,
    width: 0.125,
    seed,
  });
  const model = padInput(inner, INPUT);
  inner.dispose();
  return model;
}

async function scoresOf(ctx: ReturnType<typeof testContext>, scorer: string) {
  const session = ctx.registry.scorer(scorer).start(ctx, {});
  try {
    return await session.scores();
  } finally {
    session.dispose();
  }
}

/**
 * A small model like the one `kind`'s pipeline saves, on digits:
 * - relu_taylor: CustomResNet-18 (width 1/16) with MaskedReLUs: one all-zero
 *   mask (identity), one all-one (ReLU), the rest partial;
 * - magnitude: ResNet-20 (width 1/4; option-A shortcuts) with 70% of its conv
 *   weights zeroed by magnitude/global;
 * - filter_taylor: a VGG-11-BN with 8 filters removed by filter_taylor/global_lowest (L1);
 * - rni: a SigmoidBN VGG-11-BN with half its prunable channels removed by rni/global_quantile;
 * - intra_fusion: a BN-folded VGG-11 with two groups fused to half by intra_fusion/fusion.
 * Random weights (seeded), batch norms calibrated on the images `x`
 * ({@link calibrateBn}); the caller disposes the model. `unpruned`: the same
 * model before pruning (the masks all ones, nothing zeroed or removed).
 */
export async function pipelineModel(
  kind: PipelineKind,
  x: tf.Tensor,
  opts: { seed?: number; unpruned?: boolean } = {},
): Promise<tf.LayersModel> {
  const seed = opts.seed ?? 1;
  const model = await built(kind, x, seed, !opts.unpruned);
  if (kind !== "intra_fusion") calibrateBn(model, x, seed);
  return model;
}

async function built(
  kind: PipelineKind,
  x: tf.Tensor,
  seed: number,
  prune: boolean,
): Promise<tf.LayersModel> {
  switch (kind) {
    case "relu_taylor": {
      const model = buildModel("custom_resnet18", {
        inputShape: [...INPUT],
        numClasses: 10,
        width: 0.0625,
        seed,
      });
      if (!prune) return model;
      const rng = new Rng(seed);
      model.layers.filter((l) => l instanceof MaskedReLU).forEach((l, i) => {
        const m = (l as MaskedReLU).mask;
        const values = Float32Array.from(
          { length: m.shape.reduce((a, b) => a! * b!, 1)! },
          () => i === 0 ? 0 : i === 1 ? 1 : rng.next() < 0.3 ? 1 : 0,
        );
        const t = tf.tensor(values, m.shape as number[]);
        (l as MaskedReLU).setMask(t);
        t.dispose();
      });
      return model;
    }
    case "magnitude": {
      const model = buildModel("resnet20", {
        inputShape: [...INPUT],
        numClasses: 10,
        width: 0.25,
        seed,
      });
      if (!prune) return model;
      const ctx = testContext({ model, plugins: [magnitude], seed });
      const scores = await scoresOf(ctx, "magnitude/abs");
      await ctx.registry.pruner("magnitude/global").prune(ctx, scores, {}, {
        p_prune: 0.7,
        p_bern: 1,
      });
      tf.dispose([...scores.values.values()]);
      ctx.masks.dispose(); // the zeros stay; the originals kept for restore go
      return model;
    }
    case "filter_taylor": {
      if (!prune) return paddedVgg(seed);
      const ctx = testContext({ model: paddedVgg(seed), plugins: [filterTaylor], seed });
      const scores = await scoresOf(ctx, "filter_taylor/l1");
      await ctx.registry.pruner("filter_taylor/global_lowest").prune(
        ctx,
        scores,
        { remove: 8 },
        {},
      );
      tf.dispose([...scores.values.values()]);
      return ctx.model!;
    }
    case "rni": {
      const vgg = paddedVgg(seed);
      const sig = toSigmoidBatchNorm(vgg, { seed });
      vgg.dispose();
      calibrateBn(sig, x, seed);
      if (!prune) return sig;
      const ctx = testContext({ model: sig, plugins: [rni], seed });
      const scores = await scoresOf(ctx, "rni/bn_scale");
      await ctx.registry.pruner("rni/global_quantile").prune(ctx, scores, { keepRatio: 0.5 }, {});
      tf.dispose([...scores.values.values()]);
      sig.dispose();
      return ctx.model!;
    }
    case "intra_fusion": {
      const padded = paddedVgg(seed);
      calibrateBn(padded, x, seed);
      const { model: folded } = await foldBatchNorm(padded, { includeEps: false });
      padded.dispose();
      if (!prune) return folded;
      const ctx = testContext({ model: folded, plugins: [intraFusion], seed });
      const scores = await scoresOf(ctx, "intra_fusion/l1");
      const groups = [...scores.values.keys()].slice(0, 2);
      await ctx.registry.pruner("intra_fusion/fusion").prune(ctx, scores, { keepRatio: 0.5 }, {
        groups,
      });
      tf.dispose([...scores.values.values()]);
      folded.dispose();
      return ctx.model!;
    }
  }
}

/** A test layer y = sin(x) that tfjs does not have; it ships a module (see {@link SINE_SOURCE}). */
export class Sine extends tf.layers.Layer {
  static className = "Sine";
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.sin(Array.isArray(inputs) ? inputs[0] : inputs);
  }
}
tf.serialization.registerClass(Sine);

/** The dependency-free source of {@link Sine} for `layers.js`. */
export const SINE_SOURCE = `(tf) =>
  class Sine extends tf.layers.Layer {
    static className = "Sine";
    call(inputs) {
      return tf.sin(Array.isArray(inputs) ? inputs[0] : inputs);
    }
  }`;
registerExportModule(Sine.className, SINE_SOURCE);

/** A test layer y = x + 1 with no standard form and no module: it cannot be exported. */
export class Unshippable extends tf.layers.Layer {
  static className = "Unshippable";
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.add(Array.isArray(inputs) ? inputs[0] : inputs, 1);
  }
}
tf.serialization.registerClass(Unshippable);

/** A LeNet-like functional model on digits with a `layer` (Sine or Unshippable) after its first conv. */
export function modelWith(layer: tf.layers.Layer, seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotNormal({ seed: s });
  const x = tf.input({ shape: [...INPUT] });
  const c = tf.layers.conv2d({
    name: "conv1",
    filters: 4,
    kernelSize: 5,
    kernelInitializer: init(seed),
  }).apply(x) as tf.SymbolicTensor;
  const h = layer.apply(c) as tf.SymbolicTensor;
  const p = tf.layers.maxPooling2d({ poolSize: 4 }).apply(h) as tf.SymbolicTensor;
  const f = tf.layers.flatten().apply(p);
  const y = tf.layers.dense({ name: "fc", units: 10, kernelInitializer: init(seed + 1) }).apply(f);
  return tf.model({ inputs: x, outputs: y as tf.SymbolicTensor });
}

/** A plugin that only brings the test layers in (for `--plugin` on the command line). */
const plugin: Plugin = { name: "export_test_layers" };
export default plugin;
