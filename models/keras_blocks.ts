/**
 * Pieces the Keras-applications builders share: Keras' channel rounding
 * (`_make_divisible` / `_depth`), its asymmetric padding before a stride-2
 * "valid" conv (`correct_pad`), activation layers as Keras writes them, and
 * squeeze-and-excitation.
 *
 * @example
 * ```ts
 * makeDivisible(32 * 0.35); // 16
 * const y = activation(x, "relu6", "conv1_relu"); // ReLU(maxValue 6)
 * ```
 * @module
 */
import { tf } from "@shears/core";
import { type Conventions, KERAS, type LayerKit } from "./layer_kit.ts";

type ST = tf.SymbolicTensor;

/** MobileNet V2 and V3's BatchNorm: on axis -1, momentum 0.999. */
export const MOBILENET: Conventions = { ...KERAS, bnAxis: -1, bnMomentum: 0.999 };

/** Keras' `_make_divisible(v, divisor)`: v rounded to a multiple of divisor, at least divisor, within 10%. */
export function makeDivisible(v: number, divisor = 8): number {
  const n = Math.max(divisor, Math.floor(Math.floor(v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}

/** Keras' `correct_pad`: the ZeroPadding2D of a stride-2 "valid" conv of kernel k on x. */
export function correctPad(x: ST, k: number): [[number, number], [number, number]] {
  const [h, w] = x.shape.slice(1, 3) as number[];
  const c = Math.floor(k / 2);
  return [[c - (1 - (h % 2)), c], [c - (1 - (w % 2)), c]];
}

/** An activation the Keras applications use, as stock tfjs layers. */
export type Act = "relu" | "relu6" | "swish" | "sigmoid" | "hard_sigmoid" | "hard_swish";

/**
 * `kind` applied to x as a layer named `name`: Activation("relu") as Keras'
 * ResNets write it, ReLU(maxValue 6), Activation("swish" | "sigmoid"); and
 * MobileNetV3's hard_sigmoid = relu6(x + 3) / 6 as Rescaling(1/6, 0.5) then
 * ReLU(maxValue 1) (`${name}_scale`, `name`), hard_swish = x * hard_sigmoid(x)
 * (`${name}_hsig...`, then the Multiply `name`).
 */
export function activation(x: ST, kind: Act, name: string): ST {
  switch (kind) {
    case "relu6":
      return tf.layers.reLU({ name, maxValue: 6 }).apply(x) as ST;
    case "hard_sigmoid": {
      const s = tf.layers.rescaling({ name: `${name}_scale`, scale: 1 / 6, offset: 0.5 });
      return tf.layers.reLU({ name, maxValue: 1 }).apply(s.apply(x)) as ST;
    }
    case "hard_swish":
      return tf.layers.multiply({ name }).apply([
        x,
        activation(x, "hard_sigmoid", `${name}_hsig`),
      ]) as ST;
    default:
      return tf.layers.activation({ name, activation: kind }).apply(x) as ST;
  }
}

/** A ZeroPadding2D. */
export function zeroPad(
  x: ST,
  name: string,
  padding: number | [[number, number], [number, number]],
): ST {
  return tf.layers.zeroPadding2d({ name, padding }).apply(x) as ST;
}

/** Squeeze-and-excitation: how it squeezes, and the activations of its two 1x1 layers. */
export interface SeSpec {
  /** Channels of the squeeze. */
  squeeze: number;
  /** Activation after the reduce and after the expand layer. */
  reduce: Act;
  expand: Act;
  /** 1x1 convs (EfficientNet, MobileNetV3) or Dense layers on the [1, 1, C] tensor (SE-ResNet). */
  layers: "conv" | "dense";
}

/**
 * x times a per-channel gate: GlobalAveragePooling2D `${p}squeeze`, Reshape to
 * [1, 1, C] `${p}reshape`, reduce `${p}reduce` + activation, expand
 * `${p}expand` + activation, Multiply `${p}excite`.
 */
export function squeezeExcite(kit: LayerKit, x: ST, p: string, se: SeSpec): ST {
  const c = x.shape[x.shape.length - 1] as number;
  let s = tf.layers.globalAveragePooling2d({ name: `${p}squeeze` }).apply(x) as ST;
  s = tf.layers.reshape({ name: `${p}reshape`, targetShape: [1, 1, c] }).apply(s) as ST;
  const layer = (t: ST, name: string, n: number) =>
    se.layers === "conv" ? kit.conv(t, name, n, 1, { bias: true }) : kit.dense(t, name, n);
  s = activation(layer(s, `${p}reduce`, se.squeeze), se.reduce, `${p}reduce_act`);
  s = activation(layer(s, `${p}expand`, c), se.expand, `${p}expand_act`);
  return tf.layers.multiply({ name: `${p}excite` }).apply([x, s]) as ST;
}

/** Global average pooling and the classifier: Dropout (if `dropout`), Dense `predictions` (logits). */
export function classifierTop(kit: LayerKit, x: ST, numClasses: number, dropout = 0): ST {
  x = tf.layers.globalAveragePooling2d({ name: "avg_pool" }).apply(x) as ST;
  if (dropout > 0) x = tf.layers.dropout({ name: "top_dropout", rate: dropout }).apply(x) as ST;
  return kit.dense(x, "predictions", numClasses);
}
