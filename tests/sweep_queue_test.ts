/**
 * The queue executor with the real parts: Debian's redis-server on a free
 * port of 127.0.0.1, the producer and two BullMQ workers as the commands
 * users run (`deno task sweep`, `deno task worker`), and the 4 tiny points
 * of examples/sweeps/smoke.yaml. One worker is killed (SIGKILL) in the
 * middle of a point: the point must be put back in the queue, run again by
 * the other worker and completed; the gathered numbers must equal those of
 * a local run of the same points (the pipelines are seeded and
 * deterministic on one backend); a rerun must skip every point.
 *
 * Needs redis-server (`apt-get install redis-server`; .ci/run installs it); skipped
 * without it, except under CI.
 */
import config from "../deno.json" with { type: "json" };
import { deepEqual, equal, match, ok } from "./assert.ts";
import { runDeno } from "./subprocess.ts";

const root = new URL("..", import.meta.url).pathname;
const spec = "examples/sweeps/smoke.yaml";
const task = (name: "sweep" | "worker") => config.tasks[name].split(/\s+/).slice(1);
const redisServer = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 100 ms until it holds; throws after `ms`. */
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  for (const t0 = Date.now(); !(await cond());) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** redis-server on a free port of 127.0.0.1 (ports are tried until one binds). */
async function startRedis(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  for (let tries = 0; tries < 10; tries++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const log = `${dir}/redis-${port}.log`;
    const child = new Deno.Command(redisServer!, {
      args: ["--port", `${port}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        .concat(["--logfile", log]),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    const ready = () => {
      try {
        return Deno.readTextFileSync(log).includes("Ready to accept connections");
      } catch {
        return false;
      }
    };
    await until(() => exited || ready(), 20_000, "redis-server to start");
    if (!exited) {
      return {
        url: `redis://127.0.0.1:${port}`,
        stop: async () => {
          child.kill("SIGTERM");
          await status;
        },
      };
    }
  }
  throw new Error("no free port for redis-server after 10 tries");
}

/** A `deno task worker` process whose stderr is collected as it comes. */
function startWorker(url: string, queue: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...task("worker"), "--redis", url, "--queue", queue, "--stall", "5"],
    cwd: root,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drained = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) text += dec.decode(chunk, { stream: true });
  })();
  return {
    child,
    name: `${Deno.hostname()}:${child.pid}`,
    stderr: () => text,
    stopped: async () => {
      await child.status;
      await drained;
    },
  };
}

interface Record {
  label: string;
  status: string;
  attempts: number;
  worker: string;
  finished: string;
}

const results = async (dir: string) =>
  (await Deno.readTextFile(`${dir}/results.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l) as Record
  );

interface Report {
  counts: { completed: number };
  groups: { label: string; stats: { [m: string]: unknown } }[];
  points: { label: string; metrics: { [m: string]: number } }[];
}

/** The gathered numbers of a sweep, less the wall times. */
async function numbers(dir: string) {
  const r = JSON.parse(await Deno.readTextFile(`${dir}/report.json`)) as Report;
  const drop = (m: { [k: string]: unknown }) =>
    Object.fromEntries(Object.entries(m).filter(([k]) => k !== "seconds"));
  return {
    groups: r.groups.map((g) => ({ label: g.label, stats: drop(g.stats) })),
    points: r.points.map((p) => ({ label: p.label, metrics: drop(p.metrics) })),
  };
}

Deno.test({
  name:
    "sweep queue: a killed worker's point is retried and completed; results equal a local run; a rerun skips all",
  ignore: !redisServer && !Deno.env.get("CI"), // CI installs it (.ci/run): fail there without it
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "shears_sweep_queue_" });
    const redis = await startRedis(dir);
    const queue = `test-${crypto.randomUUID().slice(0, 8)}`;
    const workers: ReturnType<typeof startWorker>[] = [];
    try {
      const sweep = (args: string[]) => runDeno([...task("sweep"), spec, ...args], root);
      const queueArgs = ["--out", `${dir}/q`, "--executor", "queue", "--redis", redis.url];
      const producer = sweep([...queueArgs, "--queue", queue]);
      const local = sweep(["--out", `${dir}/local`, "--workers", "2"]);
      workers.push(startWorker(redis.url, queue), startWorker(redis.url, queue));
      const [victim, survivor] = workers;
      await until(() => /started /.test(victim.stderr()), 300_000, "the first worker to start");
      const killedLabel = victim.stderr().match(/started (\S+) \(attempt 1\)/)![1];
      await sleep(1000); // mid-point: the pipeline subprocess is running
      victim.child.kill("SIGKILL");
      await victim.stopped();

      const q = await producer;
      equal(q.code, 0, q.stderr);
      match(
        q.stderr,
        new RegExp(`${killedLabel}: its worker stopped answering; back in the queue`),
      );
      const recs = await results(`${dir}/q`);
      equal(recs.length, 4);
      for (const r of recs) equal(r.status, "completed", JSON.stringify(r));
      const killed = recs.find((r) => r.label === killedLabel)!;
      ok(killed.attempts >= 2, `retried: ${JSON.stringify(killed)}`);
      equal(killed.worker, survivor.name, "completed by the other worker");
      const points = [...Deno.readDirSync(`${dir}/q/points`)].map((e) => e.name).sort();
      equal(points.length, 4, `one run dir per point, no attempt left behind: ${points}`);
      for (const r of recs) equal(points.filter((p) => p.startsWith(`${r.label}-`)).length, 1);

      const l = await local;
      equal(l.code, 0, l.stderr);
      const [fromQueue, fromLocal] = [await numbers(`${dir}/q`), await numbers(`${dir}/local`)];
      equal(fromQueue.points.length, 4);
      deepEqual(fromQueue, fromLocal);

      const again = await sweep([...queueArgs, "--queue", queue]);
      equal(again.code, 0, again.stderr);
      match(again.stderr, /4 already completed, 0 to run/);
      deepEqual(
        (await results(`${dir}/q`)).map((r) => r.finished),
        recs.map((r) => r.finished),
        "nothing ran again",
      );
    } finally {
      for (const w of workers) {
        try {
          w.child.kill("SIGTERM");
        } catch { /* already gone */ }
        await w.stopped();
      }
      await redis.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
