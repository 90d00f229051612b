/**
 * Pairs tap callbacks into one (x, g) per MaskedReLU layer per batch, where
 * x is the layer's input (the pre-activation) and g is the loss gradient
 * either at the layer's output (`gradAt: "output"`, what ReLUPruner's code
 * uses: the gradient retained on the masked ReLU's output) or at its input
 * (`gradAt: "input"`, dLoss/dx, which is zero where an active ReLU cut x).
 *
 * With `gradAt: "output"` two taps fire per layer in the backward pass
 * (output first, then input); the first tensor to arrive is cloned and kept
 * until its partner arrives, so at most one gradient per layer is held.
 *
 * @example
 * ```ts
 * const taps = new LayerTaps(["relu1", "relu2"], "output", (l, x, g) => { ... });
 * const session = { taps: taps.taps, onTap: (k, x, dy) => taps.onTap(k, x, dy), ... };
 * ```
 * @module
 */
import { tapKey, type TapSpec, tf } from "@shears/core";

/** Where the gradient g is taken: the MaskedReLU's output [reference] or its input. */
export type GradAt = "input" | "output";

/** Receives one layer's pre-activation x and gradient g; both are valid only during the call. */
export type PairSink = (layer: number, x: tf.Tensor, g: tf.Tensor) => void;

/** Tap specs for a list of MaskedReLU layers and the pairing of their callbacks. */
export class LayerTaps {
  /** The taps to install (TapSpec list for a ScoreSession). */
  readonly taps: TapSpec[];
  #roles = new Map<string, { layer: number; role: "x" | "g" | "xg" }>();
  #held = new Map<number, { role: "x" | "g"; t: tf.Tensor }>();

  /** @param layers MaskedReLU layer names, in model order (the index passed to `sink`). */
  constructor(layers: string[], gradAt: GradAt, readonly sink: PairSink) {
    this.taps = [];
    layers.forEach((name, layer) => {
      const input: TapSpec = { layer: name, at: "input" };
      this.taps.push(input);
      if (gradAt === "input") {
        this.#roles.set(tapKey(input), { layer, role: "xg" });
        return;
      }
      const output: TapSpec = { layer: name, at: "output" };
      this.taps.push(output);
      this.#roles.set(tapKey(input), { layer, role: "x" });
      this.#roles.set(tapKey(output), { layer, role: "g" });
    });
  }

  /** Handles one tap callback (ignores keys it did not ask for). */
  onTap(key: string, x: tf.Tensor, dy: tf.Tensor): void {
    const r = this.#roles.get(key);
    if (!r) return;
    if (r.role === "xg") return this.sink(r.layer, x, dy);
    const mine = r.role === "x" ? x : dy;
    const held = this.#held.get(r.layer);
    if (!held || held.role === r.role) {
      held?.t.dispose();
      this.#held.set(r.layer, { role: r.role, t: tf.keep(mine.clone()) });
      return;
    }
    this.#held.delete(r.layer);
    try {
      if (r.role === "x") this.sink(r.layer, x, held.t);
      else this.sink(r.layer, held.t, dy);
    } finally {
      held.t.dispose();
    }
  }

  /** Drops tensors still waiting for a partner (end of batch). */
  clear(): void {
    for (const h of this.#held.values()) h.t.dispose();
    this.#held.clear();
  }
}
