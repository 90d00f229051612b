/**
 * The command line every pipeline shares: typed flags with ranges and
 * choices (node:util parseArgs, strict), recipe files (`--config x.yaml`
 * supplies defaults; the command line wins), generated `--help`, one-line
 * user errors with exit code 2, and progress rendering of a run's events.
 *
 * @example
 * ```ts
 * const flags = {
 *   ...commonFlags,
 *   global_keep_ratio: { type: "number", default: 0.5, min: 0, max: 1, minExclusive: true, help: "..." },
 * } satisfies FlagDefs;
 * await exitOnError(async () => {
 *   const f = parseFlags(flags, Deno.args, { name: "magnitude", description: "DWP pruning" });
 *   f.global_keep_ratio; // number
 * });
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import type { Observable } from "rxjs";
import type { ProgressEvent, RunEvent } from "./pipeline.ts";
import { isUserFacing, markUserFacing, UsageError } from "./errors.ts";
import { BackendError, backendNames, DawnError, webgpuProviders } from "./backend.ts";
import { coerceFlag, type FlagDefs, flagLines, type FlagValues } from "./flags.ts";

export { UsageError };

// Core's own user-facing errors.
markUserFacing(BackendError);
markUserFacing(DawnError);

/** Flags every pipeline has. */
export const commonFlags = {
  backend: {
    type: "string",
    default: "auto",
    choices: backendNames,
    help: "compute backend (auto tries tensorflow, webgpu, wasm, cpu in that order)",
  },
  webgpu: {
    type: "string",
    default: "auto",
    choices: webgpuProviders,
    help: "WebGPU provider: dawn (npm webgpu), deno (built-in), auto (Dawn on a GPU, else Deno's)",
  },
  seed: { type: "int", default: 0, help: "random seed (data order, augmentation, init)" },
  out: { type: "string", help: "run directory (default runs/<pipeline>/<timestamp>)" },
  config: {
    type: "string",
    help: "recipe file (.yaml or .json) of flag values; the command line wins",
  },
  plugin: {
    type: "strings",
    help: "extra plugin modules to load (paths or URLs, comma-separated)",
  },
  opt: {
    type: "entries",
    help: "a part's option, part.key=value (repeatable; --help lists each part's options)",
  },
  quiet: { type: "boolean", default: false, help: "print only warnings, errors and the summary" },
} satisfies FlagDefs;

/** Flag values from a recipe file: a YAML or JSON mapping of flag names to values. */
function readConfig(path: string, defs: FlagDefs): Record<string, unknown> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new UsageError(`--config ${path}: ${why}`);
  }
  let doc: unknown;
  try {
    doc = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`--config ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`--config ${path} must be a mapping of flag names to values`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(doc)) {
    const name = k.replace(/^--/, "");
    if (name === "config" || name === "help" || !Object.hasOwn(defs, name)) {
      throw new UsageError(
        `--config ${path}: unknown flag '${k}'; known: ${Object.keys(defs).join(", ")}`,
      );
    }
    out[name] = raw;
  }
  return out;
}

/** Closest known flag name (edit distance <= 2), for "did you mean". */
function closest(name: string, known: string[]): string | undefined {
  const dist = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0]++;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return row[b.length];
  };
  let best: string | undefined, bestD = 3;
  for (const k of known) {
    const dd = dist(name, k);
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  return best;
}

/** parseArgs errors as one-line usage errors. */
function parseError(e: Error & { code?: string }, known: string[]): UsageError {
  const msg = e.message.split("\n")[0];
  const opt = msg.match(/'(-[^' ]*)/)?.[1] ?? "";
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const hint = closest(opt.replace(/^-+/, "").split("=")[0], known);
      return new UsageError(
        `unknown flag ${opt}${hint ? `; did you mean --${hint}?` : ""} (--help lists the flags)`,
      );
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(
        `unexpected argument ${msg.match(/'([^']*)'/)?.[1]}; flags look like --name value`,
      );
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (/does not take an argument/.test(msg)) {
        return new UsageError(
          `${opt} is a switch and takes no value (use ${opt} or --no-${opt.slice(2)})`,
        );
      }
      return new UsageError(`${opt} needs a value`);
    default:
      return new UsageError(msg);
  }
}

/** The generated `--help` text: usage, description and every flag with type, default and range. */
export function helpText(defs: FlagDefs, info: { name: string; description: string }): string {
  const all: FlagDefs = { ...defs, help: { type: "boolean", help: "print this help and exit" } };
  if (!Object.hasOwn(defs, "config")) all.config = commonFlags.config;
  return [
    `usage: ${info.name} [flags]`,
    "",
    info.description,
    "",
    "flags:",
    ...flagLines(all, "--", "  "),
    "",
    "Booleans: --name or --no-name. Negative numbers: --name=-1.",
  ].join("\n");
}

