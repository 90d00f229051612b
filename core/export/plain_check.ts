/**
 * Runs an exported model with nothing but TensorFlow.js: no Shears module is
 * imported here, only `@tensorflow/tfjs` (the npm package) and, where the
 * export ships one, its own `layers.js`. The export runs this in a subprocess
 * to prove the model loads and predicts without Shears; it is also what a
 * deploying user does, in a dozen lines.
 *
 * It loads `DIR/model.json` through tfjs's HTTP loader (`tf.io.http`, given
 * Deno's fetch, which reads `file:` URLs), on the pure-JS cpu backend, runs
 * the images of `DIR/samples.json`, writes the outputs (float32, row-major)
 * to OUT and prints one JSON line: tfjs version, backend, output shape.
 *
 * @example
 * ```sh
 * deno run --allow-read=runs/x/export --allow-write=/tmp/out.bin core/export/plain_check.ts \
 *   runs/x/export /tmp/out.bin
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

const [dir, out] = Deno.args;
const base = new URL(`file://${await Deno.realPath(dir)}/`);
const read = async (name: string) => await (await fetch(new URL(name, base))).arrayBuffer();
const modelJson = JSON.parse(new TextDecoder().decode(await read("model.json")));
const layersModule = modelJson.userDefinedMetadata?.shears?.layersModule;
if (layersModule) (await import(new URL(layersModule, base).href)).registerLayers(tf);
await tf.setBackend("cpu");
const model = await tf.loadLayersModel(
  tf.io.http(new URL("model.json", base).href, { fetchFunc: fetch }),
);
const samples = JSON.parse(new TextDecoder().decode(await read("samples.json")));
const x = tf.tensor(new Float32Array(await read(samples.inputs)), samples.shape);
const y = model.predict(x) as tf.Tensor;
const values = await y.data() as Float32Array;
await Deno.writeFile(out, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
console.log(JSON.stringify({ tfjs: tf.version.tfjs, backend: tf.getBackend(), shape: y.shape }));
