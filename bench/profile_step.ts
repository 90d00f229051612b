/**
 * Where a training step's time goes: `deno task profile --backend webgpu`.
 * Runs a bench net (bench/nets.ts; 32x32x3 images, `--batch` of them) and
 * prints, per training step:
 *
 * - on webgpu: the dispatch count (and queue submits and uploads), the host
 *   time (the synchronous part of the step: JS, kernel selection, encoding
 *   and WebGPU API calls, until the step is recorded) beside the wall time,
 *   and the GPU time per kernel from timestamp queries where the adapter
 *   offers them (`--webgpu dawn-null`, Dawn's null adapter, executes nothing:
 *   its wall time is host cost alone);
 * - on every backend: the top kernels, by GPU (or kernel) time, with their
 *   dispatch counts on webgpu, and the host time of the optimizer update
 *   alone (Shears' optimizers).
 *
 * The step updates the weights with Shears' SGD (momentum 0.9, weight decay
 * 5e-4: the pipelines' default, fused on webgpu unless
 * SHEARS_WEBGPU_FUSED_OPTIMIZER=0), or `--optimizer adam`, or tfjs's plain SGD
 * (`--optimizer tfjs`, as bench/backends.ts and its PyTorch peer).
 *
 * Changes to the webgpu kernels are judged by these figures (BENCH.md).
 *
 * @example
 * ```sh
 * deno task profile --backend webgpu --webgpu dawn-null --batch 4
 * deno task profile --backend wasm --net resnet --top 15
 * ```
 * @module
 */
import {
  type BackendName,
  backendNames,
  countDispatches,
  type DispatchCounts,
  exitOnError,
  type FlagDefs,
  FUSED_OPTIMIZER,
  initBackend,
  makeOptimizer,
  type Optimizer,
  PARALLEL_FILTER_GRADS,
  parseFlags,
  tf,
  type WebGpuProvider,
} from "@shears/core";
import {
  BATCH,
  benchBatch,
  buildNet,
  inferStep,
  type NetName,
  recordTrainStep,
  trainStep,
  type Updater,
} from "./nets.ts";

const flags = {
  backend: {
    type: "string",
    default: "wasm",
    choices: backendNames.filter((n) => n !== "auto"),
    help: "backend to profile",
  },
  webgpu: {
    type: "string",
    default: "auto",
    choices: ["auto", "dawn", "deno", "dawn-null"],
    help: "WebGPU provider; dawn-null: Dawn's null adapter (executes nothing: host cost alone)",
  },
  net: { type: "string", default: "vgg", choices: ["vgg", "resnet"], help: "bench net" },
  batch: { type: "int", default: BATCH, min: 1, help: "images per step" },
  steps: { type: "int", default: 3, min: 1, help: "timed steps (their median is printed)" },
  optimizer: {
    type: "string",
    default: "sgd",
    choices: ["sgd", "adam", "tfjs"],
    help: "Shears' SGD (momentum 0.9, decay 5e-4) or Adam, or tfjs's plain SGD",
  },
  top: { type: "int", default: 20, min: 1, help: "kernels to list" },
  parallel_filter_grads: {
    type: "boolean",
    default: false,
    help: "webgpu: Shears' parallel filter-gradient kernels instead of tfjs's",
  },
  json: {
    type: "boolean",
    default: false,
    help: "print the figures as one JSON object on the last stdout line",
  },
} satisfies FlagDefs;

/** Per kernel: calls, dispatches (webgpu) and summed GPU/kernel time of one profiled step. */
interface KernelRow {
  calls: number;
  dispatches: number;
  ms: number;
}

/** Kernel name -> calls and summed kernel time (ms) of one step under `tf.profile`. */
async function kernelTimes(step: () => Promise<unknown>): Promise<Map<string, KernelRow>> {
  const info = await tf.profile(async () => {
    await step();
  });
  const rows = new Map<string, KernelRow>();
  // "...__op" entries are op scopes around kernels listed too: counting them would count twice
  for (const k of info.kernels.filter((k) => !k.name.endsWith("__op"))) {
    const row = rows.get(k.name) ?? { calls: 0, dispatches: 0, ms: 0 };
    row.calls++;
    row.ms += Number(await k.kernelTimeMs) || 0;
    rows.set(k.name, row);
  }
  return rows;
}

/** Learning rate of every profiled step. */
const LR = 0.01;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Shears' SGD (momentum 0.9, decay 5e-4: the pipelines' default) or Adam
 * (decay 5e-4), recording the host time of each step's update in `ms`.
 */
function timedOptimizer(kind: string, ms: number[]): Optimizer {
  const inner = makeOptimizer(
    kind === "adam"
      ? { kind: "adam", lr: LR, weightDecay: 5e-4 }
      : { kind: "sgd", lr: LR, momentum: 0.9, weightDecay: 5e-4 },
  );
  return {
    step(vars, grads, lr) {
      const t0 = performance.now();
      inner.step(vars, grads, lr);
      ms.push(performance.now() - t0);
    },
    dispose: () => inner.dispose(),
  };
}

