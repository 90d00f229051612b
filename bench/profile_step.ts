/**
 * Where a training step's time goes, per kernel: `deno task profile --backend
 * webgpu --net vgg`. Runs the bench nets (bench/nets.ts; batch 64 of 32x32x3),
 * times one warm training step and one inference batch, then profiles a step
 * with `tf.profile` and prints the kernels by total time. Comparing the wall
 * time with the sum of kernel times separates kernel cost from per-dispatch
 * and host overhead (the open question for WebGPU on a real GPU, BENCH.md).
 *
 * @example
 * ```sh
 * deno task profile --backend wasm --net resnet --top 15
 * ```
 * @module
 */
import {
  type BackendName,
  backendNames,
  exitOnError,
  type FlagDefs,
  initBackend,
  parseFlags,
  tf,
} from "@shears/core";
import { benchBatch, buildNet, inferStep, type NetName, trainStep } from "./nets.ts";

const flags = {
  backend: {
    type: "string",
    default: "wasm",
    choices: backendNames.filter((n) => n !== "auto"),
    help: "backend to profile",
  },
  net: { type: "string", default: "vgg", choices: ["vgg", "resnet"], help: "bench net" },
  top: { type: "int", default: 20, min: 1, help: "kernels to list" },
} satisfies FlagDefs;

/** Kernel name -> calls and summed kernel time (ms) of one profiled step. */
async function profileStep(step: () => Promise<unknown>): Promise<{
  kernels: Map<string, { n: number; ms: number }>;
  count: number;
}> {
  const info = await tf.profile(async () => {
    await step();
  });
  const kernels = new Map<string, { n: number; ms: number }>();
  // "...__op" entries are op scopes around kernels listed too: counting them would count twice
  for (const k of info.kernels.filter((k) => !k.name.endsWith("__op"))) {
    const e = kernels.get(k.name) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += Number(await k.kernelTimeMs) || 0;
    kernels.set(k.name, e);
  }
  return { kernels, count: [...kernels.values()].reduce((s, e) => s + e.n, 0) };
}

async function main(): Promise<void> {
  const f = parseFlags(flags, Deno.args, {
    name: "profile_step",
    description: "Per-kernel profile of one training step of a bench net.",
  });
  const info = await initBackend(f.backend as BackendName);
  const model = buildNet(f.net as NetName);
  const optimizer = tf.train.sgd(0.01);
  const { x, labels } = benchBatch();
  const step = () => trainStep(model, optimizer, x, labels);
  await step();
  await inferStep(model, x);
  let t0 = performance.now();
  await step();
  const trainMs = performance.now() - t0;
  t0 = performance.now();
  await inferStep(model, x);
  const inferMs = performance.now() - t0;
  const { kernels, count } = await profileStep(step);
  const total = [...kernels.values()].reduce((s, e) => s + e.ms, 0);
  console.log(
    `${info.name} (${info.device}), ${f.net}: train step ${trainMs.toFixed(1)} ms, ` +
      `inference ${inferMs.toFixed(1)} ms`,
  );
  console.log(`profiled step: ${count} kernels, ${total.toFixed(1)} ms of kernel time`);
  const rows = [...kernels].sort((a, b) => b[1].ms - a[1].ms).slice(0, f.top);
  for (const [name, e] of rows) {
    const share = total > 0 ? (100 * e.ms / total).toFixed(1) : "-";
    console.log(`  ${name.padEnd(36)} ${e.ms.toFixed(1).padStart(9)} ms  x${e.n}  ${share}%`);
  }
  tf.dispose([x, labels]);
  model.dispose();
}

if (import.meta.main) await exitOnError(main);
