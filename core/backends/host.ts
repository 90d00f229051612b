/**
 * Facts about the host for backend reports: the CPU model and core count.
 * @module
 */

/** "Intel(R) Xeon(R) ... (2 cores)" from /proc/cpuinfo where readable, else "CPU (n cores)". */
export function cpuName(): string {
  const cores = navigator.hardwareConcurrency ?? 1;
  let model = "CPU";
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    const m = text.match(/^model name\s*:\s*(.+)$/m);
    if (m) model = m[1].trim().replace(/\s+/g, " ");
  } catch {
    // Not Linux or no read permission: the generic name will do.
  }
  return `${model} (${cores} ${cores === 1 ? "core" : "cores"})`;
}

/** First line of an error's message, for one-line user-facing reasons. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0].trim();
}
