/**
 * The pipeline runner: what every `pipelines/*.ts` entry point calls. It
 * parses flags (common ones plus the pipeline's), registers plugins (the
 * pipeline's and `--plugin` modules, checked at import; `--help` lists their
 * parts), starts the backend, builds the stages (the preflight: parts,
 * options, budgets, layer names and shapes are checked there, before any
 * data is loaded), makes the run directory, runs the stages with progress
 * rendering, turns Ctrl-C into a clean cancel (status `cancelled`, exit
 * 130; the last checkpoint stays), and writes the model, report.json and
 * report.md.
 *
 * @example
 * ```ts
 * const spec: PipelineSpec<typeof flags> = {
 *   name: "my_method", description: "...", flags, plugins: [myPlugin],
 *   build: (f, ctx) => [load({...}), score({...}), mask({...}), evaluate()],
 * };
 * if (import.meta.main) runMain(spec);
 * ```
 * @module
 */
import { tap } from "rxjs";
import {
  type BackendInfo,
  CancelledError,
  pipeline,
  type RunContext,
  type RunEvent,
  type Stage,
} from "./pipeline.ts";
import { importPlugin, type Plugin, Registry } from "./plugin.ts";
import { MaskSet } from "./masks.ts";
import { Rng } from "./rng.ts";
import { commonFlags, exitOnError, parseFlags, renderEvents } from "./cli.ts";
import type { FlagDefs, FlagValues } from "./flags.ts";
import { partsHelp, type PartsTaken } from "./parts.ts";
import { type BackendName, describeBackend, initBackend, type WebGpuProvider } from "./backend.ts";
import { createRunDir, saveModel, writeReport } from "./io.ts";
import { exportFlags, exportStage } from "./stages/export.ts";

/** Flags every pipeline has, merged with its own. */
export type PipelineFlags<D extends FlagDefs> = FlagValues<D & typeof commonFlags>;

/** A runnable pipeline: flags, plugins and the stages it is made of. */
export interface PipelineSpec<D extends FlagDefs> {
  /** Directory name under runs/, e.g. "relu_taylor". */
  name: string;
  description: string;
  flags: D;
  plugins?: Plugin[];
  /** The target it prunes and the flags that name its parts (the parts section of `--help`). */
  takes?: PartsTaken;
  /**
   * The stages, given the parsed flags and the fresh context (registry and
   * rng ready; no run directory yet). This is the preflight: resolve every
   * part and check options first, then `await ready()` (it starts the
   * backend) before building models to check budgets, layer names and
   * shapes; throw usage errors, before any data is loaded or trained.
   */
  build(
    flags: PipelineFlags<D>,
    ctx: RunContext,
    ready: () => Promise<BackendInfo>,
  ): Stage[] | Promise<Stage[]>;
  /** Closing summary lines (printed, and first in report.md); may add top-level numbers to ctx.report. */
  summarize?(ctx: RunContext, flags: PipelineFlags<D>): string[] | Promise<string[]>;
  /** Save ctx.model to <run>/model at the end; default true. */
  saveModel?: boolean;
}

/** Metric events folded into { stage: { name: value | [{step, value}] } }. */
function collect(into: Record<string, Record<string, unknown>>) {
  return (e: RunEvent) => {
    if (e.type !== "metric") return;
    const s = (into[e.stage] ??= {});
    if (e.step === undefined) s[e.name] = e.value;
    else {((s[e.name] ??= []) as { step: number; value: number }[]).push({
        step: e.step,
        value: e.value,
      });}
  };
}

