/**
 * Fault injection for tests of crash safety: `SHEARS_FAULT=<artifact>:<point>[@<n>]`
 * makes the process stop dead at the n-th time (default 1st) it reaches
 * `point` while writing `artifact` (a directory name such as `checkpoint`,
 * `model`, `export`). There it prints one line, `fault: paused at
 * <artifact>:<point> (#n)`, to stderr and waits forever, so a test can
 * `kill -9` it in exactly that state. Without the variable (or without
 * permission to read it) every point is a no-op.
 *
 * The points of a directory write ({@link writeDirAtomic} in io.ts), in order:
 * `filled` (new version complete in its temp dir, old one untouched),
 * `aside` (old version renamed aside, new one not yet in place),
 * `swapped` (new version in place, old one not yet removed).
 *
 * @example
 * ```sh
 * SHEARS_FAULT=checkpoint:aside@2 deno task run pipelines/train_teacher.ts --epochs 3
 * ```
 * @module
 */

function faultSpec(): { artifact: string; point: string; n: number } | undefined {
  const env = { name: "env", variable: "SHEARS_FAULT" } as const;
  if (Deno.permissions.querySync(env).state !== "granted") return undefined; // never prompt
  const v = Deno.env.get("SHEARS_FAULT");
  const m = v?.match(/^([^:@]+):([^:@]+)(?:@(\d+))?$/);
  return m ? { artifact: m[1], point: m[2], n: Number(m[3] ?? 1) } : undefined;
}

const reached = new Map<string, number>();

/**
 * A named point in a write; pauses forever here when `SHEARS_FAULT` names it.
 *
 * @example
 * ```ts
 * await faultPoint("checkpoint", "aside");
 * ```
 */
export async function faultPoint(artifact: string, point: string): Promise<void> {
  const spec = faultSpec();
  if (!spec || spec.artifact !== artifact || spec.point !== point) return;
  const key = `${artifact}:${point}`;
  const n = (reached.get(key) ?? 0) + 1;
  reached.set(key, n);
  if (n !== spec.n) return;
  console.error(`fault: paused at ${key} (#${n})`);
  await new Promise(() => setInterval(() => {}, 60_000));
}
