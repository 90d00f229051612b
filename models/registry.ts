/**
 * Model builders by registry name.
 * @module
 */
import type { tf } from "@shears/core";
import { lenet5, type LeNetOptions } from "./lenet.ts";
import { mlp, type MlpOptions } from "./mlp.ts";
import type { ModelOptions } from "./options.ts";
import { type CifarResNetOptions, customResnet18, resnet18, resnet20, resnet56 } from "./resnet.ts";
import { vgg11Bn, vgg16, vgg16Bn, type VggBnOptions } from "./vgg.ts";

/** Every builder's options together; each builder reads the fields it knows. */
export type AnyModelOptions =
  & ModelOptions
  & CifarResNetOptions
  & VggBnOptions
  & LeNetOptions
  & MlpOptions;

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
    throw new Error(`unknown model "${name}"; known models: ${modelNames.join(", ")}`);
  }
  return build(opts);
}
