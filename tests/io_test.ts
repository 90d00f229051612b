import {
  createRunDir,
  isUserFacing,
  loadModel,
  MaskedReLU,
  ModelFileError,
  OutputError,
  saveModel,
  sizeOnDisk,
  tf,
  UsageError,
  writeDirAtomic,
  writeFileAtomic,
  writeReport,
} from "@shears/core";
import { deepEqual, equal, match, ok, rejects, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

function tmpDir(): string {
  return Deno.makeTempDirSync({ prefix: "shears_io_" });
}

/** conv -> BN -> MaskedReLU (mask partly zero) -> GAP -> dense, with trained-looking BN stats. */
function maskedModel(): { model: tf.LayersModel; mask: Float32Array } {
  const x = tf.input({ shape: [5, 5, 2] });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", name: "conv" })
    .apply(x) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: "bn" });
  h = bn.apply(h) as tf.SymbolicTensor;
  const relu = new MaskedReLU({ name: "mrelu" });
  h = relu.apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(h) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 3, name: "fc" }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: x, outputs: y, name: "masked" });
  bn.setWeights([
    tf.tensor1d([1.5, 0.5, 1, 2]),
    tf.tensor1d([0.1, -0.2, 0.3, 0]),
    tf.tensor1d([0.2, -0.1, 0, 0.4]),
    tf.tensor1d([2, 0.5, 1, 3]),
  ]);
  const mask = Float32Array.from({ length: 5 * 5 * 4 }, (_, i) => (i % 3 === 0 ? 0 : 1));
  relu.setMask(tf.tensor(mask));
  return { model, mask };
}

