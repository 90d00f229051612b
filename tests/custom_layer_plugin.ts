/**
 * A `--plugin` module with a custom layer the channel graph cannot know:
 * `ChannelGate` scales every channel by sigmoid(mean over channels), so each
 * output channel depends on all input channels. It is registered with tfjs
 * (a saved model using it loads) but not with the channel graph, as a user's
 * own layer would be. Not a test file itself (no `_test` suffix).
 *
 * @example
 * ```sh
 * deno task run pipelines/prune.ts --plugin tests/custom_layer_plugin.ts --path gated/ --allow_unknown
 * ```
 * @module
 */
import { type Plugin, tf } from "@shears/core";

/** y = x * sigmoid(mean of x over channels): a gate shared by all channels of a position. */
export class ChannelGate extends tf.layers.Layer {
  static className = "ChannelGate";
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return x.mul(x.mean(-1, true).sigmoid());
    });
  }
}
tf.serialization.registerClass(ChannelGate);

/** The plugin: no parts, only the layer class it registers on import. */
const plugin: Plugin = { name: "channel_gate", description: "registers the ChannelGate layer" };
export default plugin;
