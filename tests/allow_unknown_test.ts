/**
 * A saved model with a custom layer the channel graph does not know (the
 * `ChannelGate` of ./custom_layer_plugin.ts, loaded through `--plugin`):
 * every pipeline that prunes channels stops before training with one line
 * naming the layer and how to register it; with `--allow_unknown` the run
 * prunes around it, the groups it touches pinned, and says which.
 * @module
 */
import { loadModel, saveModel, tf } from "@shears/core";
import { ChannelGate } from "./custom_layer_plugin.ts";
import { deepEqual, equal, match, ok } from "./assert.ts";
import { oneLineError } from "./subprocess.ts";
import { readReport, runCli, testBackend, withTempDir } from "../pipelines/test_harness.ts";

const backend = testBackend("wasm");
const plugin = "tests/custom_layer_plugin.ts";

/** conv1 -> relu -> ChannelGate -> conv2 -> relu -> conv3 -> relu -> pool -> fc, for synthetic data. */
function gatedModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: "input" });
  let x = input;
  for (const [i, filters] of [[1, 4], [2, 6], [3, 5]]) {
    x = tf.layers.conv2d({ name: `conv${i}`, filters, kernelSize: 3, padding: "same" })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `relu${i}` }).apply(x) as tf.SymbolicTensor;
    if (i === 1) x = new ChannelGate({ name: "gate" }).apply(x) as tf.SymbolicTensor;
  }
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(x);
  const y = tf.layers.dense({ name: "fc", units: 4 }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: y, name: "gated" });
}

const UNKNOWN =
  "error: layer 'gate' (ChannelGate) is not known to the channel graph: register it " +
  'with registerChannelwiseLayer("ChannelGate") if its output channel c depends only on input ' +
  'channel c, or with registerProducerLayer("ChannelGate", { kernel, out, reads, count }) if a ' +
  "kernel makes its output channels (in a --plugin module); or pass --allow_unknown " +
  "(allowUnknown) to prune around it with its channels pinned";

const tiny = ["--dataset", "synthetic", "--limit_train", "32", "--limit_test", "32"];

Deno.test("an unknown custom layer: one line before training, or pinned with --allow_unknown", () =>
  withTempDir(async (dir) => {
    const m = gatedModel();
    await saveModel(m, `${dir}/gated`);
    m.dispose();
    const common = [...tiny, "--path", `${dir}/gated`, "--plugin", plugin, "--backend", backend];
    const prune = [...common, "--scorer", "filter_taylor/l1", "--keep_ratio", "0.5"];
    const filters = [
      ...common,
      ...["--batch_size", "32", "--filters_per_iteration", "2", "--iterations", "1"],
      ...["--finetune_epochs", "0", "--final_epochs", "0", "--latency_batch", "4"],
    ];
    const refused = await Promise.all([
      runCli("prune.ts", [...prune, "--out", `${dir}/no1`]),
      runCli("filter_taylor.ts", [...filters, "--out", `${dir}/no2`]),
      runCli("intra_fusion.ts", [...common, "--group_idxs", "0", "--out", `${dir}/no3`]),
      runCli("rni.ts", [...common, "--out", `${dir}/no4`]),
    ]);
    for (const out of refused) equal(oneLineError(out), UNKNOWN);
    for (const i of [1, 2, 3, 4]) {
      ok(!(await Deno.stat(`${dir}/no${i}`).catch(() => null)), "no run directory");
    }
    const pinned = [{ layer: "gate", className: "ChannelGate", groups: ["gate", "conv1"] }];
    for (
      const [script, args] of [["prune.ts", prune], ["filter_taylor.ts", filters]] as const
    ) {
      const out = await runCli(script, [...args, "--allow_unknown", "--out", `${dir}/${script}`]);
      equal(out.code, 0, `${script}: ${out.stderr}`);
      match(
        out.stdout + out.stderr,
        /--allow_unknown: layer 'gate' \(ChannelGate\) is opaque to the channel graph; channel groups pinned \(not pruned\): gate, conv1/,
      );
      const report = await readReport<{ pinned_unknown: unknown }>(`${dir}/${script}`);
      deepEqual(report.pinned_unknown, pinned);
      const pruned = await loadModel(`${dir}/${script}/model`);
      const count = (l: string) => (pruned.getLayer(l).getConfig() as { filters: number }).filters;
      equal(count("conv1"), 4, `${script}: the gate's input channels stay`);
      ok(count("conv2") + count("conv3") < 6 + 5, `${script}: the other convs are pruned`);
      equal(pruned.getLayer("gate").getClassName(), "ChannelGate");
      pruned.dispose();
    }
  }));
