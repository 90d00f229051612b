/**
 * The stages a pipeline is made of: load, score, mask, distill, finetune,
 * evaluate, and what surrounds them (pruning callbacks during training,
 * model transforms and saves, report rows, plots, sweep grids, when to stop iterating).
 * @module
 */
export { load, type LoadSpec } from "./load.ts";
export { checkChannelScores, resolve, score, type ScoreSpec } from "./score.ts";
export { lastPruning, mask, type MaskSpec, type PruneRecord } from "./mask.ts";
export { distill } from "./distill.ts";
export { finetune } from "./finetune.ts";
export { type FitSpec, resumeAt } from "./fit.ts";
export {
  compareDeployed,
  type CompareSpec,
  evaluate,
  type EvaluateSpec,
  type Evaluation,
  evaluation,
  recordReluTable,
  type SpeedUp,
} from "./evaluate.ts";
export {
  type BudgetChurn,
  churnAtBudget,
  type Control,
  control,
  type ControlSpec,
  type PruneUpdateRow,
} from "./control.ts";
export {
  cloneModel,
  copyMatchingWeights,
  inheritWeights,
  save,
  type SaveSpec,
  teacherFromModel,
  transform,
  type TransformSpec,
} from "./model.ts";
export { scoreHistogram, type ScoreHistogramSpec, type ScoreSummary } from "./histogram.ts";
export { chart, type ChartLine, type ChartSpec, plot, type PlotSpec } from "./plot.ts";
export { record, type RecordSpec, reportRows } from "./record.ts";
export { type Grid, grid } from "./grid.ts";
export {
  type BudgetLoopSpec,
  iterateToBudget,
  type MacGoal,
  untilBudget,
  type UntilSpec,
} from "./until.ts";
export {
  beforeAfterPrune,
  type BeforeAfterPruneSpec,
  beforeAfterTable,
  measuredIterations,
  type MeasuredIterationsSpec,
  type MeasuredLoopSpec,
  type MeasuredRow,
  measuredTable,
  type StepRow,
} from "./measured.ts";
export { batchNormLayers, recalibrateBatchNorm, type RecalibrateSpec } from "./batch_norm.ts";
