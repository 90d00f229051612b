/**
 * `deno task bench`: ms per training step and per inference batch of the
 * VGG-style net and the small ResNet (bench/nets.ts; 32x32x3, batch 64) on
 * each available backend, and the same nets in PyTorch (on the CPU with 2
 * threads, or on CUDA with `--torch_device cuda`) in the same run when
 * `python3 -c "import torch"` works. Rows are appended to the "## Backends"
 * section of BENCH.md. The pure-JS cpu backend is timed on inference only.
 * Each figure is the best of `--steps` timed steps (after `--warmup`), for us
 * and for PyTorch alike: on a shared machine the minimum is the estimate least
 * disturbed by other processes.
 *
 * Flags: `deno task bench --help` lists them (--backends, --nets, --steps,
 * --warmup, --machine, --date, --no-torch, --torch_device, --no-write, --out,
 * --json). With --json the last stdout line is a JSON object with
 * wasm_train_vs_torch and wasm_infer_vs_torch for the VGG-style net. A bad
 * flag prints one line and exits 2.
 *
 * @example
 * ```sh
 * deno task bench --json --machine "2-core CI-class VM, no GPU"
 * deno task bench --backends webgpu-dawn,webgpu-deno,wasm --torch_device cuda --machine "1x H100"
 * ```
 * @module
 */
import { dirname } from "node:path";
import {
  BackendError,
  type BackendInfo,
  type BackendName,
  backendNames,
  cpuName,
  describeBackend,
  exitOnError,
  type FlagDefs,
  initBackend,
  parseFlags,
  probeAdapter,
  tf,
  UsageError,
  type WebGpuProvider,
} from "@shears/core";
import { benchBatch, buildNet, inferStep, type NetName, trainStep } from "./nets.ts";
import { appendToBenchMd } from "./bench_md.ts";

/** One measured (backend, net) pair. */
interface Row {
  backend: string;
  device: string;
  net: NetName;
  train_ms: number | null;
  infer_ms: number | null;
}

/** What bench/peers/torch_bench.py prints (`gpu` only with `--device cuda`). */
type TorchResult = Record<NetName, { train_ms: number; infer_ms: number }> & {
  torch: string;
  threads: number;
  device: TorchDevice;
  gpu?: string;
};

type TorchDevice = "cpu" | "cuda";

/** The bench's flags (`deno task bench --help`). */
export const benchFlags = {
  backends: {
    type: "strings",
    choices: [...backendNames.filter((n) => n !== "auto"), "webgpu-dawn", "webgpu-deno"],
    help: "backends to time; webgpu-dawn / webgpu-deno name the WebGPU provider (default: " +
      "every one that initialises, webgpu on each provider with a hardware adapter)",
  },
  nets: {
    type: "strings",
    default: ["vgg", "resnet"],
    choices: ["vgg", "resnet"],
    help: "benchmark nets (bench/nets.ts)",
  },
  steps: { type: "int", default: 5, min: 1, help: "timed steps; each figure is their best" },
  warmup: { type: "int", default: 2, min: 0, help: "untimed steps before timing" },
  machine: { type: "string", default: cpuName(), help: "machine label for the BENCH.md rows" },
  date: {
    type: "string",
    default: new Date().toISOString().slice(0, 10),
    validate: (v) =>
      /^\d{4}-\d{2}-\d{2}$/.test(v as string) ? undefined : `must be YYYY-MM-DD, got ${v}`,
    help: "date for the BENCH.md rows",
  },
  torch: {
    type: "boolean",
    default: true,
    help: "time the PyTorch peer (bench/peers/torch_bench.py) too; --no-torch skips it",
  },
  torch_device: {
    type: "string",
    default: "cpu",
    choices: ["cpu", "cuda"],
    help: "device of the PyTorch peer (cuda: synchronised GPU timings)",
  },
  write: {
    type: "boolean",
    default: true,
    help: "append the rows to --out; --no-write only prints them",
  },
  out: { type: "string", default: "BENCH.md", help: "markdown file the rows are appended to" },
  json: {
    type: "boolean",
    default: false,
    help: "print a JSON summary (rows, wasm vs PyTorch ratios) as the last stdout line",
  },
} satisfies FlagDefs;

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

/** A backend to bench: its name (with the WebGPU provider) and how to select it. */
interface Candidate {
  label: string;
  init: () => Promise<BackendInfo>;
}

/** "webgpu-dawn" for webgpu through Dawn; the backend's name otherwise. */
const labelOf = (info: BackendInfo) => info.provider ? `${info.name}-${info.provider}` : info.name;

/** A candidate for a `--backends` name ("webgpu-dawn": webgpu with provider dawn). */
function candidate(name: string): Candidate {
  const [backend, provider] = name.split("-") as [BackendName, WebGpuProvider | undefined];
  return {
    label: name,
    init: () => initBackend(backend, { webgpu: provider ?? "auto", quiet: true }),
  };
}

