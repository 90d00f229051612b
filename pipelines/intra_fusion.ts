/**
 * Intra-Fusion vs. default pruning, without fine-tuning: BN folded, channels scored once, then each
 * group of `--group_idxs` pruned alone to each of `--sparsities` twice from the same model, by the
 * baseline (`--baseline`) and by the method (`--pruner`: optimal-transport fusion), both evaluated.
 * Target: channels. The steps, the default run and its figures: docs/methods.md.
 *
 * @example
 * ```sh
 * deno task run pipelines/intra_fusion.ts
 * deno task run pipelines/intra_fusion.ts --path runs/train_teacher/<ts>/model --dataset fashion-mnist \
 *   --group_idxs 1,2,3 --sparsities 0.3,0.5,0.7 --save 2,0.5
 * ```
 * @module
 */
import * as core from "@shears/core";
import intraFusion from "@shears/intra_fusion";
import * as common from "./common.ts";
import { shippedPlugins } from "./plugins.ts";

const model: common.ModelFlagDefs = common.modelFlags("vgg11_bn", 0.125);

/** Flags of the intra_fusion pipeline. */
export const intraFusionFlags = {
  ...common.dataFlags,
  ...model,
  ...common.channelFlags,
  pad: { ...common.padFlag, help: "zero-pad images in front of a built model (28 -> 32)" },
  group_idxs: { type: "numbers", default: [0, 1, 2], min: 0, help: "0 = nearest the output" },
  sparsities: { ...common.fractionsFlag, default: [0.3, 0.5, 0.7], help: "of a group" },
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
} satisfies core.FlagDefs;

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
const METHODS = ["default", "fusion"] as const;

