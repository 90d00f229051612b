/**
 * Facts about the host for backend reports: the CPU model and core count.
 * @module
 */
import { cpus } from "node:os";

/** "AMD EPYC (2 cores)" where `--allow-sys` lets us ask, else "CPU (n cores)". */
export function cpuName(): string {
  const cores = navigator.hardwareConcurrency ?? 1;
  let model = "CPU";
  try {
    model = cpus()[0]?.model.trim().replace(/\s+/g, " ") || model;
  } catch {
    // No sys permission: the generic name will do.
  }
  return `${model} (${cores} ${cores === 1 ? "core" : "cores"})`;
}

/** First line of an error's message, for one-line user-facing reasons. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0].trim();
}
