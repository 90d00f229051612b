/**
 * The pipelines a sweep can run, found by name among the specs that
 * `@shears/pipelines` exports (so a new pipeline needs no edit here), with
 * the flag definitions every point is checked against.
 *
 * @example
 * ```ts
 * const defs = pipelineFlags("relu_taylor"); // common flags + the pipeline's own
 * ```
 * @module
 */
import { commonFlags, type FlagDefs, type PipelineSpec, UsageError } from "@shears/core";
import * as exported from "@shears/pipelines";
import { repoRoot } from "./command.ts";

function isSpec(v: unknown): v is PipelineSpec<FlagDefs> {
  const s = v as PipelineSpec<FlagDefs> | null;
  return typeof s === "object" && s !== null && typeof s.name === "string" &&
    typeof s.flags === "object" && typeof s.build === "function";
}

/** Every runnable pipeline spec by name (those with an entry point `pipelines/<name>.ts`). */
export function pipelineSpecs(): Map<string, PipelineSpec<FlagDefs>> {
  const specs = new Map<string, PipelineSpec<FlagDefs>>();
  for (const v of Object.values(exported)) {
    if (isSpec(v) && entryExists(v.name)) specs.set(v.name, v);
  }
  return specs;
}

function entryExists(name: string): boolean {
  try {
    return Deno.statSync(`${repoRoot}pipelines/${name}.ts`).isFile;
  } catch {
    return false;
  }
}

/**
 * The spec of pipeline `name`, or a usage error listing the known ones.
 *
 * @example
 * ```ts
 * pipelineSpec("relu_taylor").description;
 * ```
 */
export function pipelineSpec(name: string): PipelineSpec<FlagDefs> {
  const specs = pipelineSpecs();
  const spec = specs.get(name);
  if (!spec) {
    throw new UsageError(`unknown pipeline '${name}'; known: ${[...specs.keys()].join(", ")}`);
  }
  return spec;
}

/**
 * All flags pipeline `name` accepts: the common ones and its own, as its
 * runner merges them.
 *
 * @example
 * ```ts
 * "global_keep_ratio" in pipelineFlags("relu_taylor"); // true
 * ```
 */
export function pipelineFlags(name: string): FlagDefs {
  return { ...commonFlags, ...pipelineSpec(name).flags };
}
