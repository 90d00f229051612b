/**
 * An example Shears plugin for the `channels` target: each channel scored by
 * the Lp norm of the filters that make it (a Conv2D filter or a Dense unit;
 * summed over the layers a residual Add couples into one channel group).
 * Channel scores are keyed by channel-group id, one value per channel of the
 * group; the engine says which groups it prunes (`request.groups`) and checks
 * that each gets a score. Option `p` picks the norm; `jitter` adds seeded
 * noise from `ctx.rng` (the run's `--seed`) to break ties. Combine it with
 * any `channels` pruner, e.g. `filter_taylor/global_lowest`.
 * @module
 */
import {
  buildChannelGraph,
  type FlagDefs,
  type Plugin,
  producerKernels,
  readOptions,
  type Scorer,
  tf,
} from "@shears/core";

const options = {
  p: { type: "number", default: 2, min: 1, help: "the norm: 1 = L1, 2 = L2, ..." },
  jitter: { type: "number", default: 0, min: 0, help: "seeded uniform noise added to break ties" },
} satisfies FlagDefs;

const lp: Scorer = {
  target: "channels",
  description: "Lp norm of each channel's filters (an example plugin)",
  options,
  batches: 0, // from the weights alone: no data pass
  start: (ctx, raw, request = {}) => {
    const { p, jitter } = readOptions(options, raw, "filter_norm/lp"); // checked, defaults filled
    return {
      taps: [],
      scores: () => {
        const graph = buildChannelGraph(ctx.model!);
        const groups = request.groups?.map((id) => graph.group(id)) ??
          graph.groups.filter((g) => g.prunable);
        const values = new Map<string, tf.Tensor>();
        for (const g of groups) {
          const rows = producerKernels(ctx.model!, g); // one [channels, fan-in] matrix per producer
          const noise = Array.from({ length: g.size }, () => jitter * ctx.rng.next());
          values.set(
            g.id,
            tf.tidy(() =>
              tf.addN(rows.map((r) => r.abs().pow(p).sum(1))).pow(1 / p).add(tf.tensor1d(noise))
            ),
          );
          tf.dispose(rows);
        }
        return { target: "channels", values };
      },
      dispose() {},
    };
  },
};

const plugin: Plugin = { name: "filter_norm", scorers: { lp } };
export default plugin;
