/**
 * File helpers for loaders: every failure becomes a one-line
 * {@link DatasetError} naming the path and the expected format.
 * @module
 */
import { DatasetError } from "./errors.ts";

/** Reads a whole file; `expected` describes what should be there (for the error). */
export async function readBytes(path: string, expected: string): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new DatasetError(`cannot read ${path} (${reason(e)}); expected ${expected}`);
  }
}

/** Gunzips `bytes` read from `path`. */
export async function gunzip(
  bytes: Uint8Array<ArrayBuffer>,
  path: string,
  expected: string,
): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new DatasetError(`${path} is not a valid gzip file (${reason(e)}); expected ${expected}`);
  }
}

/** Whether `path` exists (file or directory). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Names in a directory, sorted, keeping only directories or only files. */
export async function listDir(
  path: string,
  kind: "dirs" | "files",
  expected: string,
): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) {
      if (kind === "dirs" ? e.isDirectory : e.isFile) names.push(e.name);
    }
  } catch (e) {
    throw new DatasetError(`cannot list ${path} (${reason(e)}); expected ${expected}`);
  }
  return names.sort();
}

/** `dir/sub` when it holds `marker` (the archive's own folder), else `dir`. */
export async function datasetRoot(dir: string, sub: string, marker: string): Promise<string> {
  return (await exists(`${dir}/${sub}/${marker}`)) ? `${dir}/${sub}` : dir;
}

/** Throws unless every label is an integer in [0, numClasses). */
export function checkLabels(labels: Int32Array, numClasses: number, where: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= numClasses) {
      throw new DatasetError(
        `${where}: label ${labels[i]} of example ${i} is outside 0..${numClasses - 1}`,
      );
    }
  }
}

function reason(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "not found";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  return e instanceof Error ? e.message.split("\n")[0] : String(e);
}
