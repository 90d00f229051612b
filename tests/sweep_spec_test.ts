/**
 * Sweep specs: points from a grid and a list, their ids (a hash of the
 * resolved flags), run dir names, checks against the pipeline's own flag
 * definitions, metric paths, shards; and the command's bad input (one line,
 * exit 2, nothing written).
 */
import { UsageError } from "@shears/core";
import {
  checkPath,
  indexExecutor,
  lockDir,
  readPath,
  readSpec,
  resolveSpec,
  type Sweep,
} from "@shears/sweep";
import { parse as parseYaml } from "yaml";
import { deepEqual, equal, match, notEqual, ok, rejects, throws } from "./assert.ts";
import { oneLineError, runDeno } from "./subprocess.ts";
import config from "../deno.json" with { type: "json" };

const resolve = (doc: unknown) => resolveSpec(doc, "spec.yaml", { out: "/tmp/unused" });

Deno.test("sweep spec: a grid crossed with a list of points, labels, dirs and flag arguments", async () => {
  const s = await resolve({
    pipeline: "relu_taylor",
    flags: { dataset: "synthetic", monotone_masks: true },
    grid: { global_keep_ratio: [0.1, 0.05], seed: [0, 1] },
    points: [{ scorer: "taylor" }, { scorer: "random", layer_norm: "mean" }],
  });
  equal(s.points.length, 8);
  deepEqual(s.axes, ["scorer", "layer_norm", "global_keep_ratio", "seed"]);
  deepEqual(s.points.map((p) => p.label).slice(0, 5), [
    "scorer=taylor,global_keep_ratio=0.1,seed=0",
    "scorer=taylor,global_keep_ratio=0.1,seed=1",
    "scorer=taylor,global_keep_ratio=0.05,seed=0",
    "scorer=taylor,global_keep_ratio=0.05,seed=1",
    "scorer=random,layer_norm=mean,global_keep_ratio=0.1,seed=0",
  ]);
  for (const p of s.points) {
    match(p.id, /^[0-9a-f]{12}$/);
    equal(p.dir, `${p.label}-${p.id.slice(0, 8)}`);
    ok(p.args.includes("--monotone_masks") && p.args.includes("--dataset=synthetic"));
  }
  deepEqual(s.points[4].args.slice(-4), [
    "--scorer=random",
    "--layer_norm=mean",
    "--global_keep_ratio=0.1",
    "--seed=0",
  ]);
  equal(new Set(s.points.map((p) => p.id)).size, 8, "distinct ids");
  deepEqual(s.report.average_over, ["seed"]);
  equal(s.report.y, "student_top1");
});

Deno.test("sweep spec: a point's id is its resolved flags: defaults spelled out change nothing, a value does", async () => {
  const base = { pipeline: "magnitude", grid: { seed: [3] } };
  const [a, b, c, d] = await Promise.all([
    resolve(base),
    resolve({ ...base, flags: { p_bern: 1, quiet: true } }), // the default, and output only
    resolve({ ...base, flags: { p_bern: 0.5 } }),
    resolve({ pipeline: "rni", grid: { seed: [3] } }),
  ]);
  equal(a.points[0].id, b.points[0].id);
  equal(a.id, b.id, "the same sweep");
  notEqual(a.points[0].id, c.points[0].id);
  notEqual(a.id, c.id);
  notEqual(a.points[0].id, d.points[0].id, "the pipeline is part of the id");
});

Deno.test("sweep spec: every point is checked against the pipeline's flags, naming the point", async () => {
  const cases: [unknown, RegExp][] = [
    [{ pipeline: "nope" }, /spec\.yaml: unknown pipeline 'nope'; known: .*relu_taylor/],
    [
      { pipeline: "relu_taylor", grid: { global_keep_ratio: [0.1, 1.5] } },
      /point global_keep_ratio=1\.5: --global_keep_ratio must be in \(0, 1\], got 1\.5/,
    ],
    [
      { pipeline: "relu_taylor", points: [{ scorer: "taylor" }, { scroer: "random" }] },
      /point scroer=random: unknown flag --scroer; did you mean --scorer\?/,
    ],
    [{ pipeline: "magnitude", flags: { granularity: "row" } }, /--granularity must be one of/],
    [{ pipeline: "magnitude", flags: { out: "x" } }, /--out is set by the sweep/],
    [{ pipeline: "magnitude", flags: { seed: 1 }, grid: { seed: [1, 2] } }, /both a fixed flag/],
    [{ pipeline: "magnitude", grid: { seed: 1 } }, /grid\.seed must be a non-empty list/],
    [{ pipeline: "magnitude", grid: { seed: [1, 1] } }, /same run/],
    [{ pipeline: "magnitude", grids: {} }, /unknown key 'grids'/],
    [{ pipeline: "magnitude", metrics: { top1: "sweep[x]" } }, /metrics\.top1 must be a JSON/],
    [
      { pipeline: "magnitude", plots: [{ x: "seed", y: "nope" }] },
      /plots\[0\]\.y must be a metric/,
    ],
    [{ pipeline: "magnitude", average_over: ["seed"] }, /average_over must be a list of axes/],
  ];
  for (const [doc, msg] of cases) {
    await rejects(() => resolve(doc), (e: Error) => {
      ok(e instanceof UsageError, `${e}`);
      match(e.message, msg);
      ok(!e.message.includes("\n"), "one line");
      return true;
    });
  }
});

