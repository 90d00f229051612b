/**
 * CIFAR-style ResNets built from BasicBlocks: ResNet-18 (and the ReLUPruner
 * student CustomResNet-18, whose block ReLUs are MaskedReLU layers) and the
 * option-A ResNet-20 / ResNet-56. Layer names are listed in ./mod.ts.
 * @module
 */
import { ChannelPadShortcut, tf } from "@shears/core";
import { buildWith, type LayerKit, TORCH } from "./layer_kit.ts";
import { checkOptions, type ModelOptions } from "./options.ts";

type ST = tf.SymbolicTensor;

/** How a BasicBlock's shortcut adapts when the shape changes. */
type Shortcut = "conv" | "pad";

/** Stage widths, depth and shortcut kind of one ResNet layout. */
interface Layout {
  /** Channels of each stage (full width); stage 1 keeps the stem's channels. */
  stages: number[];
  blocksPerStage: number;
  shortcut: Shortcut;
}

interface ResNetSpec extends Layout {
  name: string;
  stemRelu: boolean;
  /** MaskedReLU layers instead of ReLUs inside the blocks (default false). */
  maskedBlockRelus?: boolean;
}

/** ResNet-18 (CIFAR stem): 4 stages of 2 BasicBlocks, projection shortcuts. */
const RESNET18: Layout = { stages: [64, 128, 256, 512], blocksPerStage: 2, shortcut: "conv" };

/** CIFAR ResNet-(6n+2): 3 stages (16-32-64) of `n` BasicBlocks, option-A shortcuts. */
const cifarLayout = (n: number): Layout => ({
  stages: [16, 32, 64],
  blocksPerStage: n,
  shortcut: "pad",
});

/** Options of {@link resnet20} and {@link resnet56}. */
export interface CifarResNetOptions extends ModelOptions {
  /**
   * Whether a ReLU follows the stem conv + BN. Default true for resnet20 (as in
   * the common CIFAR ResNet code), false for resnet56 (the RNI reference model
   * has none).
   */
  stemRelu?: boolean;
}

/** Where one BasicBlock sits: its layer-name prefix, channels in and out, stride. */
interface Block {
  prefix: string;
  inCh: number;
  outCh: number;
  stride: number;
}

function shortcut(
  kit: LayerKit,
  x: ST,
  { prefix, inCh, outCh, stride }: Block,
  kind: Shortcut,
): ST {
  if (stride === 1 && inCh === outCh) return x;
  if (kind === "conv") {
    const s = kit.conv(x, `${prefix}_shortcut_conv`, outCh, 1, { stride });
    return kit.bn(s, `${prefix}_shortcut_bn`);
  }
  // As the RNI reference: half the missing channels before, the rest after.
  const padBefore = Math.floor((outCh - inCh) / 2);
  const layer = new ChannelPadShortcut({
    name: `${prefix}_shortcut`,
    stride,
    padBefore,
    padAfter: outCh - inCh - padBefore,
  });
  return layer.apply(x) as ST;
}

function basicBlock(kit: LayerKit, x: ST, block: Block, spec: ResNetSpec): ST {
  const { prefix, outCh, stride } = block;
  const masked = spec.maskedBlockRelus ?? false;
  let y = kit.conv(x, `${prefix}_conv1`, outCh, 3, { stride });
  y = kit.bn(y, `${prefix}_bn1`);
  y = kit.relu(y, `${prefix}_relu1`, masked);
  y = kit.conv(y, `${prefix}_conv2`, outCh, 3);
  y = kit.bn(y, `${prefix}_bn2`);
  const s = shortcut(kit, x, block, spec.shortcut);
  const sum = tf.layers.add({ name: `${prefix}_add` }).apply([y, s]) as ST;
  return kit.relu(sum, `${prefix}_relu2`, masked);
}

function buildResNet(spec: ResNetSpec, opts: ModelOptions): tf.LayersModel {
  checkOptions(spec.name, opts, 3);
  return buildWith(spec.name, opts, TORCH, (kit) => resNetOn(kit, spec, opts));
}

