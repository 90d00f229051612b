/**
 * Inception-V3 (Szegedy et al. 2016) as keras.applications.InceptionV3
 * builds it: `conv2d_bn` units (conv without bias, BN on axis 3 without
 * gamma, ReLU), the stem, mixed0-10 with their factorised 1x7 / 7x1 and
 * 1x3 / 3x1 branches concatenated on the channel axis, global average
 * pooling. Keras names these units by a global counter (conv2d_57); here
 * each is `{block}_{branch}` with `_conv`, `_bn`, and the ReLU under the
 * unit's own name. `width` scales every channel count. The top is logits.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS, type LayerKit } from "./layer_kit.ts";
import { activation, classifierTop } from "./keras_blocks.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Builds conv2d_bn units and pools for one model. */
class Units {
  constructor(readonly kit: LayerKit) {}

  /** Keras' `conv2d_bn(x, filters, rows, cols, padding, strides)`. */
  cbr(x: ST, name: string, filters: number, k: [number, number], stride = 1, valid = false): ST {
    const padding = valid ? "valid" : "same";
    const y = this.kit.conv(x, `${name}_conv`, this.kit.ch(filters), k, {
      stride,
      padding,
      bias: false,
    });
    return activation(this.kit.bn(y, `${name}_bn`, { scale: false }), "relu", name);
  }

  /** A chain of conv2d_bn units `${name}_1`, `${name}_2`, ... */
  chain(x: ST, name: string, units: [number, [number, number]][]): ST {
    return units.reduce((t, [f, k], i) => this.cbr(t, `${name}_${i + 1}`, f, k), x);
  }

  pool(x: ST, name: string, kind: "avg" | "max", stride: number): ST {
    const args = {
      name,
      poolSize: 3,
      strides: stride,
      padding: stride === 1 ? "same" : "valid",
    } as const;
    const layer = kind === "avg" ? tf.layers.averagePooling2d(args) : tf.layers.maxPooling2d(args);
    return layer.apply(x) as ST;
  }

  concat(xs: ST[], name: string): ST {
    return tf.layers.concatenate({ name, axis: 3 }).apply(xs) as ST;
  }
}

const K1: [number, number] = [1, 1], K3: [number, number] = [3, 3];
const K5: [number, number] = [5, 5];
const K17: [number, number] = [1, 7], K71: [number, number] = [7, 1];
const K13: [number, number] = [1, 3], K31: [number, number] = [3, 1];

/** mixed0-2: 35x35 blocks (1x1, 5x5, double 3x3, pool branches). */
function block35(u: Units, x: ST, name: string, poolFilters: number): ST {
  return u.concat([
    u.cbr(x, `${name}_1x1`, 64, K1),
    u.chain(x, `${name}_5x5`, [[48, K1], [64, K5]]),
    u.chain(x, `${name}_3x3dbl`, [[64, K1], [96, K3], [96, K3]]),
    u.cbr(u.pool(x, `${name}_pool`, "avg", 1), `${name}_pool_proj`, poolFilters, K1),
  ], name);
}

/** mixed4-7: 17x17 blocks with factorised 7x7 branches of width `c`. */
function block17(u: Units, x: ST, name: string, c: number): ST {
  return u.concat([
    u.cbr(x, `${name}_1x1`, 192, K1),
    u.chain(x, `${name}_7x7`, [[c, K1], [c, K17], [192, K71]]),
    u.chain(x, `${name}_7x7dbl`, [[c, K1], [c, K71], [c, K17], [c, K71], [192, K17]]),
    u.cbr(u.pool(x, `${name}_pool`, "avg", 1), `${name}_pool_proj`, 192, K1),
  ], name);
}

/** mixed9-10: 8x8 blocks with split 1x3 / 3x1 branches. */
function block8(u: Units, x: ST, name: string): ST {
  const b3 = u.cbr(x, `${name}_3x3`, 384, K1);
  const b3d = u.chain(x, `${name}_3x3dbl`, [[448, K1], [384, K3]]);
  const split = (t: ST, n: string) =>
    u.concat([u.cbr(t, `${n}_1x3`, 384, K13), u.cbr(t, `${n}_3x1`, 384, K31)], `${n}_concat`);
  return u.concat([
    u.cbr(x, `${name}_1x1`, 320, K1),
    split(b3, `${name}_3x3`),
    split(b3d, `${name}_3x3dbl`),
    u.cbr(u.pool(x, `${name}_pool`, "avg", 1), `${name}_pool_proj`, 192, K1),
  ], name);
}

/**
 * Inception-V3 (keras.applications.InceptionV3): 23,851,784 weights at width
 * 1 for 1000 classes, as Keras counts. Inputs need sides >= 75.
 * @example
 * ```ts
 * const m = inceptionV3({ inputShape: [299, 299, 3], numClasses: 1000 });
 * ```
 */
export function inceptionV3(opts: ModelOptions): tf.LayersModel {
  checkOptions("inception_v3", opts, 3);
  return buildWith("inception_v3", opts, KERAS, (kit) => {
    const u = new Units(kit);
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    let x = u.cbr(input, "stem_1", 32, K3, 2, true);
    x = u.cbr(x, "stem_2", 32, K3, 1, true);
    x = u.cbr(x, "stem_3", 64, K3);
    x = u.pool(x, "stem_pool1", "max", 2);
    x = u.cbr(x, "stem_4", 80, K1, 1, true);
    x = u.cbr(x, "stem_5", 192, K3, 1, true);
    x = u.pool(x, "stem_pool2", "max", 2);
    x = block35(u, x, "mixed0", 32);
    x = block35(u, x, "mixed1", 64);
    x = block35(u, x, "mixed2", 64);
    const b3d = u.chain(x, "mixed3_3x3dbl", [[64, K1], [96, K3]]);
    x = u.concat([
      u.cbr(x, "mixed3_3x3", 384, K3, 2, true),
      u.cbr(b3d, "mixed3_3x3dbl_3", 96, K3, 2, true),
      u.pool(x, "mixed3_pool", "max", 2),
    ], "mixed3");
    x = block17(u, x, "mixed4", 128);
    x = block17(u, x, "mixed5", 160);
    x = block17(u, x, "mixed6", 160);
    x = block17(u, x, "mixed7", 192);
    const b3 = u.cbr(x, "mixed8_3x3_1", 192, K1);
    const b7 = u.chain(x, "mixed8_7x7x3", [[192, K1], [192, K17], [192, K71]]);
    x = u.concat([
      u.cbr(b3, "mixed8_3x3_2", 320, K3, 2, true),
      u.cbr(b7, "mixed8_7x7x3_4", 192, K3, 2, true),
      u.pool(x, "mixed8_pool", "max", 2),
    ], "mixed8");
    x = block8(u, x, "mixed9");
    x = block8(u, x, "mixed10");
    const logits = classifierTop(kit, x, opts.numClasses);
    return tf.model({ inputs: input, outputs: logits, name: "inception_v3" });
  });
}
