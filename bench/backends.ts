/**
 * `deno task bench`: ms per training step and per inference batch of the
 * VGG-style net and the small ResNet (bench/nets.ts; 32x32x3, batch 64) on
 * each available backend, and the same nets in PyTorch on the CPU (2 threads)
 * in the same run when `python3 -c "import torch"` works. Rows are appended to
 * the "## Backends" section of BENCH.md. The pure-JS cpu backend is timed on
 * inference only. Each figure is the best of `--steps` timed steps (after
 * `--warmup`), for us and for PyTorch alike: on a shared machine the minimum
 * is the estimate least disturbed by other processes.
 *
 * Flags: --backends wasm,webgpu,cpu,tensorflow (default: every one that
 * initialises here; webgpu only on a hardware adapter unless named) --nets
 * vgg,resnet --steps 5 --warmup 2 --machine "<label>" --date YYYY-MM-DD
 * --no-torch --no-write --json (last stdout line: a JSON object with
 * wasm_train_vs_torch and wasm_infer_vs_torch for the VGG-style net).
 *
 * @example
 * ```sh
 * deno task bench --json --machine "2-core CI-class VM, no GPU"
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import {
  BackendError,
  type BackendInfo,
  type BackendName,
  cpuName,
  initBackend,
  probeAdapter,
  tf,
} from "@shears/core";
import { buildNet, inferStep, type NetName, trainStep } from "./nets.ts";
import { appendToBenchMd } from "./bench_md.ts";

/** One measured (backend, net) pair. */
interface Row {
  backend: string;
  device: string;
  net: NetName;
  train_ms: number | null;
  infer_ms: number | null;
}

type TorchResult = Record<NetName, { train_ms: number; infer_ms: number }> & {
  torch: string;
  threads: number;
};

const BATCH = 64;

async function timeMs(fn: () => Promise<unknown>, warmup: number, steps: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return Math.min(...times);
}

