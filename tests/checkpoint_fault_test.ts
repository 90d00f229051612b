/**
 * kill -9 during a checkpoint write, at each step of the directory swap
 * (SHEARS_FAULT pauses train_teacher there; core/fault.ts): the last complete
 * checkpoint loads, with files that belong together, the leftovers are
 * cleaned, and `--resume` continues from it.
 */
import { loadModel, readCheckpoint, tf } from "@shears/core";
import { deepEqual, equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { repoRoot, runTaskArgs } from "./subprocess.ts";
import { readReport, runCli, testBackend } from "../pipelines/test_harness.ts";

await useTestBackend();

const small = [
  "--limit_train=64",
  "--limit_test=32",
  "--batch_size=32",
  `--backend=${testBackend("wasm")}`,
  "--quiet",
];

/**
 * Runs train_teacher with `SHEARS_FAULT=fault` until it pauses there, then
 * kills it with SIGKILL; returns what it printed.
 */
async function killAt(fault: string, args: string[]): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: runTaskArgs("train_teacher.ts", args),
    cwd: repoRoot,
    env: { SHEARS_FAULT: fault },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("fault: paused at")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  child.kill("SIGKILL");
  const status = await child.status;
  await reader.cancel();
  ok(text.includes(`fault: paused at ${fault.replace("@", " (#")})`), `no pause:\n${text}`);
  equal(status.signal, "SIGKILL");
  return text;
}

const hidden = (dir: string) =>
  [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(".")).sort();

/**
 * Kills during the 2nd checkpoint write (epochs 1 and 2 of 3): the step (a
 * count of the times the step is reached; the first write sets nothing
 * aside), whether `checkpoint/` is there, the kinds of leftovers, the epoch
 * that loads.
 */
const cases = [
  { fault: "filled@2", checkpoint: true, leftovers: ["tmp"], epoch: 1 },
  { fault: "aside@1", checkpoint: false, leftovers: ["old", "tmp"], epoch: 1 },
  { fault: "swapped@2", checkpoint: true, leftovers: ["old"], epoch: 2 },
];

Deno.test("kill -9 at each step of a checkpoint write leaves a checkpoint that loads; resume continues", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "shears_kill_" });
  try {
    for (const c of cases) {
      const point = c.fault.split("@")[0];
      await t.step(`killed at ${point}: epoch ${c.epoch} loads`, async () => {
        const run = `${dir}/${point}`;
        await killAt(`checkpoint:${c.fault}`, ["--epochs=3", `--out=${run}`, ...small]);
        // the state the kill left: proves the pause was where it says
        equal(await Deno.stat(`${run}/checkpoint`).then(() => true, () => false), c.checkpoint);
        const kinds = hidden(run).map((n) =>
          n.match(/^\.checkpoint\.\d+-[0-9a-f]{8}\.(\w+)$/)?.[1]
        );
        deepEqual(kinds.sort(), c.leftovers, `leftovers: ${hidden(run)}`);
        // a plain loadModel (what relu_taylor's --resume calls) finds a checkpoint too
        const plain = await loadModel(`${run}/checkpoint`);
        const { dir: ckpt, state } = await readCheckpoint(run); // digests checked
        deepEqual(state, { stage: "finetune", epoch: c.epoch });
        deepEqual(hidden(run), [], "leftovers cleaned");
        const model = await loadModel(ckpt);
        const x = tf.zeros([2, 28, 28, 1]);
        const [a, b] = [plain, model].map((m) => m.predict(x) as tf.Tensor);
        deepEqual(await a.data(), await b.data());
        tf.dispose([x, a, b]);
        plain.dispose();
        model.dispose();
      });
    }
    await t.step("--resume from the checkpoint put back after the kill at aside", async () => {
      const out = await runCli("train_teacher.ts", [
        `--resume=${dir}/aside`,
        "--epochs=3",
        `--out=${dir}/resumed`,
        ...small,
      ]);
      equal(out.code, 0, out.stderr);
      const report = await readReport<
        { stages: { finetune: { train_loss: { step: number }[] } } }
      >(`${dir}/resumed`);
      deepEqual(report.stages.finetune.train_loss.map((p) => p.step), [2, 3]);
      deepEqual((await readCheckpoint(`${dir}/resumed`)).state, { stage: "finetune", epoch: 3 });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
