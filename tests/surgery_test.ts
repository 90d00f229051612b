import {
  buildChannelGraph,
  layerWeight,
  registerChannelwiseLayer,
  removeChannels,
  rewriteLayers,
  Rng,
  tf,
} from "@shears/core";
import { buildModel } from "@shears/models";
import { allClose, deepEqual, equal, ok, rejects, throws } from "./assert.ts";
import { randomRemovals, zeroedCopy } from "./prune_check.ts";
import { useTestBackend } from "./backend_setup.ts";
import {
  chainModel,
  concatDepthwise,
  lenetLike,
  randomizeWeights,
  resnetLike,
  vggLike,
} from "./channel_models.ts";

await useTestBackend();

function predict(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

/** Prunes random channels of every prunable group and checks pruned == zeroed original. */
async function checkInvariant(model: tf.LayersModel, seed: number): Promise<tf.LayersModel> {
  randomizeWeights(model, seed);
  const rng = new Rng(seed);
  const graph = buildChannelGraph(model);
  const removals = randomRemovals(graph, rng);
  const inShape = (model.inputs[0].shape as number[]).slice(1);
  const x = tf.randomNormal([2, ...inShape], 0, 1, "float32", seed);
  const original = predict(model, x);
  const pruned = await removeChannels(model, removals, graph);
  const zeroed = zeroedCopy(model, graph, removals);
  const want = predict(zeroed, x);
  const got = predict(pruned, x);
  allClose(got, want, { rtol: 1e-4, atol: 1e-4 }, `${model.name} pruned output`);
  ok(got.some((v, i) => Math.abs(v - original[i]) > 1e-3), "removal changed nothing");
  allClose(predict(model, x), original, {}, "the input model is left as it was");
  // Every producer lost exactly the channels removed from it.
  for (const [id, channels] of removals) {
    for (const p of graph.group(id).producers.filter((p) => p.weight === "kernel")) {
      const before = model.getLayer(p.layer).getWeights()[0].shape[p.axis];
      const gone = channels.filter((j) => p.index[j] >= 0).length;
      equal(pruned.getLayer(p.layer).getWeights()[0].shape[p.axis], before - gone, p.layer);
    }
  }
  tf.dispose(x);
  zeroed.dispose();
  return pruned;
}

Deno.test("resnet-like: pruned output = zeroed original (coupled adds, projection, option-A)", async () => {
  const model = resnetLike();
  const pruned = await checkInvariant(model, 1);
  model.dispose();
  pruned.dispose();
});

Deno.test("option-A padding channels are removed by shrinking padBefore / padAfter", async () => {
  const model = resnetLike();
  randomizeWeights(model, 2);
  const graph = buildChannelGraph(model);
  const g = graph.groupOf("c_add");
  const pad = g.pads[0];
  const before = pad.index.indexOf(1), after = pad.index.indexOf(9); // pad channels 1 and 9
  const b2 = g.producers.find((p) => p.layer === "b2_conv")!;
  const shared = b2.index.indexOf(3);
  const pruned = await removeChannels(model, new Map([[g.id, [before, after, shared]]]), graph);
  const cfg = pruned.getLayer("c_short").getConfig();
  deepEqual([cfg.padBefore, cfg.padAfter], [1, 1]);
  equal(pruned.getLayer("b2_conv").getWeights()[0].shape[3], 5);
  equal(pruned.getLayer("c2_conv").getWeights()[0].shape[3], 7);
  model.dispose();
  pruned.dispose();
});

Deno.test("vgg-like: flatten -> dense rows follow their channels", async () => {
  const model = vggLike();
  const pruned = await checkInvariant(model, 3);
  equal(pruned.getLayer("fc1").getWeights()[0].shape[0] % 4, 0);
  model.dispose();
  pruned.dispose();
});

Deno.test("lenet-like: valid convs, zero padding, pools, flatten, dropout", async () => {
  const model = lenetLike();
  const pruned = await checkInvariant(model, 4);
  model.dispose();
  pruned.dispose();
});

Deno.test("concat + MaskedReLU + depthwise: pruned output = zeroed original", async () => {
  const model = concatDepthwise();
  const pruned = await checkInvariant(model, 5);
  model.dispose();
  pruned.dispose();
});

Deno.test("zoo: resnet20 and resnet18 (tiny) keep the invariant", async () => {
  for (const name of ["resnet20", "resnet18"]) {
    const model = buildModel(name, { inputShape: [8, 8, 3], numClasses: 4, width: 0.125 });
    const pruned = await checkInvariant(model, 6);
    model.dispose();
    pruned.dispose();
  }
});

Deno.test("a pruned model saves and loads as plain tfjs with identical outputs", async () => {
  for (const make of [resnetLike, concatDepthwise]) {
    const model = make();
    randomizeWeights(model, 7);
    const graph = buildChannelGraph(model);
    const pruned = await removeChannels(model, randomRemovals(graph, new Rng(7)), graph);
    let saved: tf.io.ModelArtifacts | undefined;
    await pruned.save(tf.io.withSaveHandler((artifacts) => {
      saved = artifacts;
      return Promise.resolve({
        modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
      });
    }));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    const inShape = (model.inputs[0].shape as number[]).slice(1);
    const x = tf.randomNormal([2, ...inShape], 0, 1, "float32", 7);
    deepEqual(predict(loaded, x), predict(pruned, x));
    tf.dispose([x]);
    for (const m of [model, pruned, loaded]) m.dispose();
  }
});

Deno.test("bad removals are clear errors", async () => {
  const model = resnetLike();
  const graph = buildChannelGraph(model);
  const remove = (id: string, channels: number[]) =>
    removeChannels(model, new Map([[id, channels]]), graph);
  await rejects(
    () => remove("fc", [0]),
    /group 'fc' is not prunable: it feeds the model output 'fc'/,
  );
  await rejects(() => remove("nope", [0]), /no channel group 'nope'; groups: input, /);
  await rejects(
    () => remove("a1_conv", [4]),
    /channel 4 of group 'a1_conv' is out of range; it has 4/,
  );
  await rejects(() => remove("a1_conv", [1, 1]), /repeat an index/);
  await rejects(() => remove("a1_conv", [0, 1, 2, 3]), /cannot remove all 4 channels/);
  const g = graph.groupOf("c_add");
  const b2 = g.producers.find((p) => p.layer === "b2_conv")!;
  const allOfB = b2.index.flatMap((c, j) => (c >= 0 ? [j] : []));
  await rejects(() => remove(g.id, allOfB), /leave layer '(b2_conv|b_short_conv)' with no filters/);
  model.dispose();
});

Deno.test("removeChannels leaks no tensors", async () => {
  const model = resnetLike();
  const graph = buildChannelGraph(model);
  const removals = randomRemovals(graph, new Rng(8));
  for (let i = 0; i < 3; i++) {
    const before = tf.memory().numTensors;
    const pruned = await removeChannels(model, removals);
    equal(tf.memory().numTensors - before, pruned.weights.length);
    pruned.dispose();
    equal(tf.memory().numTensors, before);
  }
  model.dispose();
});

Deno.test("group ids survive surgery; sizes shrink by what was removed", async () => {
  const model = resnetLike();
  const graph = buildChannelGraph(model);
  const removals = randomRemovals(graph, new Rng(9));
  const pruned = await removeChannels(model, removals, graph);
  const after = buildChannelGraph(pruned);
  deepEqual(after.groups.map((g) => g.id), graph.groups.map((g) => g.id));
  for (const g of graph.groups) {
    equal(after.group(g.id).size, g.size - (removals.get(g.id)?.length ?? 0), g.id);
  }
  model.dispose();
  pruned.dispose();
});

Deno.test("rewriteLayers: replace layers, copy weights by name, leave the input model alone", () => {
  const model = chainModel();
  randomizeWeights(model, 10);
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, "float32", 10);
  const before = predict(model, x);
  const masked = rewriteLayers(
    model,
    (l) => l.className === "ReLU" ? { ...l, className: "MaskedReLU", config: { name: l.name } } : l,
  );
  deepEqual(
    masked.layers.filter((l) => l.getClassName() === "MaskedReLU").map((l) => l.name),
    ["c1_relu", "c2_relu"],
  );
  // Masks were not copied: they keep their initializer (ones), so the function is unchanged.
  allClose(predict(masked, x), before, { rtol: 1e-5, atol: 1e-6 }, "masked model output");
  // The copy owns its weights.
  const k = layerWeight(masked.getLayer("c1_conv"), "kernel")!;
  k.write(tf.tidy(() => tf.zerosLike(k.read())));
  allClose(predict(model, x), before, {}, "input model after editing the copy");
  throws(
    () =>
      rewriteLayers(
        model,
        (l) => l.name === "c1_conv" ? { ...l, config: { ...l.config, filters: 3 } } : l,
      ),
    /weight c1_conv\/kernel has shape \[3,3,3,3\] in the rewritten model; got a value of shape \[3,3,3,4\]/,
  );
  tf.dispose(x);
  model.dispose();
  masked.dispose();
});