/** Host and wall time (ms) and dispatch counts of `steps` training steps (medians; counts of the last). */
async function timeSteps(
  record: () => tf.Scalar,
  steps: number,
  gpu: boolean,
): Promise<{ hostMs: number; wallMs: number; counts?: DispatchCounts }> {
  const host: number[] = [], wall: number[] = [];
  let counts: DispatchCounts | undefined;
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    let loss: tf.Scalar;
    if (gpu) ({ result: loss, counts } = countDispatches(record));
    else loss = record();
    host.push(performance.now() - t0);
    await loss.data();
    wall.push(performance.now() - t0);
    loss.dispose();
  }
  return { hostMs: median(host), wallMs: median(wall), counts };
}

const ms = (v: number) => v.toFixed(1);

async function main(): Promise<void> {
  const f = parseFlags(flags, Deno.args, {
    name: "profile_step",
    description:
      "Dispatches, host time and per-kernel GPU time of one training step of a bench net.",
  });
  const nullAdapter = f.webgpu === "dawn-null";
  const info = await initBackend(f.backend as BackendName, {
    webgpu: (nullAdapter ? "dawn" : f.webgpu) as WebGpuProvider,
    dawnOptions: nullAdapter ? ["backend=null"] : [],
  });
  const gpu = info.name === "webgpu";
  if (gpu) tf.env().set(PARALLEL_FILTER_GRADS, f.parallel_filter_grads);
  const model = buildNet(f.net as NetName);
  const updateMs: number[] = [];
  const optimizer: Updater = f.optimizer === "tfjs"
    ? tf.train.sgd(LR)
    : { shears: timedOptimizer(f.optimizer, updateMs), lr: LR };
  const { x, labels } = benchBatch(f.batch);
  const record = () => recordTrainStep(model, optimizer, x, labels);
  await trainStep(model, optimizer, x, labels); // compiles the pipelines
  await inferStep(model, x);
  const { hostMs, wallMs, counts } = await timeSteps(record, f.steps, gpu);
  const updateHostMs = updateMs.length ? median(updateMs.slice(-f.steps)) : undefined;
  const t0 = performance.now();
  await inferStep(model, x);
  const inferMs = performance.now() - t0;
  // The null adapter's timestamps are meaningless: list its kernels by dispatches alone.
  const kernels = nullAdapter
    ? new Map<string, KernelRow>()
    : await kernelTimes(() => trainStep(model, optimizer, x, labels));
  for (const [name, n] of counts?.byKernel ?? []) {
    const row = kernels.get(name) ?? { calls: 0, dispatches: 0, ms: 0 };
    kernels.set(name, { ...row, dispatches: n });
  }
  const total = [...kernels.values()].reduce((s, e) => s + e.ms, 0);
  const provider = info.provider ? ` (${info.provider})` : "";
  const fused = gpu && f.optimizer !== "tfjs" && tf.env().getBool(FUSED_OPTIMIZER);
  console.log(
    `${info.name}${provider} on ${info.device}, ${f.net}, batch ${f.batch}, ` +
      `${f.optimizer} optimizer` + (gpu ? ` (${fused ? "fused" : "unfused"})` : "") +
      (gpu ? `, parallel filter grads ${f.parallel_filter_grads ? "on" : "off"}` : ""),
  );
  console.log(
    `per training step (median of ${f.steps}): wall ${ms(wallMs)} ms, host ${ms(hostMs)} ms` +
      (updateHostMs === undefined ? "" : ` (optimizer update ${ms(updateHostMs)} ms)`) +
      (counts
        ? `, ${counts.dispatches} dispatches, ${counts.submits} submits, ${counts.uploads} uploads`
        : ""),
  );
  console.log(`inference batch: ${ms(inferMs)} ms`);
  const what = gpu ? "GPU time (timestamp queries)" : "kernel time";
  console.log(
    `profiled step: ${ms(total)} ms of ${what}${gpu && total === 0 ? ": none offered" : ""}`,
  );
  const rows = [...kernels].sort((a, b) => b[1].ms - a[1].ms || b[1].dispatches - a[1].dispatches)
    .slice(0, f.top);
  console.log(
    `  ${"kernel".padEnd(36)} ${"ms".padStart(9)}  calls${gpu ? "  dispatches" : ""}  share`,
  );
  for (const [name, e] of rows) {
    const share = total > 0 ? `${(100 * e.ms / total).toFixed(1)}%` : "-";
    const d = gpu ? `  ${String(e.dispatches).padStart(10)}` : "";
    console.log(
      `  ${name.padEnd(36)} ${ms(e.ms).padStart(9)}  ${String(e.calls).padStart(5)}${d}  ${share}`,
    );
  }
  if (f.json) {
    console.log(JSON.stringify({
      backend: info.name,
      provider: info.provider,
      device: info.device,
      net: f.net,
      batch: f.batch,
      optimizer: f.optimizer,
      fused_optimizer: gpu ? fused : undefined,
      parallel_filter_grads: gpu ? f.parallel_filter_grads : undefined,
      wall_ms: wallMs,
      host_ms: hostMs,
      update_host_ms: updateHostMs,
      infer_ms: inferMs,
      dispatches: counts?.dispatches,
      submits: counts?.submits,
      uploads: counts?.uploads,
      kernel_ms: total,
    }));
  }
  tf.dispose([x, labels]);
  (optimizer instanceof tf.Optimizer ? optimizer : optimizer.shears).dispose();
  model.dispose();
}

if (import.meta.main) await exitOnError(main);
