/**
 * VGG builders: the CIFAR VGG-11-BN / VGG-16-BN (one Dense classifier on the
 * 512 final channels) and the ImageNet VGG-16 with the pytorch-pruning seed's
 * transfer head. Layer names are listed in ./mod.ts.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, type LayerKit, TORCH } from "./layer_kit.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;
type Cfg = readonly (number | "M")[];

const VGG11: Cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"];
const VGG16: Cfg = [
  ...[64, 64, "M", 128, 128, "M", 256, 256, 256, "M"] as const,
  ...[512, 512, 512, "M", 512, 512, 512, "M"] as const,
];

/** Options of {@link vgg11Bn} and {@link vgg16Bn}. */
export interface VggBnOptions extends ModelOptions {
  /**
   * The last 2x2 pool: "max" (the cfg's final M) or "avg" (the RNI reference
   * drops torchvision's last max-pool and averages 2x2 instead). Default
   * "avg" for vgg16_bn, "max" for vgg11_bn. Parameter counts are unaffected.
   */
  finalPool?: "max" | "avg";
}

/** Conv 3x3 (with bias, as torchvision / the CIFAR VGG code) [+ BN] + ReLU blocks and pools. */
function features(
  kit: LayerKit,
  x: ST,
  cfg: Cfg,
  batchNorm: boolean,
  finalPool: "max" | "avg",
): ST {
  let conv = 0, pool = 0;
  cfg.forEach((c, i) => {
    if (c === "M") {
      const args = { name: `features_pool${++pool}`, poolSize: 2, strides: 2 };
      const avg = finalPool === "avg" && i === cfg.length - 1;
      const layer = avg ? tf.layers.averagePooling2d(args) : tf.layers.maxPooling2d(args);
      x = layer.apply(x) as ST;
      return;
    }
    conv++;
    x = kit.conv(x, `features_conv${conv}`, kit.ch(c), 3, { bias: true });
    if (batchNorm) x = kit.bn(x, `features_bn${conv}`);
    x = kit.relu(x, `features_relu${conv}`);
  });
  return tf.layers.flatten({ name: "flatten" }).apply(x) as ST;
}

function cifarVgg(
  name: string,
  cfg: Cfg,
  defaultPool: "max" | "avg",
  opts: VggBnOptions,
): tf.LayersModel {
  checkOptions(name, opts, 3);
  return buildWith(name, opts, TORCH, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    const x = features(kit, input, cfg, true, opts.finalPool ?? defaultPool);
    const logits = kit.dense(x, "classifier", opts.numClasses);
    return tf.model({ inputs: input, outputs: logits, name });
  });
}

/**
 * VGG-11-BN for CIFAR (cfg 64,M,128,M,256,256,M,512,512,M,512,512,M; conv3x3 with
 * bias + BN + ReLU; flatten; Dense(512 -> n)): 9,231,114 parameters for 10
 * classes at 32x32.
 * @example
 * ```ts
 * const m = vgg11Bn({ inputShape: [32, 32, 3], numClasses: 10 });
 * ```
 */
export function vgg11Bn(opts: VggBnOptions): tf.LayersModel {
  return cifarVgg("vgg11_bn", VGG11, "max", opts);
}

/**
 * VGG-16-BN for CIFAR as in the RNI reference (torchvision vgg16_bn features,
 * last 2x2 pool averaging, flatten, Dense(512 -> n)): 14,728,266 parameters for
 * 10 classes at 32x32. All 13 BN layers (`features_bn1..13`) are prunable.
 * @example
 * ```ts
 * const m = vgg16Bn({ inputShape: [32, 32, 3], numClasses: 10, bnGammaInit: 0.5 });
 * ```
 */
export function vgg16Bn(opts: VggBnOptions): tf.LayersModel {
  return cifarVgg("vgg16_bn", VGG16, "avg", opts);
}

/**
 * VGG-16 (ImageNet style: no BN, conv with bias, 5 max-pools; 224x224x3 input
 * gives 25088 flattened features) with the pytorch-pruning seed's transfer
 * head: Dropout(0.5), Dense 4096, ReLU, Dropout(0.5), Dense 4096, ReLU,
 * Dense n. The hidden 4096 units scale with `width`.
 * @example
 * ```ts
 * const m = vgg16({ inputShape: [224, 224, 3], numClasses: 2 });
 * ```
 */
export function vgg16(opts: ModelOptions): tf.LayersModel {
  checkOptions("vgg16", opts, 3);
  return buildWith("vgg16", opts, TORCH, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = features(kit, input, VGG16, false, "max");
    for (const i of [1, 2]) {
      x = tf.layers.dropout({ name: `classifier_dropout${i}`, rate: 0.5 }).apply(x) as ST;
      x = kit.relu(kit.dense(x, `classifier_fc${i}`, kit.ch(4096)), `classifier_relu${i}`);
    }
    const logits = kit.dense(x, "classifier_fc3", opts.numClasses);
    return tf.model({ inputs: input, outputs: logits, name: "vgg16" });
  });
}
