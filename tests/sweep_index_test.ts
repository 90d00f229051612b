/**
 * Index-sharded sweeps (Kubernetes Indexed Jobs, SLURM arrays) and the
 * failure handling every executor shares, through the command users run:
 * two shards started together on one shared directory run every point
 * exactly once; a run that crashes once is retried and completes; a point
 * the pipeline refuses is recorded with its error, not retried, and the
 * others finish; a point over its time limit is stopped and recorded.
 */
import { parse as parseYaml } from "yaml";
import config from "../deno.json" with { type: "json" };
import { deepEqual, equal, match, ok } from "./assert.ts";
import { runDeno } from "./subprocess.ts";

const root = new URL("..", import.meta.url).pathname;
const sweepTask = config.tasks.sweep.split(/\s+/).slice(1);
const sweep = (args: string[], env?: Record<string, string>) =>
  runDeno([...sweepTask, ...args], root, { env });

/** The smoke sweep's tiny flags. */
const smokeFlags = async () =>
  (parseYaml(await Deno.readTextFile(`${root}examples/sweeps/smoke.yaml`)) as {
    flags: Record<string, unknown>;
  }).flags;

interface Record_ {
  label: string;
  status: string;
  attempts: number;
  error?: string;
  dir: string;
}

const results = async (dir: string) =>
  (await Deno.readTextFile(`${dir}/results.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l) as Record_
  );

const started = (stderr: string) => [...stderr.matchAll(/^started (\S+) on/gm)].map((m) => m[1]);

Deno.test("sweep index: two shards on one directory run every point once; a crash is retried, a refused point recorded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_sweep_index_" });
  try {
    // a plugin module whose first load crashes the run (exit 1: worth a retry), then loads; a
    // module that throws is a usage error (exit 2), which is not retried
    await Deno.writeTextFile(
      `${dir}/flaky.ts`,
      `const marker = new URL("./flaky.tried", import.meta.url);
try { Deno.statSync(marker); } catch {
  Deno.writeTextFileSync(marker, "");
  console.error("flaky: first load crashes");
  Deno.exit(1);
}
export default { name: "flaky" };
`,
    );
    const spec = {
      pipeline: "relu_taylor",
      flags: await smokeFlags(),
      grid: { seed: [0] },
      points: [
        { global_keep_ratio: 0.2 },
        { global_keep_ratio: 0.05, plugin: `${dir}/flaky.ts` },
        { global_keep_ratio: 0.1, path_t: `${dir}/no_teacher` },
      ],
    };
    await Deno.writeTextFile(`${dir}/s.json`, JSON.stringify(spec));
    const out = `${dir}/out`;
    const args = [`${dir}/s.json`, "--out", out, "--backoff", "1"];
    const [a, b] = await Promise.all([
      sweep([...args, "--shard", "0/2"]),
      // the second as a Kubernetes Indexed Job task sees it: index from the environment
      sweep([...args, "--shards", "2"], { JOB_COMPLETION_INDEX: "1" }),
    ]);
    const labels = [
      "global_keep_ratio=0.2,seed=0",
      `global_keep_ratio=0.05,plugin=${dir}/flaky.ts,seed=0`,
      `global_keep_ratio=0.1,path_t=${dir}/no_teacher,seed=0`,
    ];
    deepEqual(started(a.stderr), [labels[0], labels[2]], a.stderr);
    deepEqual(started(b.stderr), [labels[1]], b.stderr);
    equal(a.code, 1, `shard 0 has the refused point: ${a.stderr}`);
    equal(b.code, 0, b.stderr);
    ok(
      b.stderr.includes(
        `retrying ${labels[1]} in 1 s: exit code 1: flaky: first load crashes`,
      ),
      b.stderr,
    );

    const gathered = await sweep(["--gather", out]);
    equal(gathered.code, 0, gathered.stderr);
    match(gathered.stdout, /3 points: 2 completed, 1 failed, 0 pending/);
    const recs = await results(out);
    deepEqual(recs.map((r) => [r.status, r.attempts]), [["completed", 1], ["completed", 2], [
      "failed",
      1,
    ]]);
    match(recs[2].error!, /^exit code 2: cannot read model file .*no_teacher/);
    const md = await Deno.readTextFile(`${out}/report.md`);
    ok(md.includes(`## Failures\n\n- ${labels[2]}: exit code 2: cannot read model file`), md);
    const log = await Deno.readTextFile(`${out}/${recs[2].dir}/run.log`);
    ok(log.includes("error: cannot read model file"), log);
    const dirs = [...Deno.readDirSync(`${out}/points`)].map((e) => e.name).sort();
    equal(dirs.length, 3, `one directory per point, no attempt left behind: ${dirs}`);
    equal(dirs.filter((d) => d.endsWith(".failed")).length, 1, `${dirs}`);

    // a shard run again skips its completed point
    const again = await sweep([...args, "--shard", "1/2"]);
    match(again.stderr, /1 in this shard; 1 already completed, 0 to run/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sweep local: a point over --timeout is stopped and recorded, not retried", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_sweep_timeout_" });
  try {
    const spec = { pipeline: "relu_taylor", flags: await smokeFlags(), grid: { seed: [7] } };
    await Deno.writeTextFile(`${dir}/s.json`, JSON.stringify(spec));
    const t0 = Date.now();
    const out = await sweep([`${dir}/s.json`, "--out", `${dir}/out`, "--timeout", "2"]);
    equal(out.code, 1, out.stderr);
    ok(Date.now() - t0 < 60_000, "stopped, not run to the end");
    const [r] = await results(`${dir}/out`);
    deepEqual([r.status, r.attempts, r.error], ["failed", 1, "timed out after 2 s"]);
    match(out.stderr, /\[1\/1\] FAILED seed=7: timed out after 2 s/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
