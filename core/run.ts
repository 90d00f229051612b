/**
 * The pipeline runner: what every `pipelines/*.ts` entry point calls. It
 * parses flags (common ones plus the pipeline's), registers plugins (the
 * pipeline's and `--plugin` modules, checked at import; `--help` lists their
 * parts), starts the backend, builds the stages (the preflight: parts,
 * options, budgets, layer names and shapes are checked there, before any
 * data is loaded), makes the run directory (and records the flags in its
 * flags.json, which `--resume` restores), runs the stages with progress
 * rendering, turns Ctrl-C or SIGTERM into a clean cancel (status
 * `cancelled`, exit 130 or 143; the last checkpoint stays), and writes the
 * model, report.json and report.md; a run that fails still writes
 * report.json (status `failed`, the error line).
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
  cancelPoint,
  pipeline,
  type RunContext,
  type RunEvent,
  type Stage,
} from "./pipeline.ts";
import { importPlugin, type Plugin, Registry } from "./plugin.ts";
import { MaskSet } from "./masks.ts";
import { Rng } from "./rng.ts";
import { commonFlags, errorLine, exitOnError, parseFlags, renderEvents } from "./cli.ts";
import type { FlagDefs, FlagValues } from "./flags.ts";
import { partsHelp, type PartsTaken } from "./parts.ts";
import { type BackendName, describeBackend, initBackend, type WebGpuProvider } from "./backend.ts";
import { createRunDir, saveModel, writeFileAtomic, writeReport } from "./io.ts";
import {
  type CheckpointState,
  FLAGS_FILE,
  readCheckpoint,
  readRunFlags,
  type RunRecord,
} from "./checkpoint.ts";
import { UsageError } from "./errors.ts";
import { exportFlags, exportStage } from "./stages/export.ts";

/** Flags every pipeline has, merged with its own. */
export type PipelineFlags<D extends FlagDefs> = FlagValues<D & typeof commonFlags>;

