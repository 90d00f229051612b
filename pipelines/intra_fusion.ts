/**
 * Intra-Fusion vs. default pruning, without fine-tuning: BN is folded into
 * the convs, channel importance is scored once (l1, taylor, or any channel
 * scorer of a registered plugin), then for every (group, sparsity) the folded
 * model is pruned twice — dropping the unkept channels ("default") and fusing
 * all channels into the kept ones by optimal transport ("fusion") — and both
 * are evaluated on the test split. Groups are numbered from the output: 0 is
 * the prunable group nearest the classifier.
 *
 * With no flags it trains a narrow VGG-11-BN (inputs zero-padded 28 -> 32) on
 * the embedded mnist data for a few epochs first.
 *
 * @example
 * ```sh
 * deno task run pipelines/intra_fusion.ts
 * deno task run pipelines/intra_fusion.ts --path runs/train_teacher/<ts>/model --dataset fashion-mnist \
 *   --data_dir /usr/share/datasets/fashion-mnist --group_idxs 1,2,3 --sparsities 0.3,0.5,0.7
 * ```
 * @module
 */
import {
  accuracy,
  buildChannelGraph,
  type FlagDefs,
  lineChartSVG,
  load,
  type PipelineSpec,
  type RunContext,
  runMain,
  score,
  type Stage,
  stage,
  type tf,
  UsageError,
  writeFileAtomic,
} from "@shears/core";
import intraFusion, { defaultPruner, foldBatchNorm, fusionPruner } from "@shears/intra_fusion";
import {
  dataFlags,
  dataFrom,
  type ModelFlagDefs,
  modelFlags,
  modelFrom,
  paddedModelFrom,
  padFlag,
  pretrain,
} from "./common.ts";

const modelDefaults: ModelFlagDefs = modelFlags("vgg11_bn", 0.125);

/** Flags of the intra_fusion pipeline. */
export const intraFusionFlags = {
  ...dataFlags,
  ...modelDefaults,
  pad: {
    ...padFlag,
    help:
      "zero-pad images by this many pixels per side in front of a built model (28 -> 32 for VGG)",
  },
  group_idxs: {
    type: "numbers",
    default: [0, 1, 2],
    min: 0,
    help: "channel groups to prune, numbered from the output (0 = nearest the classifier)",
  },
  sparsities: {
    type: "numbers",
    default: [0.3, 0.5, 0.7],
    min: 0,
    max: 1,
    maxExclusive: true,
    help: "fractions of a group's channels to remove",
  },
  importance_criteria: {
    type: "string",
    default: "l1",
    help: "channel importance: l1 | taylor | any registered channel scorer (plugin/name)",
  },
  merge: {
    type: "string",
    default: "sum",
    choices: ["sum", "average"],
    help: "how fused neurons combine: sum (the reference) or average",
  },
  marginals: {
    type: "string",
    default: "uniform",
    choices: ["uniform", "importance"],
    help: "OT marginals",
  },
  solver: { type: "string", default: "emd", choices: ["emd", "sinkhorn"], help: "OT solver" },
  include_eps: { type: "boolean", default: false, help: "put BN's epsilon into the fold" },
  epochs: { type: "int", default: 3, min: 1, help: "epochs of the pretraining (no --path only)" },
  eval_limit: { type: "int", min: 1, help: "evaluate on at most this many test examples" },
} satisfies FlagDefs;

type Flags = Parameters<PipelineSpec<typeof intraFusionFlags>["build"]>[0];

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

/** The model: built for images --pad pixels larger per side, which it zero-pads in front. */
function modelFor(f: Flags): (ctx: RunContext) => Promise<tf.LayersModel> {
  if (f.pad === 0) return modelFrom(f);
  return paddedModelFrom(f, ([h, w, c]) => [h + 2 * f.pad, w + 2 * f.pad, c]);
}

/** Prunable groups, numbered from the output (index 0 nearest the classifier). */
function groupsFromOutput(model: tf.LayersModel): { id: string; size: number }[] {
  return buildChannelGraph(model).groups.filter((g) => g.prunable).reverse();
}

/** Fails early (before any training) on a group index the model does not have. */
function checkGroups(f: Flags): Stage {
  return stage("check", (ctx) => {
    const groups = groupsFromOutput(ctx.model!);
    const bad = f.group_idxs.find((g) => !Number.isInteger(g) || g >= groups.length);
    if (bad !== undefined) {
      throw new UsageError(
        `--group_idxs ${bad} is out of range: the model has ${groups.length} prunable groups (0..${
          groups.length - 1
        })`,
      );
    }
    return Promise.resolve();
  });
}

const SCORES_KEY = "intra_fusion/importance";

