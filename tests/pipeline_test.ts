import { firstValueFrom, lastValueFrom, take, toArray } from "rxjs";
import {
  CancelledError,
  pipeline,
  type PipelineSpec,
  type Plugin,
  progressive,
  Registry,
  type RunEvent,
  runPipeline,
  stage,
  throwIfCancelled,
} from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal, ok, rejects, throws } from "./assert.ts";
import { withTempDir } from "../pipelines/test_harness.ts";

const ctx = (signal?: AbortSignal) => testContext(signal ? { signal } : {});

Deno.test("pipeline runs stages in order, each after the previous completed", async () => {
  const order: string[] = [];
  const s = (name: string, ms: number) =>
    stage(name, async (_c, emit) => {
      order.push(`${name}:start`);
      await new Promise((r) => setTimeout(r, ms));
      emit.log(name);
      order.push(`${name}:end`);
    });
  const events = await lastValueFrom(
    pipeline(s("a", 20), s("b", 1), s("c", 5))(ctx()).pipe(toArray()),
  );
  deepEqual(order, ["a:start", "a:end", "b:start", "b:end", "c:start", "c:end"]);
  deepEqual(events.map((e) => (e as { message: string }).message), ["a", "b", "c"]);
});

Deno.test("progressive repeats its block n times and sets ctx.step before each", async () => {
  const seen: string[] = [];
  const c = ctx();
  const s1 = stage("s1", (cx) => void seen.push(`s1@${cx.step.index}/${cx.step.total}`));
  const s2 = stage("s2", (cx) => void seen.push(`s2@${cx.step.index}/${cx.step.total}`));
  await lastValueFrom(pipeline(progressive(3, s1, s2))(c).pipe(toArray()));
  deepEqual(seen, ["s1@0/3", "s2@0/3", "s1@1/3", "s2@1/3", "s1@2/3", "s2@2/3"]);
});

Deno.test("an error stops the rest of the pipeline", async () => {
  let ran = false;
  const bad = stage("bad", () => {
    throw new Error("boom");
  });
  const after = stage("after", () => void (ran = true));
  await rejects(lastValueFrom(pipeline(bad, after)(ctx())), /boom/);
  equal(ran, false);
});

Deno.test("unsubscribing cancels a stage within one batch", async () => {
  let batches = 0;
  let finished = false;
  const long = stage("long", async (_c, emit, cancel) => {
    try {
      for (let i = 0; i < 1000; i++) {
        throwIfCancelled(cancel);
        batches++;
        emit.progress("batch", i + 1, 1000);
        await new Promise((r) => setTimeout(r, 1));
      }
    } finally {
      finished = true;
    }
  });
  const ev = await firstValueFrom(long.run(ctx()).pipe(take(3), toArray()));
  equal(ev.length, 3);
  await new Promise((r) => setTimeout(r, 20));
  ok(finished, "the stage body ended");
  ok(batches <= 4, `ran ${batches} batches after cancel`);
});

Deno.test("aborting the run signal cancels with CancelledError", async () => {
  const ac = new AbortController();
  let batches = 0;
  const long = stage("long", async (_c, _e, cancel) => {
    for (;;) {
      throwIfCancelled(cancel);
      if (++batches === 5) ac.abort();
      await new Promise((r) => setTimeout(r, 0));
    }
  });
  const events: RunEvent[] = [];
  await rejects(
    lastValueFrom(pipeline(long)(ctx(ac.signal)).pipe(toArray())).then((e) => events.push(...e)),
    (e: unknown) => e instanceof CancelledError,
  );
  equal(batches, 5);
});

Deno.test("registry finds parts by full or short name and lists known names on a miss", () => {
  const scorer = {
    target: "weights" as const,
    description: "x",
    batches: 0,
    start: () => ({
      taps: [],
      scores: () => ({ target: "weights" as const, values: new Map() }),
      dispose() {},
    }),
  };
  const a: Plugin = { name: "a", scorers: { abs: scorer, l2: scorer } };
  const b: Plugin = { name: "b", scorers: { abs: scorer } };
  const reg = new Registry([a, b]);
  equal(reg.scorer("a/abs"), scorer);
  equal(reg.scorer("l2"), scorer);
  throws(() => reg.scorer("abs"), /ambiguous; say one of: a\/abs, b\/abs/);
  throws(() => reg.scorer("nope"), /unknown scorer 'nope'; known: a\/abs, a\/l2, b\/abs/);
  throws(() => reg.pruner("x/y"), /unknown pruner 'x\/y'; known: \(none\)/);
  throws(() => reg.add({ name: "a" }), /already registered/);
  throws(() => reg.plugin("zzz"), /unknown plugin 'zzz'; known: a, b/);
});

Deno.test("report.md prints whole-number metrics exactly, fractions to 6 digits", () =>
  withTempDir(async (dir) => {
    const spec: PipelineSpec<Record<never, never>> = {
      name: "digits",
      description: "metrics of many digits",
      flags: {},
      saveModel: false,
      build: () => [
        stage("load", (_c, emit) => {
          emit.metric("macs", 4629056); // toPrecision(6) would print 4629060
          emit.metric("loss", 0.123456789);
        }),
      ],
    };
    await runPipeline(spec, ["--backend=cpu", "--quiet", `--out=${dir}/run`]);
    const md = await Deno.readTextFile(`${dir}/run/report.md`);
    ok(md.includes("- macs: 4629056\n"), md);
    ok(md.includes("- loss: 0.123457\n"), md);
  }));
