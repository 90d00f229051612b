/**
 * Structural pruning of a zoo model with core alone: build it, rank every
 * prunable channel group's channels by the L1 norm of their producer kernel
 * slices (Li et al. 2017), remove the lowest `--remove` share of each group
 * (`removeChannels`), and save the base and the pruned model, ready for
 * `deno task speedup --models OUT/base,OUT/pruned`.
 *
 * @example
 * ```sh
 * deno task run examples/structural_prune.ts --model mobilenet_v2 --input_shape 64,64,3 \
 *   --remove 0.5 --out runs/prune_mobilenet_v2
 * ```
 * @module
 */
import {
  buildChannelGraph,
  type ChannelGraph,
  countMacs,
  countParams,
  exitOnError,
  type FlagDefs,
  initBackend,
  parseFlags,
  producerKernels,
  removeChannels,
  saveModel,
  tf,
} from "@shears/core";
import { buildModel, modelNames } from "@shears/models";

const flags = {
  model: { type: "string", default: "mobilenet_v2", choices: modelNames, help: "zoo model" },
  input_shape: { type: "numbers", default: [64, 64, 3], min: 1, help: "input shape (H,W,C)" },
  num_classes: { type: "int", default: 10, min: 1, help: "classes" },
  width: { type: "number", default: 1, min: 0, minExclusive: true, help: "width multiplier" },
  remove: {
    type: "number",
    default: 0.5,
    min: 0,
    max: 1,
    minExclusive: true,
    maxExclusive: true,
    help: "share of every prunable channel group to remove",
  },
  seed: { type: "int", default: 0, help: "initialisation seed" },
  out: { type: "string", default: "runs/structural_prune", help: "writes OUT/base and OUT/pruned" },
} satisfies FlagDefs;

/** The lowest-L1 `share` of each prunable group's channels, never all of a producer's. */
export async function l1Removals(
  model: tf.LayersModel,
  graph: ChannelGraph,
  share: number,
): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const g of graph.groups.filter((g) => g.prunable)) {
    const norms = tf.tidy(() => tf.addN(producerKernels(model, g).map((k) => k.abs().sum(1))));
    const l1 = await norms.data();
    norms.dispose();
    const order = Array.from(l1.keys()).sort((a, b) => l1[a] - l1[b]);
    const drop = new Set(order.slice(0, Math.floor(share * g.size)));
    for (const p of g.producers) {
      const mine = p.index.flatMap((c, j) => (c >= 0 ? [j] : []));
      if (mine.every((j) => drop.has(j))) {
        drop.delete(mine.reduce((a, b) => (l1[a] >= l1[b] ? a : b)));
      }
    }
    if (drop.size) out.set(g.id, [...drop]);
  }
  return out;
}

async function main(): Promise<void> {
  const f = parseFlags(flags, Deno.args, {
    name: "structural_prune",
    description: "Remove the lowest-L1 share of every channel group of a zoo model; save both.",
  });
  await initBackend("cpu", { quiet: true });
  const model = buildModel(f.model, {
    inputShape: f.input_shape,
    numClasses: f.num_classes,
    width: f.width,
    seed: f.seed,
  });
  const graph = buildChannelGraph(model);
  const pruned = await removeChannels(model, await l1Removals(model, graph, f.remove), graph);
  for (const [name, m] of [["base", model], ["pruned", pruned]] as const) {
    await saveModel(m, `${f.out}/${name}`);
    const { total } = await countParams(m);
    console.log(`${f.out}/${name}: ${total} parameters, ${countMacs(m)} MACs`);
  }
  model.dispose();
  pruned.dispose();
}

if (import.meta.main) await exitOnError(main);
