/**
 * Shears model zoo: functional tfjs-layers builders, channels last (NHWC).
 *
 * Registry names ({@link modelNames}): the CIFAR / PyTorch-style `resnet18`,
 * `custom_resnet18`, `resnet20`, `resnet56`, `vgg11_bn`, `vgg16_bn`, `vgg16`,
 * `lenet5`, `mlp`; the Keras applications `mobilenet_v1`, `mobilenet_v2`,
 * `mobilenet_v3_small`, `resnet50`, `densenet121`, `inception_v3`,
 * `xception`, `efficientnet_b0` (layers, names, paddings and BN settings as
 * keras.applications builds them; weight counts at width 1, 224x224x3 and
 * 1000 classes equal Keras'); `se_resnet50`; `unet` (per-pixel logits
 * [H, W, classes]); `text_cnn` (token ids [length] -> logits).
 * Every builder takes {@link ModelOptions} (`inputShape`, `numClasses`, and
 * optionally `width`, `bnGammaInit`, `seed`) plus its own options; a shape
 * or width a builder cannot take is a {@link ModelOptionsError} (one line)
 * before any weight is made.
 *
 * Conventions other modules rely on:
 * - Every activation is its own layer (`tf.layers.reLU`, ReLU(maxValue 6),
 *   `Activation`, `MaskedReLU`); convs and denses are linear, so transforms
 *   can swap activations and the channel graph sees them. The output is
 *   logits (no softmax layer).
 * - Parameter counts are PyTorch's for the same architecture and are measured
 *   as the sum of `model.trainableWeights` sizes: BN gamma and beta count; BN
 *   moving statistics and MaskedReLU masks are non-trainable and do not. A conv
 *   followed by BN has no bias in the ResNets (PyTorch bias=False); the VGG
 *   convs keep their bias, as torchvision's vgg*_bn and the CIFAR VGG code do.
 * - BatchNorm: epsilon 1e-5, momentum 0.9 (PyTorch's 0.1), gamma starts at
 *   `bnGammaInit` (default 1). Conv kernels: He normal, fan_out, untruncated.
 *   Dense: Glorot uniform, zero bias.
 * - `width` multiplies every channel / hidden width c to max(1, round(c * width)).
 * - Layer names (underscores, no dots); the input layer is `input`:
 *   - ResNets: stem `conv1`, `bn1`, `relu1` (absent in custom_resnet18, and in
 *     resnet56 unless `stemRelu`); blocks `layer{stage}_{block}_conv1`, `_bn1`,
 *     `_relu1`, `_conv2`, `_bn2`, `_add`, `_relu2` (after the add), stages from
 *     1, blocks from 0 (`layer2_1_relu2` = last block of stage 2 in ResNet-18);
 *     a stride-2 3x3 conv `X` is preceded by a ZeroPadding2D `X_pad` (padding 1
 *     on every side, as PyTorch; tfjs "same" would pad asymmetrically);
 *     projection shortcut `_shortcut_conv`, `_shortcut_bn` (resnet18); option-A
 *     shortcut `_shortcut` (ChannelPadShortcut; resnet20/56); then `avgpool`, `fc`.
 *   - custom_resnet18: `layer{s}_{b}_relu1` and `layer{s}_{b}_relu2` are
 *     MaskedReLU (16 layers). `layer2_1_relu2`, `layer3_1_relu2`,
 *     `layer4_1_relu2` (outputs of stages 2-4) are the attention-transfer points.
 *   - VGG: `features_conv{i}`, `features_bn{i}` (BN variants), `features_relu{i}`
 *     (i = 1..13 or 1..8), `features_pool{j}` (j = 1..5), `flatten`; then
 *     `classifier` (vgg11_bn, vgg16_bn) or `classifier_dropout1`,
 *     `classifier_fc1`, `classifier_relu1`, `classifier_dropout2`,
 *     `classifier_fc2`, `classifier_relu2`, `classifier_fc3` (vgg16).
 *   - LeNet-5: `conv1`, `relu1`, `pool1`, `conv2`, `relu2`, `pool2`, `flatten`,
 *     `fc1`, `relu3`, `fc2`, `relu4`, `fc3`. MLP: `flatten` (rank > 1 inputs),
 *     `fc1`, `relu1`, ..., `fc{k+1}`.
 *
 * @example
 * ```ts
 * import { buildModel } from "@shears/models";
 * const m = buildModel("custom_resnet18", { inputShape: [32, 32, 3], numClasses: 100 });
 * ```
 * @module
 */
export { minInputSide, type ModelOptions, ModelOptionsError, scaleWidth } from "./options.ts";
export {
  buildWith,
  type Conventions,
  KERAS,
  LayerKit,
  MAX_CHANNELS,
  MAX_WEIGHTS,
  TORCH,
} from "./layer_kit.ts";
export { type AnyModelOptions, buildModel, modelNames } from "./registry.ts";
export { type CifarResNetOptions, customResnet18, resnet18, resnet20, resnet56 } from "./resnet.ts";
export { vgg11Bn, vgg16, vgg16Bn, type VggBnOptions } from "./vgg.ts";
export { lenet5, type LeNetOptions } from "./lenet.ts";
export { mlp, type MlpOptions } from "./mlp.ts";
export { type MobileNetOptions, mobilenetV1, mobilenetV2 } from "./mobilenet.ts";
export { mobilenetV3Small } from "./mobilenet_v3.ts";
export { resnet50, seResnet50 } from "./resnet50.ts";
export { densenet121 } from "./densenet.ts";
export { inceptionV3 } from "./inception.ts";
export { xception } from "./xception.ts";
export { efficientnetB0 } from "./efficientnet.ts";
export { unet, type UNetOptions } from "./unet.ts";
export { textCnn, type TextCnnOptions } from "./text_cnn.ts";
