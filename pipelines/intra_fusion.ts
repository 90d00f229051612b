/**
 * Intra-Fusion vs. default pruning, without fine-tuning: BN is folded into
 * the convs, channel importance is scored once (`--scorer`: l1, taylor, or
 * any channels scorer of a registered plugin), then for every (group,
 * sparsity) the folded model is pruned twice — by the baseline pruner
 * (`--baseline`, default: drop the unkept channels) and by the method's
 * (`--pruner`, default: fuse all channels into the kept ones by optimal
 * transport) — and both are evaluated on the test split. Groups are
 * numbered from the output: 0 is the prunable group nearest the classifier.
 * Target: channels.
 *
 * The models of one point are saved (`--save group,sparsity`, default the
 * last point): `model/` the fused one, `model_default/` the baseline's.
 * With no flags it trains a narrow VGG-11-BN (inputs zero-padded 28 -> 32
 * inside the model) on the embedded mnist data for a few epochs first.
 *
 * @example
 * ```sh
 * deno task run pipelines/intra_fusion.ts
 * deno task run pipelines/intra_fusion.ts --path runs/train_teacher/<ts>/model --dataset fashion-mnist \
 *   --group_idxs 1,2,3 --sparsities 0.3,0.5,0.7 --save 2,0.5
 * ```
 * @module
 */
import {
  chart,
  evaluate,
  type Evaluation,
  type FlagDefs,
  grid,
  mask,
  PartChooser,
  type PipelineSpec,
  prunableGroups,
  type PruneRecord,
  record,
  reportRows,
  type RunContext,
  runMain,
  save,
  score,
  sweep,
  transform,
  UsageError,
} from "@shears/core";
import intraFusion from "@shears/intra_fusion";
import * as common from "./common.ts";

const model: common.ModelFlagDefs = common.modelFlags("vgg11_bn", 0.125);
const fraction = { type: "numbers", min: 0, max: 1, maxExclusive: true } as const;

/** Flags of the intra_fusion pipeline. */
export const intraFusionFlags = {
  ...common.dataFlags,
  ...model,
  ...common.channelFlags,
  pad: { ...common.padFlag, help: "zero-pad images in front of a built model (28 -> 32)" },
  group_idxs: { type: "numbers", default: [0, 1, 2], min: 0, help: "0 = nearest the output" },
  sparsities: { ...fraction, default: [0.3, 0.5, 0.7], help: "fractions of a group to remove" },
  scorer: { type: "string", default: "l1", help: "channel importance: l1 | taylor | plugin/name" },
  pruner: { type: "string", default: "fusion", help: "the method's channels pruner" },
  baseline: { type: "string", default: "default", help: "the baseline's channels pruner" },
  merge: { type: "string", default: "sum", choices: ["sum", "average"], help: "fused neurons" },
  marginals: { type: "string", default: "uniform", choices: ["uniform", "importance"], help: "OT" },
  solver: { type: "string", default: "emd", choices: ["emd", "sinkhorn"], help: "OT solver" },
  include_eps: { type: "boolean", default: false, help: "put BN's epsilon into the fold" },
  save: { type: "numbers", help: "group,sparsity whose models are saved (default: the last)" },
  epochs: { type: "int", default: 3, min: 1, help: "epochs of the pretraining (no --path only)" },
  eval_limit: { type: "int", min: 1, help: "evaluate on at most this many test examples" },
} satisfies FlagDefs;

/** One (group, sparsity) measurement. */
export interface FusionResult {
  group: number;
  group_id: string;
  channels: number;
  kept: number;
  sparsity: number;
  default_top1: number;
  fusion_top1: number;
}

const pct = common.pct;