/** A per-channel scale, unknown to core: y[..., c] = x[..., c] * scale[c]. */
class ChannelScale extends tf.layers.Layer {
  static className = "ChannelScale";
  override build(shape: tf.Shape | tf.Shape[]): void {
    const c = (shape as number[])[(shape as number[]).length - 1];
    this.addWeight("scale", [c], "float32", tf.initializers.ones());
    this.built = true;
  }
  override call(x: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.mul(Array.isArray(x) ? x[0] : x, this.weights[0].read()));
  }
}
tf.serialization.registerClass(ChannelScale);

Deno.test("a plugin's channel-wise layer: rejected until registered, then sliced", async () => {
  const input = tf.input({ shape: [6, 6, 2], name: "input" });
  let x = tf.layers.conv2d({ name: "c1", filters: 5, kernelSize: 3 }).apply(input);
  x = new ChannelScale({ name: "scale" }).apply(x);
  x = tf.layers.conv2d({ name: "c2", filters: 4, kernelSize: 3 }).apply(x);
  x = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(x);
  const y = tf.layers.dense({ name: "fc", units: 3 }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: y });
  throws(
    () => buildChannelGraph(model),
    /layer 'scale' \(ChannelScale\) is not known to the channel graph/,
  );
  registerChannelwiseLayer("ChannelScale");
  const followers = buildChannelGraph(model).group("c1").followers;
  deepEqual(followers.map((f) => [f.layer, f.weight, f.axis]), [["scale", "scale", 0]]);
  const pruned = await checkInvariant(model, 11);
  const filters = pruned.getLayer("c1").getWeights()[0].shape[3]!;
  ok(filters < 5);
  deepEqual(pruned.getLayer("scale").getWeights()[0].shape, [filters]);
  model.dispose();
  pruned.dispose();
});