/** The intra_fusion pipeline. */
export const intraFusionPipeline: core.PipelineSpec<typeof intraFusionFlags> = {
  name: "intra_fusion",
  description:
    "Intra-Fusion vs default pruning per (group, sparsity), no fine-tuning; table, report, SVG plot.",
  flags: intraFusionFlags,
  plugins: [intraFusion],
  partsFrom: shippedPlugins, // other methods' parts, by full name
  takes: { target: "channels", flags: common.partFlags({ pruners: "--pruner, --baseline" }) },
  async build(f, ctx, ready) {
    const { merge, marginals, solver, include_eps } = f, target = "channels";
    const defaults = { merge, marginals, solver, include_eps };
    const { scorer, baseline, pruner } = core.chooseParts(ctx.registry, f.opt, {
      scorer: { kind: "scorers", name: f.scorer, target, defaults },
      baseline: { kind: "pruners", name: f.baseline, target, defaults },
      pruner: { kind: "pruners", name: f.pruner, target, defaults },
    });
    await ready();
    const m = await common.paddedModelFrom(f, common.padBy(f.pad))(await common.dataShape(f));
    const pinned = common.channelPreflight(m, f);
    const groups = core.prunableGroups(m).reverse(), n = groups.length;
    const bad = f.group_idxs.find((g) => !Number.isInteger(g) || g >= n);
    if (bad !== undefined) {
      throw new core.UsageError(
        `--group_idxs ${bad} is out of range: the model has ${n} prunable groups (0..${n - 1})`,
      );
    }
    const [saveG, saveS] = f.save ?? [f.group_idxs.at(-1)!, f.sparsities.at(-1)!];
    const savable = f.group_idxs.includes(saveG) && f.sparsities.includes(saveS);
    if (f.save && (f.save.length !== 2 || !savable)) {
      throw new core.UsageError(
        `--save ${f.save} must be one group,sparsity of --group_idxs and --sparsities`,
      );
    }
    // each (group, sparsity): the baseline's point, then the method's, which completes the row
    const points = core.grid({ gi: f.group_idxs, s: f.sparsities, method: METHODS });
    const point = points.at, col = (ctx: core.RunContext) => `${point(ctx).method}_top1` as const;
    const fused = (ctx: core.RunContext) => point(ctx).method === "fusion";
    const saved = (ctx: core.RunContext) => point(ctx).gi === saveG && point(ctx).s === saveS;
    const test = (name: string, log: (e: core.Evaluation) => string) =>
      core.evaluate({ name, accuracyOnly: true, limit: f.eval_limit, log });
    const results = core.record<FusionResult>({
      key: "results",
      merge: fused,
      row: (ctx) => {
        const { gi, s } = point(ctx), g = groups[gi], top1 = core.evaluation(ctx, "point").top1;
        const kept = core.lastPruning(ctx).kept;
        return { group: gi, group_id: g.id, channels: g.size, kept, sparsity: s, [col(ctx)]: top1 };
      },
      metrics: (r, ctx) => ({ [`g${r.group}_s${r.sparsity}_${col(ctx)}`]: r[col(ctx)] }),
      log: (r, ctx) =>
        fused(ctx)
          ? `group ${r.group} (${r.group_id}, ${r.channels} ch) sparsity ${r.sparsity}: ` +
            `default ${pct(r.default_top1)}, fusion ${pct(r.fusion_top1)}`
          : "",
    });
    return [
      ...common.start(f, m, { epochs: f.epochs, batchSize: 64, augment: false }),
      ...pinned,
      core.transform({ name: "intra_fusion/fold_bn", options: { include_eps } }),
      test("base", (e) => `unpruned (BN folded): top-1 ${pct(e.top1)}`),
      core.score({ scorer, key: "importance", groups: () => groups.map((g) => g.id) }),
      core.sweep({
        points: points.size,
        label: (ctx) => `group ${point(ctx).gi}, sparsity ${point(ctx).s}: ${point(ctx).method}`,
        keep: (ctx) => saved(ctx) && fused(ctx),
        stages: [
          core.mask({
            pruner: (ctx) => (fused(ctx) ? pruner : baseline),
            scores: "importance",
            budget: (ctx) => ({ keepRatio: 1 - point(ctx).s }),
            options: (ctx) => ({ groups: [groups[point(ctx).gi].id] }),
          }),
          test("point", () => ""),
          core.save({ dir: "model_default", when: (ctx) => saved(ctx) && !fused(ctx) }),
          results,
        ],
      }),
      core.chart<FusionResult>({
        file: "accuracy.svg",
        rows: "results",
        title: () => "Top-1 without fine-tuning: default pruning vs Intra-Fusion",
        xLabel: "sparsity",
        by: (r) => `group ${r.group}`,
        lines: [
          { name: "default", x: (r) => r.sparsity, y: (r) => r.default_top1 },
          { name: "fusion", x: (r) => r.sparsity, y: (r) => r.fusion_top1 },
        ],
      }),
    ];
  },
  summarize(ctx, f) {
    const results = core.reportRows<FusionResult>(ctx, "results");
    const mean = (k: "default_top1" | "fusion_top1") =>
      results.reduce((a, r) => a + r[k], 0) / Math.max(1, results.length);
    const wins = results.filter((r) => r.fusion_top1 > r.default_top1).length;
    const base = core.evaluation(ctx, "base").top1,
      md = mean("default_top1"),
      mf = mean("fusion_top1");
    Object.assign(ctx.report, { base_top1: base, mean_default_top1: md, mean_fusion_top1: mf });
    const [g, s] = f.save ?? [f.group_idxs.at(-1), f.sparsities.at(-1)];
    const top1s = (r: FusionResult) => [pct(r.default_top1), pct(r.fusion_top1)];
    return [
      `unpruned top-1: ${pct(base)}`,
      ...common.markdownTable(
        ["group", "id", "channels", "kept", "sparsity", "default top-1", "fusion top-1"],
        results.map((r) => [r.group, r.group_id, r.channels, r.kept, r.sparsity, ...top1s(r)]),
      ),
      `mean: default ${pct(md)}, fusion ${pct(mf)}; fusion better in ${wins}/${results.length}`,
      `saved: group ${g}, sparsity ${s} (model/: fused, model_default/: default-pruned)`,
    ];
  },
};

if (import.meta.main) core.runMain(intraFusionPipeline);