/** The intra_fusion pipeline. */
export const intraFusionPipeline: PipelineSpec<typeof intraFusionFlags> = {
  name: "intra_fusion",
  description:
    "Intra-Fusion vs default pruning per (group, sparsity), no fine-tuning; table, report, SVG plot.",
  flags: intraFusionFlags,
  plugins: [intraFusion],
  takes: { target: "channels", flags: common.partFlags({ pruners: "--pruner, --baseline" }) },
  async build(f, ctx, ready) {
    const parts = new PartChooser(ctx.registry, f.opt);
    const opts = {
      merge: f.merge,
      marginals: f.marginals,
      solver: f.solver,
      include_eps: f.include_eps,
    };
    const pick = { target: "channels", defaults: opts } as const;
    const scorer = parts.choose("scorer", "scorers", f.scorer, pick);
    const pruners = [
      parts.choose("baseline", "pruners", f.baseline, pick),
      parts.choose("pruner", "pruners", f.pruner, pick),
    ];
    parts.done();
    await ready();
    const m = await (f.pad === 0 ? common.modelFrom(f) : common.paddedModelFrom(
      f,
      common.padBy(f.pad),
    ))(await common.dataShape(f));
    const pinned = common.channelPreflight(m, f);
    const groups = prunableGroups(m).reverse();
    const bad = f.group_idxs.find((g) => !Number.isInteger(g) || g >= groups.length);
    if (bad !== undefined) {
      throw new UsageError(
        `--group_idxs ${bad} is out of range: the model has ${groups.length} prunable groups (0..${
          groups.length - 1
        })`,
      );
    }
    const [saveG, saveS] = f.save ?? [f.group_idxs.at(-1)!, f.sparsities.at(-1)!];
    if (
      f.save &&
      (f.save.length !== 2 || !f.group_idxs.includes(saveG) || !f.sparsities.includes(saveS))
    ) {
      throw new UsageError(
        `--save ${f.save} must be one group,sparsity of --group_idxs and --sparsities`,
      );
    }
    // each (group, sparsity): the baseline's point, then the method's (method 1)
    const points = grid({ gi: f.group_idxs, s: f.sparsities, method: [0, 1] });
    const point = points.at;
    const saved = (ctx: RunContext, method: number) => {
      const p = point(ctx);
      return p.gi === saveG && p.s === saveS && p.method === method;
    };
    return [
      ...common.start(f, m, { epochs: f.epochs, batchSize: 64, augment: false }),
      ...pinned,
      transform({ name: "intra_fusion/fold_bn", options: { include_eps: f.include_eps } }),
      evaluate({
        name: "base",
        accuracyOnly: true,
        limit: f.eval_limit,
        log: (e) => `unpruned (BN folded): top-1 ${pct(e.top1)}`,
      }),
      score({ scorer, key: "importance", groups: () => groups.map((g) => g.id) }),
      sweep({
        points: points.size,
        keep: (ctx) => saved(ctx, 1),
        stages: [
          mask({
            pruner: (ctx) => pruners[point(ctx).method],
            scores: "importance",
            budget: (ctx) => ({ keepRatio: 1 - point(ctx).s }),
            options: (ctx) => ({ groups: [groups[point(ctx).gi].id] }),
          }),
          evaluate({ name: "point", accuracyOnly: true, limit: f.eval_limit, log: () => "" }),
          save({ dir: "model_default", when: (ctx) => saved(ctx, 0) }),
          record<FusionResult>({
            key: "results",
            merge: (ctx) => point(ctx).method === 1,
            row: (ctx) => {
              const { gi, s, method } = point(ctx), g = groups[gi];
              const top1 = (ctx.report.point as Evaluation).top1;
              const kept = (ctx.report.pruning as PruneRecord[]).at(-1)!.kept;
              return method === 1 ? { kept, fusion_top1: top1 } : {
                group: gi,
                group_id: g.id,
                channels: g.size,
                kept,
                sparsity: s,
                default_top1: top1,
              };
            },
            metrics: (r, ctx) =>
              point(ctx).method === 1
                ? {
                  [`g${r.group}_s${r.sparsity}_default_top1`]: r.default_top1,
                  [`g${r.group}_s${r.sparsity}_fusion_top1`]: r.fusion_top1,
                }
                : {},
            log: (r, ctx) =>
              point(ctx).method === 1
                ? `group ${r.group} (${r.group_id}, ${r.channels} ch) sparsity ${r.sparsity}: ` +
                  `default ${pct(r.default_top1)}, fusion ${pct(r.fusion_top1)}`
                : "",
          }),
        ],
      }),
      chart<FusionResult>({
        file: "accuracy.svg",
        rows: "results",
        title: () => "Top-1 without fine-tuning: default pruning vs Intra-Fusion",
        xLabel: "sparsity",
        yLabel: "top-1",
        by: (r) => `group ${r.group}`,
        lines: [
          { name: "default", x: (r) => r.sparsity, y: (r) => r.default_top1 },
          { name: "fusion", x: (r) => r.sparsity, y: (r) => r.fusion_top1 },
        ],
      }),
    ];
  },
  summarize(ctx, f) {
    const results = reportRows<FusionResult>(ctx, "results");
    ctx.report.base_top1 = (ctx.report.base as Evaluation).top1;
    const mean = (k: "default_top1" | "fusion_top1") =>
      results.reduce((a, r) => a + r[k], 0) / Math.max(1, results.length);
    const wins = results.filter((r) => r.fusion_top1 > r.default_top1).length;
    ctx.report.mean_default_top1 = mean("default_top1");
    ctx.report.mean_fusion_top1 = mean("fusion_top1");
    const [g, s] = f.save ?? [f.group_idxs.at(-1), f.sparsities.at(-1)];
    return [
      `unpruned top-1: ${pct(ctx.report.base_top1 as number)}`,
      ...common.markdownTable(
        ["group", "id", "channels", "kept", "sparsity", "default top-1", "fusion top-1"],
        results.map((r) => [
          r.group,
          r.group_id,
          r.channels,
          r.kept,
          r.sparsity,
          pct(r.default_top1),
          pct(r.fusion_top1),
        ]),
      ),
      `mean: default ${pct(mean("default_top1"))}, fusion ${pct(mean("fusion_top1"))}; ` +
      `fusion better in ${wins}/${results.length}`,
      `saved: group ${g}, sparsity ${s} (model/: fused, model_default/: default-pruned)`,
    ];
  },
};

if (import.meta.main) runMain(intraFusionPipeline);