/** A runnable pipeline: flags, plugins and the stages it is made of. */
export interface PipelineSpec<D extends FlagDefs> {
  /** Directory name under runs/, e.g. "relu_taylor". */
  name: string;
  description: string;
  flags: D;
  /** Its own plugins (their parts by short name). */
  plugins?: Plugin[];
  /**
   * Other plugins whose parts it takes too, by full name (or a short name
   * no other plugin has), e.g. a method pipeline: every shipped plugin.
   */
  partsFrom?: Plugin[];
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

/** What {@link parseRunFlags} makes of a command line. */
export interface RunArgs<D extends FlagDefs> {
  /** The parsed flags (empty with `--help`). */
  flags: PipelineFlags<D>;
  /** With `--help`: its text and the `--plugin` modules whose parts it should list. */
  help?: { text: string; plugins: string[] };
  /** Lines to show before the run (e.g. that a resumed run has no flags record). */
  notes: string[];
}

/**
 * The flags a pipeline parses: common ones, the export flags when it saves a
 * model, its own.
 *
 * @example
 * ```ts
 * Object.keys(runFlagDefs(trainTeacher)); // ["backend", ..., "epochs", "resume"]
 * ```
 */
export function runFlagDefs<D extends FlagDefs>(spec: PipelineSpec<D>): D & typeof commonFlags {
  const saves = spec.saveModel !== false;
  return { ...commonFlags, ...(saves ? exportFlags : {}), ...spec.flags } as D & typeof commonFlags;
}

/**
 * Parses a pipeline's command line as {@link runPipeline} does, without
 * running anything: flags, recipe, `--help`. With `--resume DIR` (where the
 * pipeline has the flag) the flags DIR's run recorded come under the
 * command line, which overrides only what it names. Bad input throws the
 * one-line user error {@link runMain} prints.
 *
 * @example
 * ```ts
 * const { flags } = await parseRunFlags(trainTeacher, ["--resume", "runs/train_teacher/x"]);
 * flags.dataset; // the resumed run's dataset
 * ```
 */
export async function parseRunFlags<D extends FlagDefs>(
  spec: PipelineSpec<D>,
  args: string[],
): Promise<RunArgs<D>> {
  const defs = runFlagDefs(spec);
  let help: RunArgs<D>["help"];
  const info = {
    ...spec,
    onHelp: (text: string, raw: Record<string, unknown>) => {
      const list = [raw.plugin ?? []].flat() as string[];
      help = { text, plugins: list.flatMap((p) => p.split(",")).filter((p) => p.trim()) };
    },
  };
  const flags = parseFlags(defs, args, info) as PipelineFlags<D>;
  const resume = (flags as { resume?: unknown }).resume;
  if (help || !Object.hasOwn(defs, "resume") || typeof resume !== "string") {
    return { flags, help, notes: [] };
  }
  const recorded = await readRunFlags(resume);
  if (!recorded) {
    return {
      flags,
      notes: [
        `warning: ${resume} records no flags (no ${FLAGS_FILE} or report.json); ` +
        "the resumed run uses the command line's and the defaults",
      ],
    };
  }
  if (recorded.pipeline !== spec.name) {
    throw new UsageError(
      `--resume ${resume} is a ${recorded.pipeline} run; ${spec.name} resumes its own runs`,
    );
  }
  return { flags: parseFlags(defs, args, info, recorded.flags) as PipelineFlags<D>, notes: [] };
}

/** What the last checkpoint of a cancelled run is, in words (only one that loads is named). */
async function cancelMessage(runDir: string, resumedFrom: string | undefined, resumes: boolean) {
  let state: CheckpointState | undefined;
  try {
    state = (await readCheckpoint(runDir)).state;
  } catch { /* no checkpoint was written, or none whole */ }
  if (state) {
    return `cancelled; the last checkpoint (${state.stage} epoch ${state.epoch}) is in ` +
      `${runDir}/checkpoint${resumes ? ` (--resume ${runDir} starts from it)` : ""}`;
  }
  return `cancelled before any checkpoint${
    resumedFrom ? ` of this run (the one resumed from is still in ${resumedFrom})` : ""
  }; the report is in ${runDir}/report.json`;
}

/** The signals that cancel a run, and its exit code then (SIGTERM: not on Windows). */
const STOP_SIGNALS: [Deno.Signal, number][] = Deno.build.os === "windows"
  ? [["SIGINT", 130]]
  : [["SIGINT", 130], ["SIGTERM", 143]];

/**
 * Runs a pipeline with `args`; returns the finished context. Throws user
 * errors for exitOnError. From the moment the run directory exists, every
 * ending writes report.json: `completed`, `cancelled` (Ctrl-C: exit 130;
 * SIGTERM: 143) or `failed` with `error`, the line the user sees (the error
 * is then rethrown).
 */
export async function runPipeline<D extends FlagDefs>(
  spec: PipelineSpec<D>,
  args: string[] = Deno.args,
): Promise<RunContext> {
  const saves = spec.saveModel !== false;
  const { flags, help, notes } = await parseRunFlags(spec, args);
  const common = flags as unknown as {
    backend: string;
    webgpu: WebGpuProvider;
    seed: number;
    out?: string;
    plugin?: string[];
    quiet?: boolean;
    export?: boolean;
    resume?: string;
  };
  const registry = new Registry(spec.plugins ?? [], spec.partsFrom ?? []);
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
  for (const line of notes) console.error(line);
  if (!common.quiet) console.error(describeBackend(backend));
  const runDir = ctx.runDir = createRunDir(spec.name, common.out);
  const record: RunRecord = { pipeline: spec.name, flags };
  await writeFileAtomic(`${runDir}/${FLAGS_FILE}`, JSON.stringify(record, null, 2) + "\n");
  const metrics: Record<string, Record<string, unknown>> = {};
  // Ctrl-C, or SIGTERM (a timeout, a scheduler): stop at the next batch and write the report;
  // the same signal again quits at once. Exit 128 + the signal's number.
  let exitCode = 130;
  const signals = STOP_SIGNALS.map(([signal, code]) => {
    const on = () => {
      if (ac.signal.aborted) Deno.exit(code);
      exitCode = code;
      const again = signal === "SIGINT" ? "Ctrl-C" : signal;
      console.error(`\ncancelling after this batch (${again} again to quit at once)...`);
      ac.abort();
    };
    Deno.addSignalListener(signal, on);
    return [signal, on] as const;
  });
  const aborted = {
    get cancelled() {
      return ac.signal.aborted;
    },
  };
  const started = new Date();
  let status: "completed" | "cancelled" | "failed" = "completed";
  let failure: unknown, summary: string[] = [];
  try {
    const quiet = common.quiet;
    await renderEvents(pipeline(...stages)(ctx).pipe(tap(collect(metrics))), { quiet });
    await cancelPoint(aborted); // a Ctrl-C during the last stage
    const model = ctx.model;
    if (model && saves) {
      await saveModel(model, `${runDir}/model`);
      if (common.export) {
        await renderEvents(exportStage({ model: () => model }).run(ctx), { quiet });
      }
    }
    if (spec.summarize) summary = await spec.summarize(ctx, flags);
    await cancelPoint(aborted); // one while saving: still a cancelled run, exit 130
  } catch (e) {
    if (e instanceof CancelledError) status = "cancelled";
    else [status, failure] = ["failed", e];
  } finally {
    for (const [signal, on] of signals) Deno.removeSignalListener(signal, on);
  }
  const report = {
    pipeline: spec.name,
    status,
    ...(status === "failed" ? { error: errorLine(failure) } : {}),
    started: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    backend,
    flags,
    ...ctx.report,
    stages: metrics,
  };
  try {
    await writeReport(runDir, report, markdown(spec.name, report, summary));
  } catch (e) {
    if (!failure) throw e; // a failed run's own error is the one to show
  }
  if (failure) throw failure;
  for (const line of summary) console.log(line);
  if (status === "cancelled") {
    console.error(await cancelMessage(runDir, common.resume, Object.hasOwn(spec.flags, "resume")));
    Deno.exit(exitCode);
  }
  console.log(`run files: ${runDir}`);
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
        `- ${k}: ${
          typeof last === "number" && !Number.isInteger(last) ? +last.toPrecision(6) : last
        }${Array.isArray(v) ? ` (last of ${v.length})` : ""}`,
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