Deno.test("sweep metrics: JSON paths with negative indices and fallbacks", () => {
  const report = { it: [{ macs: 9 }, { macs: 4 }], a: { b: null }, c: 2, r: [] };
  equal(readPath(report, "it[-1].macs"), 4);
  equal(readPath(report, "it[0].macs"), 9);
  equal(readPath(report, "a.b | c"), 2);
  equal(readPath(report, "a.b"), undefined);
  equal(readPath(report, "r[-1].x"), undefined);
  equal(readPath(report, "c.d"), undefined);
  checkPath("results[-1].finetuned_top1 | results[-1].pruned_top1", "m");
  for (const bad of ["", "a..b", "a[1", "[0]", "a b"]) {
    throws(() => checkPath(bad, "m"), UsageError, bad);
  }
});

Deno.test("sweep shards: N shards of a spec cover every point exactly once, round-robin", async () => {
  const s: Sweep = await resolve({ pipeline: "magnitude", grid: { seed: [0, 1, 2, 3, 4, 5, 6] } });
  for (const n of [1, 2, 3, 7, 9]) {
    const shards = Array.from(
      { length: n },
      (_, index) => indexExecutor({ index, shards: n }).select(s, s.points),
    );
    const all = shards.flat().map((p) => p.id);
    deepEqual([...all].sort(), s.points.map((p) => p.id).sort(), `${n} shards`);
    ok(shards.every((sh) => sh.length <= Math.ceil(7 / n)), "balanced");
  }
});

Deno.test("sweep examples: each spec resolves; the Kubernetes Job and SLURM array match smoke.yaml", async () => {
  const dir = new URL("../examples/sweeps/", import.meta.url).pathname;
  const counts = {
    "smoke.yaml": 4,
    "relu_taylor_scorers.yaml": 18,
    "filter_taylor_budgets.yaml": 18,
  };
  for (const [file, n] of Object.entries(counts)) {
    equal((await readSpec(`${dir}${file}`)).points.length, n, file);
  }
  const job = parseYaml(await Deno.readTextFile(`${dir}k8s_indexed_job.yaml`)) as {
    spec: { completions: number; template: { spec: { containers: { command: string[] }[] } } };
  };
  const command = job.spec.template.spec.containers[0].command;
  equal(job.spec.completions, 4);
  ok(
    command.includes("examples/sweeps/smoke.yaml") && command.includes("--shards=4"),
    `${command}`,
  );
  const slurm = await Deno.readTextFile(`${dir}slurm_array.sh`);
  match(slurm, /^#SBATCH --array=0-3$/m);
  match(slurm, /deno task sweep examples\/sweeps\/smoke\.yaml --executor index/);
});

Deno.test("sweep lock: a second producer on one directory is refused; a dead one's lock is taken over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_sweep_lock_" });
  try {
    const lock = lockDir(dir);
    throws(() => lockDir(dir), (e: Error) => {
      ok(e instanceof UsageError);
      match(e.message, new RegExp(`another sweep is running in ${dir} \\(.* pid ${Deno.pid}\\)`));
      return true;
    });
    lock.release();
    // a lock left by a process of this host that has exited
    const child = new Deno.Command("true").spawn();
    await child.status;
    await Deno.writeTextFile(`${dir}/sweep.lock`, `${Deno.hostname()} ${child.pid}\n`);
    lockDir(dir).release();
    deepEqual([...Deno.readDirSync(dir)], [], "released");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The command as a user runs it: bad input is one line and exit 2, before anything is written.
const sweepTask = config.tasks.sweep.split(/\s+/).slice(1);
const sweep = (args: string[]) =>
  runDeno([...sweepTask, ...args], new URL("..", import.meta.url).pathname);

Deno.test("sweep command: bad input is one line, exit 2, nothing written or enqueued", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shears_sweep_cli_" });
  try {
    const spec = `${dir}/s.yaml`;
    const out = `${dir}/out`;
    await Deno.writeTextFile(spec, "pipeline: magnitude\ngrid:\n  p_prune: [0.5, 2]\n");
    match(oneLineError(await sweep([spec, "--out", out])), /point p_prune=2: --p_prune must be/);
    await Deno.writeTextFile(spec, "pipeline: magnitude\ngrid:\n  seed: [0, 1]\n");
    // an unreachable Redis (port 9 on this host: nothing listens there)
    match(
      oneLineError(
        await sweep([spec, "--out", out, "--executor", "queue", "--redis", "redis://127.0.0.1:9"]),
      ),
      /^error: cannot reach Redis at redis:\/\/127\.0\.0\.1:9: /,
    );
    match(
      oneLineError(await sweep([spec, "--redis", "redis://x:1"])),
      /--redis is for --executor queue/,
    );
    match(oneLineError(await sweep([spec, "--executor", "index"])), /needs --shard i\/N/);
    match(
      oneLineError(await sweep([spec, "--shard", "2/2"])),
      /--shard must be i\/N with 0 <= i < N/,
    );
    let entries = [...Deno.readDirSync(dir)].map((e) => e.name);
    deepEqual(entries, ["s.yaml"], "nothing written");
    // a directory holding another sweep
    await Deno.mkdir(out);
    const other = { id: "0123", pipeline: "rni", source: "other.yaml", points: [{}] };
    await Deno.writeTextFile(`${out}/sweep.json`, JSON.stringify(other));
    match(
      oneLineError(await sweep([spec, "--out", out])),
      /holds another sweep \(other\.yaml: rni, 1 points\)/,
    );
    await Deno.remove(`${out}/sweep.json`);
    await Deno.writeTextFile(`${out}/notes.txt`, "mine");
    match(oneLineError(await sweep([spec, "--out", out])), /exists and is not a sweep directory/);
    entries = [...Deno.readDirSync(out)].map((e) => e.name);
    deepEqual(entries, ["notes.txt"], "the directory is left as it was");
    match(
      oneLineError(await sweep(["--gather", dir])),
      /is not a sweep directory \(no sweep\.json\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
