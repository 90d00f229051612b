/**
 * A 1-D convolutional text classifier (Kim 2014, "CNN-non-static"): token
 * ids -> Embedding -> parallel Conv1D + ReLU over windows of 3, 4 and 5
 * tokens (100 feature maps each) -> max-over-time pooling
 * (GlobalMaxPooling1D) -> Concatenate -> Dropout 0.5 -> Dense logits.
 * `inputShape` is [sequence length]; `width` scales the embedding and the
 * feature maps.
 * @module
 */
import { tf } from "@shears/core";
import { buildWith, KERAS } from "./layer_kit.ts";
import { checkOptions, type ModelOptions, ModelOptionsError } from "./options.ts";

type ST = tf.SymbolicTensor;

/** Options of {@link textCnn}. */
export interface TextCnnOptions extends ModelOptions {
  /** Token ids are in [0, vocabSize); default 20000. */
  vocabSize?: number;
  /** Embedding channels at full width, default 300 (word2vec's). */
  embeddingDim?: number;
}

const WINDOWS = [3, 4, 5];

/**
 * Kim's CNN; layers `embedding`, `conv{k}`, `relu{k}`, `pool{k}` (k = 3, 4, 5),
 * `concat`, `dropout`, `fc`. 6,360,902 parameters for 20,000 tokens, 300
 * dimensions and 2 classes.
 * @example
 * ```ts
 * const m = textCnn({ inputShape: [64], numClasses: 2, vocabSize: 5000 });
 * ```
 */
export function textCnn(opts: TextCnnOptions): tf.LayersModel {
  checkOptions("text_cnn", opts, 1);
  const vocab = opts.vocabSize ?? 20000;
  if (!Number.isInteger(vocab) || vocab < 1) {
    throw new ModelOptionsError(`text_cnn: vocabSize must be a positive integer, got ${vocab}`);
  }
  const dim = opts.embeddingDim ?? 300;
  if (!Number.isInteger(dim) || dim < 1) {
    throw new ModelOptionsError(`text_cnn: embeddingDim must be a positive integer, got ${dim}`);
  }
  if (opts.inputShape[0] < Math.max(...WINDOWS)) {
    throw new ModelOptionsError(
      `text_cnn: inputShape must be [sequence length >= ${Math.max(...WINDOWS)}], got ` +
        JSON.stringify(opts.inputShape),
    );
  }
  return buildWith("text_cnn", opts, KERAS, (kit) => {
    const input = tf.input({ shape: opts.inputShape, name: "input" });
    const emb = kit.embedding(input, "embedding", vocab, kit.ch(dim));
    const pooled = WINDOWS.map((k) => {
      const c = kit.relu(kit.conv1d(emb, `conv${k}`, kit.ch(100), k), `relu${k}`);
      return tf.layers.globalMaxPooling1d({ name: `pool${k}` }).apply(c) as ST;
    });
    let x = tf.layers.concatenate({ name: "concat" }).apply(pooled) as ST;
    x = tf.layers.dropout({ name: "dropout", rate: 0.5 }).apply(x) as ST;
    return tf.model({
      inputs: input,
      outputs: kit.dense(x, "fc", opts.numClasses),
      name: "text_cnn",
    });
  });
}