Deno.test("save -> load gives identical outputs, masks and weights", async () => {
  const dir = tmpDir();
  try {
    const { model, mask } = maskedModel();
    const { bytes } = await saveModel(model, `${dir}/model`);
    equal(bytes, sizeOnDisk(`${dir}/model`));
    deepEqual([...Deno.readDirSync(`${dir}/model`)].map((e) => e.name).sort(), [
      "model.json",
      "weights.bin",
    ]);
    const json = JSON.parse(Deno.readTextFileSync(`${dir}/model/model.json`));
    equal(json.format, "layers-model");
    deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);

    for (const path of [`${dir}/model`, `${dir}/model/model.json`]) {
      const back = await loadModel(path);
      deepEqual(
        back.layers.map((l) => l.getClassName()),
        model.layers.map((l) => l.getClassName()),
      );
      deepEqual(
        Array.from((back.getLayer("mrelu") as MaskedReLU).mask.read().dataSync()),
        Array.from(mask),
      );
      const x = tf.randomNormal([4, 5, 5, 2], 0, 1, "float32", 7);
      const [a, b] = [model, back].map((m) => (m.predict(x) as tf.Tensor).dataSync());
      deepEqual(Array.from(b), Array.from(a));
      // the mask matters: switching it all on changes the output
      const relu = back.getLayer("mrelu") as MaskedReLU;
      relu.setMask(tf.onesLike(relu.mask.read()));
      const c = (back.predict(x) as tf.Tensor).dataSync();
      ok(Array.from(c).some((v, i) => v !== a[i]));
      x.dispose();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("saveModel refuses to write into a directory a model was loaded from", async () => {
  const dir = tmpDir();
  try {
    await saveModel(maskedModel().model, `${dir}/teacher`);
    const before = Deno.readFileSync(`${dir}/teacher/weights.bin`);
    const teacher = await loadModel(`${dir}/teacher/`);
    await rejects(saveModel(teacher, `${dir}/teacher`), ModelFileError);
    deepEqual(Deno.readFileSync(`${dir}/teacher/weights.bin`), before);
    await saveModel(teacher, `${dir}/student`); // a fresh dir is fine
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadModel: missing or malformed files give one-line user-facing errors", async () => {
  const dir = tmpDir();
  try {
    const expectErr = async (path: string, re: RegExp) => {
      const e = await loadModel(path).then(() => undefined, (e) => e as Error);
      ok(e instanceof ModelFileError, `expected ModelFileError, got ${e}`);
      ok(isUserFacing(e));
      match(e.message, re);
      equal(e.message.includes("\n"), false, e.message);
    };
    await expectErr(`${dir}/nope`, /cannot read model file .*nope\/model\.json: not found/);
    Deno.writeTextFileSync(`${dir}/model.json`, "{ not json");
    await expectErr(dir, /model\.json is not valid JSON/);
    Deno.writeTextFileSync(`${dir}/model.json`, `{"hello": 1}`);
    await expectErr(dir, /is not a tfjs layers model/);
    const graph = { format: "graph-model", modelTopology: { node: [] }, weightsManifest: [] };
    Deno.writeTextFileSync(`${dir}/model.json`, JSON.stringify(graph));
    await expectErr(dir, /is a tfjs graph model .*tfjs_layers_model/);
    const nodes = Array.from({ length: 500 }, (_, i) => ({ name: `n${i}`, op: "Conv2D" }));
    const unformatted = { modelTopology: { node: nodes }, weightsManifest: [] };
    Deno.writeTextFileSync(`${dir}/model.json`, JSON.stringify(unformatted));
    await expectErr(dir, /^cannot build the model .{0,400}$/);
    await saveModel(maskedModel().model, `${dir}/m`);
    const w = Deno.readFileSync(`${dir}/m/weights.bin`);
    Deno.writeFileSync(`${dir}/m/weights.bin`, w.slice(0, 40));
    await expectErr(`${dir}/m`, new RegExp(`have 40 bytes; expected ${w.byteLength}`));
    Deno.removeSync(`${dir}/m/weights.bin`);
    await expectErr(`${dir}/m`, /cannot read weights file .*weights\.bin: not found/);
    const json = Deno.readTextFileSync(`${dir}/m/model.json`).replaceAll(
      "MaskedReLU",
      "NoSuchLayer",
    );
    Deno.writeTextFileSync(`${dir}/m/model.json`, json);
    Deno.writeFileSync(`${dir}/m/weights.bin`, w);
    await expectErr(`${dir}/m`, /cannot build the model .*NoSuchLayer/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadModel: a malformed weightsManifest is one line naming the file", async () => {
  const dir = tmpDir();
  try {
    await saveModel(maskedModel().model, `${dir}/m`);
    const json = JSON.parse(Deno.readTextFileSync(`${dir}/m/model.json`));
    const spec = json.weightsManifest[0].weights[0];
    const bad: [unknown, RegExp][] = [
      [5, /weightsManifest must be a list of weight groups$/],
      [[null], /weightsManifest\[0\] must be an object with paths and weights$/],
      [[{ paths: "weights.bin", weights: [] }], /weightsManifest\[0\]\.paths must be a list/],
      [[{ paths: ["weights.bin"] }], /weightsManifest\[0\]\.weights must be a list$/],
      [
        [{ paths: ["weights.bin"], weights: [{ ...spec, shape: [3, "x"] }] }],
        /weightsManifest\[0\]\.weights\[0\] needs a name, a shape of whole numbers and a dtype/,
      ],
      [
        [{ paths: ["weights.bin"], weights: [{ ...spec, dtype: "float64" }] }],
        /weightsManifest\[0\]\.weights\[0\] needs .* \(float32, int32, bool, complex64\)$/,
      ],
    ];
    for (const [manifest, re] of bad) {
      Deno.writeTextFileSync(
        `${dir}/m/model.json`,
        JSON.stringify({ ...json, weightsManifest: manifest }),
      );
      const e = await loadModel(`${dir}/m`).then(() => undefined, (e) => e as Error);
      ok(e instanceof ModelFileError, `expected ModelFileError, got ${e?.stack ?? e}`);
      equal(e.message.includes("\n"), false, e.message);
      match(e.message, new RegExp(`^${dir}/m/model\\.json: ${re.source}`));
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writeDirAtomic swaps a directory whole; a failed write leaves the old one and no leftovers", async () => {
  const dir = tmpDir();
  const target = `${dir}/export`;
  const names = () => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  try {
    equal(
      await writeDirAtomic(target, async (tmp) => {
        await Deno.writeTextFile(`${tmp}/a.txt`, "old a");
        await Deno.writeTextFile(`${tmp}/b.txt`, "old b");
        return 2;
      }),
      2,
    );
    // a new version replaces the whole directory: b.txt is gone
    await writeDirAtomic(target, (tmp) => Deno.writeTextFile(`${tmp}/a.txt`, "new a"));
    deepEqual([...Deno.readDirSync(target)].map((e) => e.name), ["a.txt"]);
    equal(Deno.readTextFileSync(`${target}/a.txt`), "new a");

    // a fill that fails half-way: the old version stays, nothing is left beside it
    await rejects(
      writeDirAtomic(target, async (tmp) => {
        await Deno.writeTextFile(`${tmp}/a.txt`, "half");
        throw new Error("encoder crashed");
      }),
      /encoder crashed/,
    );
    equal(Deno.readTextFileSync(`${target}/a.txt`), "new a");
    deepEqual(names(), ["export"]);

    // the disk fills up: one line naming the target, old version intact
    const full = Object.assign(new Error("No space left on device (os error 28)"), {
      code: "ENOSPC",
    });
    const e = await writeDirAtomic(target, () => Promise.reject(full)).catch((e) => e as Error);
    ok(e instanceof OutputError && isUserFacing(e), String(e));
    equal(e.message, `cannot write ${target}: no space left on the device`);
    equal(Deno.readTextFileSync(`${target}/a.txt`), "new a");
    deepEqual(names(), ["export"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writeFileAtomic: an interrupted write leaves the old file intact", async () => {
  const dir = tmpDir();
  const path = `${dir}/report.json`;
  const { rename, writeFile } = Deno;
  try {
    await writeFileAtomic(path, "old");
    equal(Deno.readTextFileSync(path), "old");

    // the process dies between writing the temp file and the rename
    Deno.rename = () => Promise.reject(new Error("killed before rename"));
    await rejects(writeFileAtomic(path, "new content"), /killed before rename/);
    Deno.rename = rename;
    equal(Deno.readTextFileSync(path), "old");

    // the disk fills up half-way through the write
    Deno.writeFile = async (p, data) => {
      await writeFile(p, (data as Uint8Array).slice(0, 3));
      throw new Error("no space left on device");
    };
    await rejects(writeFileAtomic(path, "new content"), /no space/);
    Deno.writeFile = writeFile;
    equal(Deno.readTextFileSync(path), "old");
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["report.json"], "no temp files left");

    await writeFileAtomic(path, new TextEncoder().encode("new"));
    equal(Deno.readTextFileSync(path), "new");
  } finally {
    Deno.rename = rename;
    Deno.writeFile = writeFile;
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("createRunDir makes fresh dirs and never reuses a non-empty one; writeReport", async () => {
  const dir = tmpDir();
  const cwd = Deno.cwd();
  try {
    Deno.chdir(dir);
    const a = createRunDir("demo"), b = createRunDir("demo");
    match(a, /^runs\/demo\/\d{8}-\d{6}(-\d+)?$/);
    ok(a !== b, `${a} == ${b}`);
    const paths = await writeReport(a, { top1: 0.5, flags: { seed: 1 } }, "# demo");
    deepEqual(paths, [`${a}/report.json`, `${a}/report.md`]);
    deepEqual(JSON.parse(Deno.readTextFileSync(paths[0])), { top1: 0.5, flags: { seed: 1 } });
    equal(Deno.readTextFileSync(paths[1]), "# demo\n");

    equal(createRunDir("demo", "mine/run1"), "mine/run1");
    Deno.mkdirSync("empty");
    equal(createRunDir("demo", "empty"), "empty");
    throws(() => createRunDir("demo", a), UsageError);
    Deno.writeTextFileSync("plain", "a file");
    throws(
      () => createRunDir("demo", "plain/run"),
      /^UsageError: cannot create --out plain\/run: a path component is not a directory$/,
    );
    throws(
      () => createRunDir("demo", a),
      /--out runs\/demo\/.* already exists and is not an empty/,
    );
  } finally {
    Deno.chdir(cwd);
    Deno.removeSync(dir, { recursive: true });
  }
});
