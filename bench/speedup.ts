/**
 * Inference speed-up of pruned models over their base, measured side by side:
 * `deno task speedup --models runs/base/model,runs/pruned/model`. Loads the
 * saved models, deploys each (core's inferenceModel: BN folded, ReLUs fused),
 * and times them in alternating rounds with core's `compareLatency`, so load
 * that comes and goes on a shared machine moves both sides of each ratio. The
 * first model is the base. Prints each model's median batch latency, its
 * MACs, the speed-up and the speed-up as a share of the MAC reduction (the
 * filter_taylor acceptance figure).
 *
 * @example
 * ```sh
 * SHEARS_WASM_THREADS=2 deno task speedup --models base/model,pruned/model --rounds 7
 * ```
 * @module
 */
import {
  type BackendName,
  backendNames,
  compareLatency,
  countMacs,
  exitOnError,
  type FlagDefs,
  inferenceModel,
  initBackend,
  loadModel,
  parseFlags,
  UsageError,
} from "@shears/core";

const flags = {
  models: { type: "strings", help: "saved model dirs, the base first" },
  backend: {
    type: "string",
    default: "wasm",
    choices: backendNames.filter((n) => n !== "auto"),
    help: "backend to time on (wasm threads: SHEARS_WASM_THREADS)",
  },
  batch: { type: "int", default: 64, min: 1, help: "inference batch size" },
  rounds: { type: "int", default: 7, min: 1, help: "alternating rounds" },
  runs: { type: "int", default: 15, min: 1, help: "timed batches per model per round" },
} satisfies FlagDefs;

async function main(): Promise<void> {
  const f = parseFlags(flags, Deno.args, {
    name: "speedup",
    description: "Side-by-side inference latency of a base model and its pruned versions.",
  });
  if (!f.models || f.models.length < 2) {
    throw new UsageError("--models needs at least two saved model dirs, the base first");
  }
  const info = await initBackend(f.backend as BackendName);
  const saved = [];
  for (const path of f.models) saved.push(await loadModel(path));
  const deployed = await Promise.all(saved.map((m) => inferenceModel(m)));
  const macs = saved.map((m) => countMacs(m));
  const { ms, speedUp } = await compareLatency(deployed, {
    batchSize: f.batch,
    rounds: f.rounds,
    runs: f.runs,
  });
  console.log(
    `${info.name} (${info.device}), batch ${f.batch}, median of ${f.rounds} rounds x ${f.runs}`,
  );
  f.models.forEach((path, i) => {
    const macRatio = macs[0] / macs[i];
    console.log(
      `  ${path}: ${ms[i].toFixed(2)} ms, ${macs[i]} MACs` +
        (i === 0 ? " (base)" : `, x${speedUp[i].toFixed(2)} faster = ` +
          `${(speedUp[i] / macRatio).toFixed(2)} of the MAC reduction (x${macRatio.toFixed(2)})`),
    );
  });
  [...saved, ...deployed].forEach((m) => m.dispose());
}

if (import.meta.main) await exitOnError(main);