/** Runs a pipeline with `args`; returns the finished context. Throws user errors for exitOnError. */
export async function runPipeline<D extends FlagDefs>(
  spec: PipelineSpec<D>,
  args: string[] = Deno.args,
): Promise<RunContext> {
  const saves = spec.saveModel !== false;
  const defs = { ...commonFlags, ...(saves ? exportFlags : {}), ...spec.flags } as
    & D
    & typeof commonFlags;
  let help: { text: string; plugins: string[] } | undefined;
  const flags = parseFlags(defs, args, {
    ...spec,
    onHelp: (text, raw) => {
      const list = [raw.plugin ?? []].flat() as string[];
      help = { text, plugins: list.flatMap((p) => p.split(",")).filter((p) => p.trim()) };
    },
  }) as PipelineFlags<D>;
  const common = flags as unknown as {
    backend: string;
    webgpu: WebGpuProvider;
    seed: number;
    out?: string;
    plugin?: string[];
    quiet?: boolean;
    export?: boolean;
  };
  const registry = new Registry(spec.plugins ?? []);
  for (const p of help?.plugins ?? common.plugin ?? []) registry.add(await importPlugin(p.trim()));
  if (help) {
    console.log(help.text + (spec.takes ? `\n${partsHelp(registry, spec.takes)}` : ""));
    Deno.exit(0);
  }
  const ac = new AbortController();
  const ctx: RunContext = {
    masks: new MaskSet(),
    scores: new Map(),
    step: { index: 0, total: 1 },
    signal: ac.signal,
    rng: new Rng(common.seed),
    registry,
    config: flags as Record<string, unknown>,
    state: new Map(),
    report: {},
  };
  // started when build asks (after checking its parts) or after it; announced once the
  // preflight passed, so that a bad flag is one line
  let starting: Promise<BackendInfo> | undefined;
  const ready = () =>
    starting ??= initBackend(common.backend as BackendName, { ...common, quiet: true }).then((b) =>
      ctx.backend = b
    );
  const stages = await spec.build(flags, ctx, ready);
  const backend = await ready();
  if (!common.quiet) console.error(describeBackend(backend));
  ctx.runDir = createRunDir(spec.name, common.out);
  const metrics: Record<string, Record<string, unknown>> = {};
  const onSigint = () => {
    if (ac.signal.aborted) Deno.exit(130);
    console.error("\ncancelling after this batch (Ctrl-C again to quit at once)...");
    ac.abort();
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const started = new Date();
  let status = "completed";
  try {
    await renderEvents(pipeline(...stages)(ctx).pipe(tap(collect(metrics))), {
      quiet: common.quiet,
    });
    if (ac.signal.aborted) status = "cancelled"; // the last stage ended after a Ctrl-C
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
    status = "cancelled";
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  const model = ctx.model;
  if (status === "completed" && model && saves) {
    await saveModel(model, `${ctx.runDir}/model`);
    const quiet = common.quiet;
    if (common.export) await renderEvents(exportStage({ model: () => model }).run(ctx), { quiet });
  }
  const summary = status === "completed" && spec.summarize ? await spec.summarize(ctx, flags) : [];
  const seconds = (Date.now() - started.getTime()) / 1000;
  const report = {
    pipeline: spec.name,
    status,
    started: started.toISOString(),
    seconds,
    backend,
    flags,
    ...ctx.report,
    stages: metrics,
  };
  await writeReport(ctx.runDir, report, markdown(spec.name, report, summary));
  for (const line of summary) console.log(line);
  if (status === "cancelled") {
    const checkpoint = `${ctx.runDir}/checkpoint`;
    let saved = false;
    try {
      saved = Deno.statSync(`${checkpoint}/model.json`).isFile;
    } catch { /* no checkpoint was written */ }
    console.error(
      saved
        ? `cancelled; the last checkpoint is in ${checkpoint}`
        : `cancelled before any checkpoint; the report is in ${ctx.runDir}/report.json`,
    );
    Deno.exit(130);
  }
  console.log(`run files: ${ctx.runDir}`);
  return ctx;
}

/** report.md: summary, flags, backend and per-stage metrics. */
function markdown(name: string, report: Record<string, unknown>, summary: string[]): string {
  const lines = [
    `# ${name} run`,
    "",
    `${report.status}, ${report.started}, ${(report.seconds as number).toFixed(1)} s`,
    "",
  ];
  if (summary.length) lines.push("```", ...summary, "```", "");
  const b = report.backend as { name: string; device: string };
  lines.push(
    `Backend: ${b.name} (${b.device})`,
    "",
    "## Flags",
    "",
    "| flag | value |",
    "|---|---|",
  );
  for (const [k, v] of Object.entries(report.flags as Record<string, unknown>)) {
    lines.push(`| --${k} | ${JSON.stringify(v) ?? ""} |`);
  }
  lines.push("", "## Metrics", "");
  for (
    const [stageName, m] of Object.entries(report.stages as Record<string, Record<string, unknown>>)
  ) {
    lines.push(`### ${stageName}`, "");
    for (const [k, v] of Object.entries(m)) {
      const last = Array.isArray(v) ? (v.at(-1) as { value: number }).value : v;
      lines.push(
        `- ${k}: ${typeof last === "number" ? +last.toPrecision(6) : last}${
          Array.isArray(v) ? ` (last of ${v.length})` : ""
        }`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** Entry point for `if (import.meta.main) runMain(spec)`: user errors become one line and exit 2. */
export function runMain<D extends FlagDefs>(spec: PipelineSpec<D>): Promise<void> {
  return exitOnError(async () => {
    await runPipeline(spec);
  });
}