/** `--flag -1` -> `--flag=-1` for value flags, which strict parseArgs would call ambiguous. */
function joinNegativeValues(args: string[], defs: FlagDefs): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    const next = args[i + 1];
    if (
      name && Object.hasOwn(defs, name) && defs[name].type !== "boolean" && next !== undefined &&
      /^-\d|^-\.\d/.test(next)
    ) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/** What {@link parseFlags} says in `--help`, and what it does then. */
export interface HelpInfo {
  name: string;
  description: string;
  /**
   * Called with the help text and the raw parsed values instead of printing
   * it and exiting (parseFlags then returns no values): a caller that adds
   * to the help (the parts of loaded plugins) prints it itself.
   */
  onHelp?: (text: string, raw: Record<string, unknown>) => void;
}

/**
 * Parses `args` against `defs`. Precedence: command line, then the `--config`
 * recipe file, then `recorded` (a resumed run's flags), then each flag's
 * default (an `entries` flag merges them, the command line winning key by
 * key). `--help` prints {@link helpText} and
 * exits 0 (or calls `info.onHelp`). Every bad input throws a {@link UsageError} with one line, e.g.
 * "--global_keep_ratio must be in (0, 1], got 1.5".
 *
 * @example
 * ```ts
 * const f = parseFlags({ epochs: { type: "int", default: 5, min: 1, help: "epochs" } },
 *   ["--epochs", "3"], { name: "train", description: "Train a model." });
 * f.epochs; // 3
 * ```
 */
export function parseFlags<D extends FlagDefs>(
  defs: D,
  args: string[],
  info: HelpInfo,
  recorded: Record<string, unknown> = {},
): FlagValues<D> & { config?: string } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    help: { type: "boolean" },
    config: { type: "string" },
  };
  for (const [name, d] of Object.entries(defs)) {
    options[name] = d.type === "entries"
      ? { type: "string", multiple: true }
      : { type: d.type === "boolean" ? "boolean" : "string" };
  }
  let parsed: Record<string, string | string[] | boolean | undefined>;
  try {
    parsed = parseArgs(
      {
        args: joinNegativeValues(args, defs),
        options,
        strict: true,
        allowPositionals: false,
        allowNegative: true,
      } as Parameters<typeof parseArgs>[0],
    ).values as Record<string, string | string[] | boolean | undefined>;
  } catch (e) {
    throw parseError(e as Error, Object.keys(defs));
  }
  if (parsed.help) {
    const text = helpText(defs, info);
    if (!info.onHelp) {
      console.log(text);
      Deno.exit(0);
    }
    info.onHelp(text, parsed);
    return {} as FlagValues<D> & { config?: string };
  }
  const config = parsed.config as string | undefined;
  const fromFile = config ? readConfig(config, defs) : {};
  const out: Record<string, unknown> = {};
  const layers = [recorded, fromFile, parsed as Record<string, unknown>]; // lowest first
  for (const [name, d] of Object.entries(defs)) {
    const given = layers.map((l) => l[name]).filter((v) => v !== undefined);
    if (d.type === "entries" && given.length) {
      // the recorded entries, a recipe's, then the command line's (which win key by key)
      out[name] = Object.assign({}, ...given.map((v) => coerceFlag(`--${name}`, d, v) as object));
    } else if (given.length) out[name] = coerceFlag(`--${name}`, d, given.at(-1));
    else if (d.default !== undefined) out[name] = d.default;
    else if (d.type === "boolean") out[name] = false;
  }
  for (const [name, d] of Object.entries(defs)) {
    const given = (n: string) => layers.some((l) => l[n] !== undefined);
    const other = d.excludes?.find((x) => given(name) && given(x));
    if (other) throw new UsageError(`--${name} and --${other} are alternatives; pass one`);
  }
  if (config !== undefined) out.config = config;
  return out as FlagValues<D> & { config?: string };
}

/**
 * Runs `main`. A user-facing error (see core/errors.ts: {@link UsageError},
 * or an `...Error` with `userFacing = true`) prints `error: <message>` as one
 * line on stderr and exits 2; any other error prints its stack and exits 1.
 *
 * @example
 * ```ts
 * if (import.meta.main) await exitOnError(main);
 * ```
 */
export async function exitOnError(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (isUserFacing(e)) {
      console.error(`error: ${errorLine(e)}`);
      Deno.exit(2);
    }
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    Deno.exit(1);
  }
}

/**
 * The line {@link exitOnError} prints for `e` after `error: ` (the first
 * line of its message), and what a failed run's report.json records.
 *
 * @example
 * ```ts
 * errorLine(new UsageError("--epochs must be >= 1, got 0")); // "--epochs must be >= 1, got 0"
 * ```
 */
export function errorLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0];
}

/** How {@link renderEvents} writes; tests pass their own. */
export interface RenderOptions {
  /** Redraw a progress bar in place (default: stderr is a terminal). */
  tty?: boolean;
  /** Show only warnings. */
  quiet?: boolean;
  /** Where text goes (default: stderr). */
  write?: (text: string) => void;
  /** Terminal width for bars (default: the console's, or 100). */
  columns?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m
    ? `${m}m${String(sec).padStart(2, "0")}s`
    : `${sec}s`;
}