async function measure(
  info: BackendInfo,
  net: NetName,
  train: boolean,
  warmup: number,
  steps: number,
): Promise<Row> {
  const model = buildNet(net);
  const optimizer = tf.train.sgd(0.01);
  const { x, labels } = benchBatch();
  const before = tf.memory().numTensors;
  const train_ms = train
    ? await timeMs(() => trainStep(model, optimizer, x, labels), warmup, steps)
    : null;
  const infer_ms = await timeMs(() => inferStep(model, x), warmup, steps);
  if (tf.memory().numTensors !== before) {
    throw new Error(`${info.name} ${net}: tensors leaked (${before} -> ${tf.memory().numTensors})`);
  }
  tf.dispose([x, labels]);
  optimizer.dispose();
  model.dispose();
  return { backend: labelOf(info), device: info.device, net, train_ms, infer_ms };
}

/**
 * Runs bench/peers/torch_bench.py on `device` with the first python3 that
 * imports torch; null if none does (a user error when CUDA was asked for).
 */
async function runTorch(
  device: TorchDevice,
  warmup: number,
  steps: number,
): Promise<TorchResult | null> {
  const script = new URL("./peers/torch_bench.py", import.meta.url).pathname;
  const probe = device === "cuda"
    ? "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)"
    : "import torch";
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const found = await new Deno.Command(python, { args: ["-c", probe], stderr: "null" })
        .output();
      if (found.code === 3) {
        throw new UsageError(`--torch_device cuda: torch under ${python} sees no CUDA device`);
      }
      if (!found.success) continue;
      const args = [script, "--threads", "2", "--warmup", `${warmup}`, "--steps", `${steps}`];
      const out = await new Deno.Command(python, {
        args: [...args, "--device", device],
        stderr: "inherit",
      }).output();
      if (!out.success) throw new Error(`${python} ${script} failed`);
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      return JSON.parse(lines[lines.length - 1]) as TorchResult;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
  }
  if (device === "cuda") {
    throw new UsageError("--torch_device cuda: no python3 here imports torch (or use --no-torch)");
  }
  return null;
}

/** The device column of the PyTorch rows, e.g. "CUDA NVIDIA H100 80GB HBM3, torch 2.11.0". */
function torchDevice(t: TorchResult): string {
  return t.device === "cuda"
    ? `CUDA ${t.gpu}, torch ${t.torch}`
    : `CPU, torch ${t.torch}, ${t.threads} threads`;
}

/**
 * Backends to bench: the named ones (each checked now, so a bad one fails
 * before minutes of timing), or every one that initialises, webgpu on each
 * provider that offers a hardware adapter.
 */
async function pickBackends(named: string[] | undefined): Promise<Candidate[]> {
  if (named) {
    const picked = named.map(candidate);
    for (const c of picked) await c.init();
    return picked;
  }
  const names: string[] = [];
  for (const provider of ["dawn", "deno"] as const) {
    const adapter = await probeAdapter(provider);
    if (adapter != null && !adapter.fallback) names.push(`webgpu-${provider}`);
  }
  names.push("tensorflow", "wasm", "cpu");
  const picked: Candidate[] = [];
  for (const c of names.map(candidate)) {
    try {
      await c.init();
      picked.push(c);
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      console.error(`skipping ${c.label}: ${e.message}`);
    }
  }
  return picked;
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

/** Fails fast, before minutes of timing, when `--out` cannot be written. */
async function checkOutDir(out: string): Promise<void> {
  const dir = dirname(out);
  try {
    if ((await Deno.stat(dir)).isDirectory) return;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  throw new UsageError(`--out ${out}: no directory ${dir}`);
}

/** Runs the bench with command-line `args`. */
async function main(args: string[]): Promise<void> {
  const values = parseFlags(benchFlags, args, {
    name: "deno task bench",
    description: "Time a training step and an inference batch of the bench nets per backend " +
      "and in PyTorch; append the rows to BENCH.md.",
  });
  const { steps, warmup } = values;
  const nets = values.nets as NetName[];
  const device = values.torch_device as TorchDevice;
  if (values.write) await checkOutDir(values.out);

  const backends = await pickBackends(values.backends);
  const torchBefore = values.torch ? await runTorch(device, warmup, steps) : null;
  const rows: Row[] = [];
  for (const backend of backends) {
    const info = await backend.init();
    console.error(describeBackend(info));
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
  const torch = torchBefore && bestOf(torchBefore, await runTorch(device, warmup, steps));
  if (torch) {
    for (const net of nets) {
      rows.push({
        backend: "pytorch",
        device: torchDevice(torch),
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
  if (values.write) {
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

if (import.meta.main) await exitOnError(() => main(Deno.args));