async function measure(
  info: BackendInfo,
  net: NetName,
  train: boolean,
  warmup: number,
  steps: number,
): Promise<Row> {
  tf.setBackend(info.name);
  const model = buildNet(net);
  const optimizer = tf.train.sgd(0.01);
  const x = tf.randomNormal([BATCH, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const classes = tf.randomUniform([BATCH], 0, 10, "int32", 2) as tf.Tensor1D;
  const labels = tf.oneHot(classes, 10).toFloat() as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const train_ms = train
    ? await timeMs(() => trainStep(model, optimizer, x, labels), warmup, steps)
    : null;
  const infer_ms = await timeMs(() => inferStep(model, x), warmup, steps);
  if (tf.memory().numTensors !== before) {
    throw new Error(`${info.name} ${net}: tensors leaked (${before} -> ${tf.memory().numTensors})`);
  }
  tf.dispose([x, classes, labels]);
  optimizer.dispose();
  model.dispose();
  return { backend: info.name, device: info.device, net, train_ms, infer_ms };
}

/** Runs bench/peers/torch_bench.py with the first python3 that imports torch; null if none. */
async function runTorch(warmup: number, steps: number): Promise<TorchResult | null> {
  const script = new URL("./peers/torch_bench.py", import.meta.url).pathname;
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const probe = await new Deno.Command(python, { args: ["-c", "import torch"], stderr: "null" })
        .output();
      if (!probe.success) continue;
      const args = [script, "--threads", "2", "--warmup", `${warmup}`, "--steps", `${steps}`];
      const out = await new Deno.Command(python, { args, stderr: "inherit" }).output();
      if (!out.success) throw new Error(`${python} ${script} failed`);
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      return JSON.parse(lines[lines.length - 1]) as TorchResult;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
  }
  return null;
}

/** Backends to bench: the named ones, or every one that initialises (webgpu on hardware only). */
async function pickBackends(named: string | undefined): Promise<BackendInfo[]> {
  const infos: BackendInfo[] = [];
  if (named) {
    for (const n of named.split(",")) infos.push(await initBackend(n as BackendName));
    return infos;
  }
  const candidates: BackendName[] = ["tensorflow", "wasm", "cpu"];
  const adapter = await probeAdapter();
  if (adapter != null && !adapter.fallback) candidates.unshift("webgpu");
  for (const n of candidates) {
    try {
      infos.push(await initBackend(n));
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      console.error(`skipping ${n}: ${e.message}`);
    }
  }
  return infos;
}

function bestOf(a: TorchResult, b: TorchResult | null): TorchResult {
  if (b == null) return a;
  const best = { ...a };
  for (const net of ["vgg", "resnet"] as const) {
    best[net] = {
      train_ms: Math.min(a[net].train_ms, b[net].train_ms),
      infer_ms: Math.min(a[net].infer_ms, b[net].infer_ms),
    };
  }
  return best;
}

const fmt = (v: number | null | undefined) => (v == null ? "-" : v.toFixed(1));
const ratio = (a: number | null, b: number | undefined) =>
  a == null || b == null ? null : Number((a / b).toFixed(2));

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backends: { type: "string" },
      nets: { type: "string", default: "vgg,resnet" },
      steps: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
      machine: { type: "string", default: cpuName() },
      date: { type: "string", default: new Date().toISOString().slice(0, 10) },
      "no-torch": { type: "boolean", default: false },
      "no-write": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      out: { type: "string", default: "BENCH.md" },
    },
  });
  const steps = Number(values.steps), warmup = Number(values.warmup);
  if (!(Number.isInteger(steps) && steps > 0)) {
    throw new BackendError(`--steps must be a positive integer, got ${values.steps}`);
  }
  if (!(Number.isInteger(warmup) && warmup >= 0)) {
    throw new BackendError(`--warmup must be an integer >= 0, got ${values.warmup}`);
  }
  const nets = values.nets.split(",") as NetName[];
  for (const n of nets) {
    if (n !== "vgg" && n !== "resnet") {
      throw new BackendError(`--nets takes vgg,resnet, got ${n}`);
    }
  }

  const torchBefore = values["no-torch"] ? null : await runTorch(warmup, steps);
  const rows: Row[] = [];
  for (const info of await pickBackends(values.backends)) {
    for (const net of nets) {
      const slow = info.name === "cpu";
      const row = await measure(info, net, !slow, slow ? 1 : warmup, slow ? 1 : steps);
      rows.push(row);
      console.log(
        `${row.backend} ${net}: train ${fmt(row.train_ms)} ms, infer ${fmt(row.infer_ms)} ms`,
      );
    }
  }
  // PyTorch runs before and after us and keeps its better figures, so a burst of
  // load from other processes during one of its runs does not flatter the ratios.
  const torch = torchBefore && bestOf(torchBefore, await runTorch(warmup, steps));
  if (torch) {
    for (const net of nets) {
      rows.push({
        backend: "pytorch",
        device: `CPU, torch ${torch.torch}, ${torch.threads} threads`,
        net,
        ...torch[net],
      });
      console.log(
        `pytorch ${net}: train ${fmt(torch[net].train_ms)} ms, infer ${
          fmt(torch[net].infer_ms)
        } ms`,
      );
    }
  }
  const vs = (r: Row) => {
    const t = torch?.[r.net];
    if (!t || r.backend === "pytorch") return "-";
    const x = (v: number | null) => (v == null ? "-" : `${v.toFixed(1)}x`);
    return `${x(ratio(r.train_ms, t.train_ms))} / ${x(ratio(r.infer_ms, t.infer_ms))}`;
  };
  if (!values["no-write"]) {
    await appendToBenchMd(values.out, {
      section: "Backends",
      intro: "Written by `deno task bench` (bench/backends.ts); see the notes above the table.",
      header: [
        "date",
        "machine",
        "net",
        "backend",
        "device",
        "train ms/step",
        "infer ms/batch",
        "vs PyTorch (train / infer)",
      ],
      rows: rows.map((
        r,
      ) => [
        values.date,
        values.machine,
        r.net,
        r.backend,
        r.device,
        fmt(r.train_ms),
        fmt(r.infer_ms),
        vs(r),
      ]),
    });
  }
  if (values.json) {
    const wasm = (net: NetName) => rows.find((r) => r.backend === "wasm" && r.net === net);
    const summary: Record<string, unknown> = { date: values.date, machine: values.machine, rows };
    for (const net of nets) {
      const prefix = net === "vgg" ? "wasm" : `wasm_${net}`;
      summary[`${prefix}_train_vs_torch`] = ratio(
        wasm(net)?.train_ms ?? null,
        torch?.[net].train_ms,
      );
      summary[`${prefix}_infer_vs_torch`] = ratio(
        wasm(net)?.infer_ms ?? null,
        torch?.[net].infer_ms,
      );
    }
    console.log(JSON.stringify(summary));
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    if (!(e instanceof BackendError)) throw e;
    console.error(e.message);
    Deno.exit(2);
  }
}