function sweep(f: Flags): Stage {
  return stage("sweep", async (ctx, emit) => {
    const base = ctx.model!, data = ctx.data!;
    const scores = ctx.scores.get(SCORES_KEY)!;
    if (scores.target !== "channels") {
      throw new UsageError(
        `--importance_criteria ${f.importance_criteria} scores "${scores.target}", not channels`,
      );
    }
    const groups = groupsFromOutput(base);
    const options = {
      merge: f.merge,
      marginals: f.marginals,
      solver: f.solver,
      includeEps: f.include_eps,
    };
    const results: FusionResult[] = [];
    const total = f.group_idxs.length * f.sparsities.length;
    for (const gi of f.group_idxs) {
      const g = groups[gi];
      for (const s of f.sparsities) {
        const row: Record<string, number> = {};
        for (
          const [name, pruner] of [["default", defaultPruner], ["fusion", fusionPruner]] as const
        ) {
          const run = { ...ctx, model: base };
          const res = await pruner.prune(run, scores, { keepRatio: 1 - s }, {
            ...options,
            groups: [g.id],
          });
          row.kept = res.kept;
          row[name] = (await accuracy(run.model!, data, { limit: f.eval_limit })).top1;
          run.model!.dispose();
        }
        results.push({
          group: gi,
          group_id: g.id,
          channels: g.size,
          kept: row.kept,
          sparsity: s,
          default_top1: row.default,
          fusion_top1: row.fusion,
        });
        emit.metric(`g${gi}_s${s}_default_top1`, row.default);
        emit.metric(`g${gi}_s${s}_fusion_top1`, row.fusion);
        emit.log(
          `group ${gi} (${g.id}, ${g.size} ch) sparsity ${s}: default ${pct(row.default)}, ` +
            `fusion ${pct(row.fusion)}`,
        );
        emit.progress("group x sparsity", results.length, total);
      }
    }
    ctx.report.results = results;
    if (ctx.runDir) {
      const path = `${ctx.runDir}/accuracy.svg`;
      await writeFileAtomic(path, await plot(results));
      emit.artifact("plot", path);
    }
  });
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}

function plot(results: FusionResult[]): Promise<string> {
  const series = [...new Set(results.map((r) => r.group))].flatMap((g) => {
    const rows = results.filter((r) => r.group === g);
    return (["default", "fusion"] as const).map((m) => ({
      name: `group ${g} ${m}`,
      points: rows.map((r) => [r.sparsity, r[`${m}_top1`]] as [number, number]),
    }));
  });
  return lineChartSVG({
    title: "Top-1 without fine-tuning: default pruning vs Intra-Fusion",
    xLabel: "sparsity",
    yLabel: "top-1",
    series,
  });
}

/** The intra_fusion pipeline. */
export const intraFusionPipeline: PipelineSpec<typeof intraFusionFlags> = {
  name: "intra_fusion",
  description:
    "Intra-Fusion vs default pruning per (group, sparsity), no fine-tuning; table, report, SVG plot.",
  flags: intraFusionFlags,
  plugins: [intraFusion],
  saveModel: false,
  build(f) {
    const scorer = f.importance_criteria.includes("/")
      ? f.importance_criteria
      : `intra_fusion/${f.importance_criteria}`;
    return [
      load({ data: dataFrom(f, f.seed), model: modelFor(f) }),
      checkGroups(f),
      pretrain("model", () => !f.path, {
        epochs: f.epochs,
        batchSize: 64,
        augment: false,
        seed: f.seed,
      }),
      stage("fold_bn", async (ctx, emit) => {
        const { model, folded } = await foldBatchNorm(ctx.model!, { includeEps: f.include_eps });
        ctx.model!.dispose();
        ctx.model = model;
        emit.log(`folded ${folded.length} BatchNorm layers into their convs`);
        const top1 = (await accuracy(model, ctx.data!, { limit: f.eval_limit })).top1;
        ctx.report.base_top1 = top1;
        emit.metric("base_top1", top1);
        emit.log(`unpruned (BN folded): top-1 ${pct(top1)}`);
      }),
      score({ scorer, key: SCORES_KEY }),
      sweep(f),
    ];
  },
  summarize(ctx) {
    const results = ctx.report.results as FusionResult[];
    const lines = [
      `unpruned top-1: ${pct(ctx.report.base_top1 as number)}`,
      "| group | id | channels | kept | sparsity | default top-1 | fusion top-1 |",
      "|---|---|---|---|---|---|---|",
      ...results.map((r) =>
        `| ${r.group} | ${r.group_id} | ${r.channels} | ${r.kept} | ${r.sparsity} | ` +
        `${pct(r.default_top1)} | ${pct(r.fusion_top1)} |`
      ),
    ];
    const mean = (k: "default_top1" | "fusion_top1") =>
      results.reduce((a, r) => a + r[k], 0) / Math.max(1, results.length);
    const wins = results.filter((r) => r.fusion_top1 > r.default_top1).length;
    ctx.report.mean_default_top1 = mean("default_top1");
    ctx.report.mean_fusion_top1 = mean("fusion_top1");
    lines.push(
      `mean: default ${pct(mean("default_top1"))}, fusion ${pct(mean("fusion_top1"))}; ` +
        `fusion better in ${wins}/${results.length}`,
    );
    return lines;
  },
};

if (import.meta.main) runMain(intraFusionPipeline);
