/**
 * `--out` on a read-only or full file system: one line and exit 2 before any
 * work; a disk that fills up during training: one line, exit 2, and the
 * previous checkpoint intact. Each run gets a real tmpfs of its own in a
 * private mount namespace (`unshare`); where none can be made, these tests
 * are ignored and say so.
 */
import { readCheckpoint } from "@shears/core";
import { deepEqual, equal } from "./assert.ts";
import { oneLineError, type Output, repoRoot, runDeno, runTaskArgs } from "./subprocess.ts";
import { readReport, testBackend } from "../pipelines/test_harness.ts";

/** An `unshare` command line under which tmpfs can be mounted, or undefined. */
async function mountNamespace(): Promise<string[] | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "shears_ns_probe_" });
  try {
    for (
      const cmd of [["unshare", "--mount", "--user", "--map-root-user"], ["unshare", "--mount"]]
    ) {
      const probe = await new Deno.Command(cmd[0], {
        args: [...cmd.slice(1), "sh", "-c", `mount -t tmpfs -o size=1m tmpfs "${dir}"`],
        stdout: "null",
        stderr: "null",
      }).output().catch(() => undefined);
      if (probe?.success) return cmd;
    }
    return undefined;
  } finally {
    await Deno.remove(dir);
  }
}

const unshare = await mountNamespace();
if (!unshare) console.warn("io_out_dir_test: no mount namespace (unshare); tests ignored");

/**
 * Runs train_teacher with `--out <tmpfs>/run` on a fresh tmpfs of `size`,
 * after `setup` (shell, `$M` the mount point), and copies what the run left
 * in `<tmpfs>/run` to `keep` (the tmpfs goes with the namespace).
 */
async function onTmpfs(size: string, setup: string, args: string[], keep: string): Promise<Output> {
  const m = await Deno.makeTempDir({ prefix: "shears_tmpfs_" });
  try {
    const script = `M="$0"; mount -t tmpfs -o size=${size} tmpfs "$M" && ${setup} || exit 99
"$@"; code=$?; [ -d "$M/run" ] && cp -a "$M/run" "${keep}"; exit $code`;
    return await runDeno(
      runTaskArgs("train_teacher.ts", [
        `--out=${m}/run`,
        "--limit_train=64",
        "--limit_test=32",
        "--batch_size=32",
        `--backend=${testBackend("wasm")}`,
        "--quiet",
        ...args,
      ]),
      repoRoot,
      { wrapper: [...unshare!, "sh", "-c", script, m] },
    );
  } finally {
    await Deno.remove(m);
  }
}

function test(name: string, fn: (dir: string) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !unshare,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "shears_outdir_" });
      try {
        await fn(dir);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

test("--out on a read-only file system: one line, exit 2, before any work", async (dir) => {
  const out = await onTmpfs("16m", `mkdir "$M/run" && mount -o remount,ro "$M"`, [], `${dir}/kept`);
  equal(
    oneLineError(out).replace(/\/tmp\/shears_tmpfs_\w+/, "M"),
    "error: --out M/run is not writable: read-only file system",
  );
});

test("--out on a full file system: one line, exit 2, and no run dir left", async (dir) => {
  const out = await onTmpfs("1m", "true", [], `${dir}/kept`);
  equal(
    oneLineError(out).replace(/\/tmp\/shears_tmpfs_\w+/, "M"),
    "error: --out M/run: only 1 MiB free on its file system; a run needs at least 8 MiB",
  );
  equal(await Deno.stat(`${dir}/kept`).then(() => true, () => false), false);
});

test("a disk that fills up at the 2nd checkpoint: one line, exit 2, epoch 1's checkpoint intact", async (dir) => {
  // lenet5 at width 5: 6.1 MB of weights; 9 MiB of disk holds one checkpoint, not two
  const out = await onTmpfs("9m", "true", ["--epochs=3", "--width=5"], `${dir}/kept`);
  const line = oneLineError(out);
  equal(
    line.replace(/\/tmp\/shears_tmpfs_\w+/, "M"),
    "error: cannot write M/run/checkpoint: no space left on the device",
  );
  deepEqual(
    [...Deno.readDirSync(`${dir}/kept`)].map((e) => e.name).sort(),
    ["checkpoint", "flags.json", "report.json", "report.md"],
    "no leftovers; the failed run's report (written once the partial checkpoint was removed)",
  );
  const report = await readReport<{ status: string; error: string }>(`${dir}/kept`);
  deepEqual([report.status, `error: ${report.error}`], ["failed", line]);
  deepEqual((await readCheckpoint(`${dir}/kept`)).state, { stage: "finetune", epoch: 1 });
});
