/**
 * The attention-transfer term of ReLUPruner's optional fine-tune (masks
 * frozen): beta [1000] times the sum over the chosen stages (2-4 of a
 * ResNet) of the MSE between student and teacher attention maps, where a
 * map is the mean over channels of f^2, flattened over (H, W) and
 * L2-normalised per example (x / max(||x||, 1e-12)). Plus a helper that
 * exposes feature layers of a model as extra outputs, sharing its weights.
 *
 * @example
 * ```ts
 * const fs = featureModel(student, ["stage2_out", "stage3_out", "stage4_out"]);
 * const ft = featureModel(teacher, ["stage2_out", "stage3_out", "stage4_out"]);
 * const [s2, s3, s4, logits] = fs.apply(x, { training: true }) as tf.Tensor[];
 * const [t2, t3, t4] = ft.predict(x) as tf.Tensor[]; // no gradient into the teacher
 * const at = attentionLoss([s2, s3, s4], [t2, t3, t4]); // 1000 * sum of MSEs
 * ```
 * @module
 */
import { type FlagDefs, readOptions, type Regularizer, tf } from "@shears/core";

/** Attention map of features (N,H,W,C): (N, H*W), L2-normalised rows of mean_c f^2. */
export function attentionMap(f: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    const a = f.square().mean(-1).reshape([f.shape[0], -1]) as tf.Tensor2D;
    // = a / max(||a||, 1e-12), with a finite gradient at a = 0
    return a.div(a.square().sum(1, true).maximum(1e-24).sqrt());
  });
}

/**
 * beta * sum_i MSE(attentionMap(student_i), attentionMap(teacher_i)), MSE a
 * mean over examples and positions. Pass beta = 1 for the raw sum.
 */
export function attentionLoss(
  studentFeats: tf.Tensor[],
  teacherFeats: tf.Tensor[],
  beta = 1000,
): tf.Scalar {
  if (studentFeats.length !== teacherFeats.length || studentFeats.length === 0) {
    throw new Error(
      `attentionLoss needs the same non-zero number of student and teacher features, got ${studentFeats.length} and ${teacherFeats.length}`,
    );
  }
  return tf.tidy(() => {
    const terms = studentFeats.map((s, i) => {
      const t = teacherFeats[i];
      if (s.shape[0] !== t.shape[0] || s.shape[1] !== t.shape[1] || s.shape[2] !== t.shape[2]) {
        throw new Error(
          `attentionLoss: feature ${i} has student shape [${s.shape}] and teacher shape [${t.shape}]; batch, H and W must match`,
        );
      }
      return attentionMap(s).sub(attentionMap(t)).square().mean();
    });
    return tf.addN(terms).mul(beta) as tf.Scalar;
  });
}

/** The output of layer `name` in `model`'s own graph (works for layers also used in other models). */
export function layerOutputIn(model: tf.LayersModel, name: string): tf.SymbolicTensor {
  model.getLayer(name); // a clear tfjs error for unknown names
  const seen = new Set<tf.SymbolicTensor>();
  const stack = [...model.outputs];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (t.sourceLayer.name === name) return t;
    stack.push(...t.inputs);
  }
  throw new Error(`layer ${name} does not feed the outputs of model ${model.name}`);
}

/**
 * A model with the same inputs and weights as `model` whose outputs are the
 * outputs of `layers` followed by `model`'s first output (the logits).
 */
export function featureModel(model: tf.LayersModel, layers: string[]): tf.LayersModel {
  return tf.model({
    inputs: model.inputs,
    outputs: [...layers.map((n) => layerOutputIn(model, n)), model.outputs[0]],
  });
}

const attentionOptions = {
  layers: {
    type: "strings",
    default: ["layer2_1_relu2", "layer3_1_relu2", "layer4_1_relu2"],
    help: "feature layers (in the student and the teacher) whose attention maps are compared",
  },
} satisfies FlagDefs;

/**
 * The `attention` regularizer: attention transfer from the teacher,
 * Σ MSE(attentionMap(student_i), attentionMap(teacher_i)) over the option
 * `layers` (weight it by beta, 1000 in the reference).
 */
export const attentionRegularizer: Regularizer = {
  description: "attention transfer: sum of MSEs between student and teacher attention maps",
  options: attentionOptions,
  features: {
    layers(options) {
      const { layers } = readOptions(attentionOptions, options, "relu_taylor/attention");
      return { student: layers, teacher: layers };
    },
    loss: (student, teacher) => attentionLoss(student, teacher, 1),
  },
};
