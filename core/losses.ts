/**
 * Loss functions on logits with PyTorch's reductions.
 * @module
 */
import { tf } from "./tf.ts";

/** Mean softmax cross-entropy of `logits` (N,K) against int labels (N). */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    const onehot = tf.oneHot(labels.toInt(), logits.shape[1]!);
    return logp.mul(onehot).sum(1).mean().neg() as tf.Scalar;
  });
}

/**
 * Hinton's distillation loss, as the reference (DistillKL):
 * KL(softmax(t/T) || softmax(s/T)) summed over classes, averaged over the
 * batch, times T².
 *
 * @example
 * ```ts
 * const l = kdLoss(studentLogits, teacherLogits, 4);
 * ```
 */
export function kdLoss(student: tf.Tensor, teacher: tf.Tensor, T: number): tf.Scalar {
  return tf.tidy(() => {
    const ls = tf.logSoftmax(student.div(T));
    const lt = tf.logSoftmax(teacher.div(T));
    return lt.exp().mul(lt.sub(ls)).sum(1).mean().mul(T * T) as tf.Scalar;
  });
}
