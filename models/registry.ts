/**
 * Model builders by registry name.
 * @module
 */
import type { tf } from "@shears/core";
import { lenet5, type LeNetOptions } from "./lenet.ts";
import { mlp, type MlpOptions } from "./mlp.ts";
import { type ModelOptions, ModelOptionsError } from "./options.ts";
import { type CifarResNetOptions, customResnet18, resnet18, resnet20, resnet56 } from "./resnet.ts";
import { vgg11Bn, vgg16, vgg16Bn, type VggBnOptions } from "./vgg.ts";
import { type MobileNetOptions, mobilenetV1, mobilenetV2 } from "./mobilenet.ts";
import { mobilenetV3Small } from "./mobilenet_v3.ts";
import { resnet50, seResnet50 } from "./resnet50.ts";
import { densenet121 } from "./densenet.ts";
import { inceptionV3 } from "./inception.ts";
import { xception } from "./xception.ts";
import { efficientnetB0 } from "./efficientnet.ts";
import { unet, type UNetOptions } from "./unet.ts";
import { textCnn, type TextCnnOptions } from "./text_cnn.ts";

/** Every builder's options together; each builder reads the fields it knows. */
export type AnyModelOptions =
  & ModelOptions
  & CifarResNetOptions
  & VggBnOptions
  & LeNetOptions
  & MlpOptions
  & MobileNetOptions
  & UNetOptions
  & TextCnnOptions;

const builders: Record<string, (opts: AnyModelOptions) => tf.LayersModel> = {
  resnet18,
  custom_resnet18: customResnet18,
  resnet20,
  resnet56,
  vgg11_bn: vgg11Bn,
  vgg16_bn: vgg16Bn,
  vgg16,
  lenet5,
  mlp,
  mobilenet_v1: mobilenetV1,
  mobilenet_v2: mobilenetV2,
  mobilenet_v3_small: mobilenetV3Small,
  resnet50,
  se_resnet50: seResnet50,
  densenet121,
  inception_v3: inceptionV3,
  xception,
  efficientnet_b0: efficientnetB0,
  unet,
  text_cnn: textCnn,
};

/** The registry names {@link buildModel} accepts. */
export const modelNames: readonly string[] = Object.freeze(Object.keys(builders));

/**
 * Builds the model registered as `name`; an unknown name throws one line
 * listing the known names.
 * @example
 * ```ts
 * const m = buildModel("resnet20", { inputShape: [32, 32, 3], numClasses: 10, width: 0.25 });
 * ```
 */
export function buildModel(name: string, opts: AnyModelOptions): tf.LayersModel {
  const build = Object.hasOwn(builders, name) ? builders[name] : undefined;
  if (!build) {
    throw new ModelOptionsError(`unknown model "${name}"; known models: ${modelNames.join(", ")}`);
  }
  return build(opts);
}