function resNetOn(kit: LayerKit, spec: ResNetSpec, opts: ModelOptions): tf.LayersModel {
  const input = tf.input({ shape: opts.inputShape, name: "input" });
  let ch = kit.ch(spec.stages[0]);
  let x = kit.bn(kit.conv(input, "conv1", ch, 3), "bn1");
  if (spec.stemRelu) x = kit.relu(x, "relu1");
  spec.stages.forEach((full, i) => {
    const outCh = kit.ch(full);
    for (let b = 0; b < spec.blocksPerStage; b++) {
      const stride = i > 0 && b === 0 ? 2 : 1;
      x = basicBlock(kit, x, { prefix: `layer${i + 1}_${b}`, inCh: ch, outCh, stride }, spec);
      ch = outCh;
    }
  });
  x = tf.layers.globalAveragePooling2d({ name: "avgpool" }).apply(x) as ST;
  const logits = kit.dense(x, "fc", opts.numClasses);
  return tf.model({ inputs: input, outputs: logits, name: spec.name });
}

/**
 * ResNet-18, CIFAR style: 3x3 stem conv + BN + ReLU (no max-pool), 4 stages of
 * 2 BasicBlocks (64-128-256-512), 1x1 conv + BN projection shortcuts where the
 * shape changes, global average pool, Dense. 11,173,962 trainable parameters
 * for 10 classes.
 * @example
 * ```ts
 * const teacher = resnet18({ inputShape: [32, 32, 3], numClasses: 10 });
 * ```
 */
export function resnet18(opts: ModelOptions): tf.LayersModel {
  return buildResNet({ ...RESNET18, name: "resnet18", stemRelu: true }, opts);
}

/**
 * CustomResNet-18, the ReLUPruner student: {@link resnet18} with NO ReLU after
 * the stem and both ReLUs of every BasicBlock replaced by MaskedReLU layers
 * (`layer{s}_{b}_relu1`, `layer{s}_{b}_relu2`; 16 layers, 491,520 mask
 * elements at 32x32). Its conv, BN and dense layers have the same names and
 * shapes as resnet18's, so a resnet18 teacher's weights copy over by layer name.
 * @example
 * ```ts
 * const student = customResnet18({ inputShape: [32, 32, 3], numClasses: 10 });
 * ```
 */
export function customResnet18(opts: ModelOptions): tf.LayersModel {
  const student = { name: "custom_resnet18", stemRelu: false, maskedBlockRelus: true };
  return buildResNet({ ...RESNET18, ...student }, opts);
}

/**
 * ResNet-20 for CIFAR (He et al. 2016): 3 stages of 3 BasicBlocks (16-32-64),
 * parameter-free option-A shortcuts (ChannelPadShortcut); 269,722 parameters
 * for 10 classes. Stem ReLU on by default (`stemRelu`).
 * @example
 * ```ts
 * const m = resnet20({ inputShape: [32, 32, 3], numClasses: 10, width: 0.5 });
 * ```
 */
export function resnet20(opts: CifarResNetOptions): tf.LayersModel {
  const stemRelu = opts.stemRelu ?? true;
  return buildResNet({ ...cifarLayout(3), name: "resnet20", stemRelu }, opts);
}

/**
 * ResNet-56 for CIFAR: 3 stages of 9 BasicBlocks (16-32-64), option-A
 * shortcuts; 853,018 parameters for 10 classes. As in the RNI reference code,
 * the stem is conv + BN with no ReLU by default (`stemRelu: true` adds one).
 * @example
 * ```ts
 * const m = resnet56({ inputShape: [32, 32, 3], numClasses: 10, bnGammaInit: 0.5 });
 * ```
 */
export function resnet56(opts: CifarResNetOptions): tf.LayersModel {
  const stemRelu = opts.stemRelu ?? false;
  return buildResNet({ ...cifarLayout(9), name: "resnet56", stemRelu }, opts);
}