function formatValues(values?: Record<string, number>): string {
  if (!values) return "";
  return Object.entries(values)
    .map(([k, v]) =>
      `${k} ${
        Number.isInteger(v)
          ? v
          : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5
          ? v.toFixed(4)
          : v.toPrecision(3)
      }`
    )
    .join("  ");
}

function consoleColumns(): number {
  try {
    return Deno.stderr.isTerminal() ? Deno.consoleSize().columns : 100;
  } catch {
    return 100;
  }
}

/** Time and position of a progress series, for its ETA and throttling. */
interface Track {
  key: string;
  t0: number;
  c0: number;
  lastPrint: number;
  lastBucket: number;
}

/**
 * Shows a run's events and resolves when the observable completes (rejects
 * on its error). On a TTY, progress is one bar redrawn in place (stage,
 * label, bar, current/total, values such as loss and accuracy, ETA) with log
 * lines printed above it. Elsewhere, progress is a plain line at most once
 * per 10% or per 15 s of a series (and at its end). Logs and artifacts
 * (except checkpoints) print as lines; metrics are left to the report.
 * Everything goes to stderr, so stdout carries only results.
 *
 * @example
 * ```ts
 * await renderEvents(pipeline(load, evaluate())(ctx), { quiet: flags.quiet });
 * ```
 */
export function renderEvents(
  events: Observable<RunEvent>,
  opts: RenderOptions = {},
): Promise<void> {
  const enc = new TextEncoder();
  const write = opts.write ?? ((s: string) => Deno.stderr.writeSync(enc.encode(s)));
  const tty = opts.tty ?? Deno.stderr.isTerminal();
  const now = opts.now ?? Date.now;
  let track: Track | undefined;
  let barShown = false;
  let lastBar = "";

  const clearBar = () => {
    if (barShown) write("\r\x1b[2K");
    barShown = false;
  };
  const line = (text: string) => {
    clearBar();
    write(text + "\n");
    if (tty && lastBar) {
      write(lastBar);
      barShown = true;
    }
  };
  const progress = (e: ProgressEvent) => {
    const key = `${e.stage}\u0000${e.label}\u0000${e.total}`;
    const t = now();
    if (!track || track.key !== key || e.current < track.c0) {
      track = { key, t0: t, c0: e.current, lastPrint: -Infinity, lastBucket: -1 };
    }
    const done = e.total > 0 ? Math.min(1, e.current / e.total) : 0;
    const rate = (e.current - track.c0) / Math.max(1e-9, t - track.t0);
    const eta = e.current >= e.total
      ? ""
      : rate > 0
      ? `ETA ${formatDuration((e.total - e.current) / rate / 1000)}`
      : "";
    const vals = formatValues(e.values);
    if (tty) {
      const head = `${e.stage}: ${e.label} `;
      const tail = ` ${e.current}/${e.total}${vals ? `  ${vals}` : ""}${eta ? `  ${eta}` : ""}`;
      const cols = opts.columns ?? consoleColumns();
      const barW = Math.max(10, Math.min(30, cols - head.length - tail.length - 3));
      const fill = Math.round(done * barW);
      const bar = `[${"#".repeat(fill)}${"-".repeat(barW - fill)}]`;
      lastBar = `${head}${bar}${tail}`.slice(0, cols - 1);
      clearBar();
      write(lastBar);
      barShown = true;
      if (e.current >= e.total) {
        write("\n");
        barShown = false;
        lastBar = "";
      }
      return;
    }
    const bucket = Math.floor(done * 10);
    if (bucket > track.lastBucket || t - track.lastPrint >= 15_000 || e.current >= e.total) {
      track.lastBucket = bucket;
      track.lastPrint = t;
      const pct = `${Math.round(done * 100)}%`;
      write(
        `${e.stage}: ${e.label} ${e.current}/${e.total} (${pct})${vals ? `  ${vals}` : ""}${
          eta ? `  ${eta}` : ""
        }\n`,
      );
    }
  };

  return new Promise<void>((resolve, reject) => {
    events.subscribe({
      next: (e) => {
        if (e.type === "log") {
          if (!opts.quiet || e.level === "warn") {
            line(`${e.stage}: ${e.level === "warn" ? "warning: " : ""}${e.message}`);
          }
        } else if (opts.quiet) return;
        else if (e.type === "progress") progress(e);
        else if (e.type === "artifact" && e.kind !== "checkpoint") {
          line(`${e.stage}: wrote ${e.kind} ${e.path}`);
        }
      },
      error: (err) => {
        if (barShown) write("\n");
        reject(err);
      },
      complete: () => {
        if (barShown) write("\n");
        resolve();
      },
    });
  });
}
