/**
 * ReLUPruner's per-layer weight w_l, from running gradient statistics:
 * G_l <- m G_l + (1 - m) mean_n ||g_n||_2, Phi_l <- m Phi_l + (1 - m) mean(g^2)
 * (m [0.95], both from 0); base_l = G_l * sqrt(Phi_l + 1e-8) times the depth
 * factor 1 + depth_bias * l / max(1, L_seen - 1), where L_seen is one more
 * than the deepest layer index updated so far (at the time of the update).
 * Weights are the bases min-max normalised across layers to [0.1, 1.1]; all
 * equal gives 1, and a layer never updated weighs 1.
 *
 * @example
 * ```ts
 * const lw = new LayerWeights();
 * lw.update(0, 2.0, 0.5);
 * lw.update(1, 1.0, 0.1);
 * lw.weight(0); // 1.1 or 0.1, whichever base is larger
 * ```
 * @module
 */

/** Running layer statistics and the normalised layer weights they give. */
export class LayerWeights {
  #grad = new Map<number, number>();
  #fisher = new Map<number, number>();
  #base = new Map<number, number>();
  #seen = 0;

  /**
   * @param momentum EMA momentum of G and Phi [0.95]
   * @param depthBias extra weight of the deepest layer over the first [0.2]
   */
  constructor(readonly momentum = 0.95, readonly depthBias = 0.2) {}

  /**
   * Folds one batch of layer `layer` in: `gradNorm` = mean over examples of
   * the L2 norm of that example's gradient, `gradSq` = mean of g^2 over all.
   */
  update(layer: number, gradNorm: number, gradSq: number): void {
    const m = this.momentum;
    this.#seen = Math.max(this.#seen, layer + 1);
    const g = m * (this.#grad.get(layer) ?? 0) + (1 - m) * gradNorm;
    const phi = m * (this.#fisher.get(layer) ?? 0) + (1 - m) * gradSq;
    this.#grad.set(layer, g);
    this.#fisher.set(layer, phi);
    const depth = 1 + (this.depthBias * layer) / Math.max(1, this.#seen - 1);
    this.#base.set(layer, g * Math.sqrt(phi + 1e-8) * depth);
  }

  /** The normalised weight of `layer` now (1 if it was never updated). */
  weight(layer: number): number {
    const own = this.#base.get(layer);
    if (own === undefined) return 1;
    const all = [...this.#base.values()];
    const low = Math.min(...all), high = Math.max(...all);
    return high === low ? 1 : (own - low) / (high - low) + 0.1;
  }
}
