/**
 * hydranet: multi-task deep learning for Node.js on a native core.
 *
 * ```ts
 * import { createBackend, MultiTaskModel, Trainer, makeMultiMnist } from 'hydranet';
 * const backend = await createBackend('cpu');
 * const model = new MultiTaskModel(backend, {
 *   inputShape: [28, 28],
 *   trunk: [{ type: 'dense', units: 256, activation: 'relu' }],
 *   tasks: [
 *     { name: 'left', kind: 'classification', classes: 10 },
 *     { name: 'right', kind: 'classification', classes: 10 },
 *   ],
 *   maxBatch: 256,
 * });
 * const trainer = new Trainer(model, { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, batchSize: 256, epochs: 5 });
 * await trainer.fit(makeMultiMnist({ split: 'train' }), { validation: makeMultiMnist({ split: 'test' }) });
 * ```
 */
export * from './errors.js';
export * from './backends/backend.js';
export { createBackend, BACKEND_NAMES, MAX_THREADS } from './backends/create.js';
export type { BackendName, BackendOptions } from './backends/create.js';
export { ReferenceBackend } from './backends/reference.js';
export { Rng, hash32, dropoutKeep } from './core/random.js';
export type { Layer, StepContext } from './nn/layer.js';
export type { HeadsConfig } from './nn/heads.js';
export { Embedding, resolveEmbedding } from './nn/embedding.js';
export type { EmbeddingConfig, EmbeddingFieldConfig } from './nn/embedding.js';
export { MultiTaskModel, buildLayer } from './mtl/model.js';
export type { JsonValue, LayerSpec, LoadModelOptions, ModelConfig } from './mtl/model.js';
export type { PredictInputs, PredictOptions, Predictions } from './mtl/predict.js';
export { SHARINGS, parseSharingSpec } from './mtl/sharing/index.js';
export type {
  SharingConfig,
  HardSharing,
  SoftSharing,
  CrossStitchSharing,
  MmoeSharing,
  OmoeSharing,
  CgcSharing,
  PleSharing,
  Body,
  BodyContext,
  SharingEntry,
} from './mtl/sharing/index.js';
export { resolveTask, fitTaskToInput, validateLabels, TASK_KINDS, SELF_SUPERVISED_KINDS, METRICS, METRIC_KINDS } from './mtl/task.js';
export type { Task, TaskKind, SelfSupervisedKind, TaskSpec, MetricName } from './mtl/task.js';
export { Trainer, checkRunDir, selectionScore, selectionTasks } from './train/trainer.js';
export type { TrainerConfig, EpochRecord, FitOptions, EvaluateOptions, EvaluationWithOutputs } from './train/trainer.js';
export { Optimizer, OPTIMIZERS } from './train/optimizer.js';
export type { OptimizerConfig } from './train/optimizer.js';
export type { TaskMetrics } from './train/metrics.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  readCheckpointFile,
  parseTrainingState,
  findNonFiniteParameter,
  encodeSafetensors,
  decodeSafetensors,
  crc32,
} from './io/checkpoint.js';
export type {
  TrainingState,
  Safetensors,
  StoredTensor,
  NonFiniteValue,
  SaveCheckpointOptions,
  CheckpointContents,
  SavedOptimizer,
} from './io/checkpoint.js';
export { writeFileAtomic, removeStaleTemporaries, checkWritableFolder } from './io/files.js';
export * from './data/index.js';
export {
  WEIGHTINGS,
  createWeighting,
  parseWeightingSpec,
  WeightingStrategy,
  WeightedStep,
  PerTaskGradients,
  GRADIENT_SPACES,
} from './mtl/weighting/index.js';
export type { WeightingContext, WeightingSpec, WeightingOptions, GradientSpace } from './mtl/weighting/index.js';
export type { CombineFn } from './mtl/weighting/per-task-gradients.js';
export { compare, deltaM, formatComparison, selectEpoch, SELECTIONS } from './train/compare.js';
export type { CompareOptions, CompareConfiguration, ComparisonResult, MultiTaskRunResult, RunResult, Selection, MetricTable, CompareTrainerSettings } from './train/compare.js';
export { AuxiliaryTaskStopper, tcdcnCriterion } from './train/task-stopping.js';
export type { TaskStoppingConfig } from './train/task-stopping.js';
export { rocAuc } from './train/metrics.js';
export { LR_SCHEDULES, checkLrSchedule, lrAt } from './train/schedules.js';
export type { LrSchedule } from './train/schedules.js';
export { GradientClipper } from './train/clipping.js';
export { EarlyStopper, RunControl, checkCallbacks } from './train/callbacks.js';
export type { TrainerCallbacks, TrainingControl, StepInfo, EarlyStoppingConfig, EarlyStoppingState } from './train/callbacks.js';
export { AffinityProbe, AFFINITY_METHODS, AFFINITY_MEASURES, affinityReport, checkAffinityConfig, formatAffinity, measuresOf, rankAgreement } from './train/affinity.js';
export type { AffinityConfig, AffinityMatrix, AffinityMeasure, AffinityMethod, AffinityRecord, AffinityReport } from './train/affinity.js';
export type { ExtendModelOptions } from './mtl/model.js';
export { continualMetrics, formatContinualTable, prepareLwf, trainStages } from './train/continual.js';
export type { AccuracyMatrix, ContinualMetrics, ContinualMetricsOptions, LwfOptions, LwfStage, RetainConfig, StageConfig, TrainStagesConfig, StagesResult } from './train/continual.js';
export { ReplayBuffer, labelledFor, withReplay } from './data/replay.js';
export { ReplayStager } from './train/replay-stager.js';
export type { ReplayStagerOptions, ReplayPart, ReplayStagerSummary } from './train/replay-stager.js';
export type { StagedBatchHook, RowStaging } from './train/staged-batch.js';
export type { LabelledTask } from './data/replay.js';
export { injectLabelNoise, LABEL_NOISE_TYPES } from './data/noise.js';
export type { LabelNoiseOptions, LabelNoiseType, NoisyDataset } from './data/noise.js';
export { selectGroups, EXACT_MAX_TASKS, EXACT_LIMIT_TASKS, MAX_TASKS } from './mtl/grouping.js';
export type { AffinityInput, AffinityMatrixInput, AffinityReportInput, GroupingOptions, Grouping, TaskGroup, TaskAssignment } from './mtl/grouping.js';
export { transferability, formatTransfer } from './train/transfer.js';
export type { TransferOptions, TransferResult, TransferStage } from './train/transfer.js';
export { compareGroups, formatGroupsComparison } from './train/groups-compare.js';
export type { GroupingCandidate, GroupsCompareOptions, GroupingResult, GroupsComparison, GroupNetwork } from './train/groups-compare.js';
export type { ArenaRange } from './train/optimizer.js';
export { CoTeaching, countClean, keepCount, keepRate, selectSmallLoss } from './train/coteaching.js';
export type { CoTeachingConfig, CoTeachingEpoch } from './train/coteaching.js';
export { EwcPenalty, FISHER_VARIANTS, consolidate, ewcFromCheckpoint, ewcTensors, fisherDiagonal, fisherEstimate, growEwcState, hasLikelihood } from './train/ewc.js';
export type { EwcPenaltyConfig, EwcState, FisherEstimate, FisherOptions, FisherPath, FisherVariant } from './train/ewc.js';
export { trainExtension, parseRetainSpec, type ExtensionConfig, type ExtensionResult, type ExtensionReport } from './cli-extend.js';
export { Rotations, rotationPermutation, squareImage } from './data/rotation.js';
export type { SquareImage } from './data/rotation.js';
export { makeMmoeSynthetic, mmoeSyntheticTasks, MMOE_SYNTHETIC_SCALE, MMOE_SYNTHETIC_SINES, MMOE_SYNTHETIC_NOISE_STD } from './data/mmoe-synthetic.js';
export type { MmoeSyntheticOptions, MmoeSyntheticTasks } from './data/mmoe-synthetic.js';
export { type ReportRun, type RunConfigFile, type ComparisonFile, type ContinualFile, type ContinualSummary, type ConfusionMatrix, type ConfusionReport, type RunEnvironment, RUN_FILES, readRun, describeEnvironment } from './report/run-folder.js';
export { type Chart, type ChartSpec, bestEpoch, reportCharts, taskRoles } from './report/charts.js';
export { renderSvg } from './report/svg.js';
export { renderReport } from './report/html.js';
export { confusionMatrices, writeBestConfusion } from './report/confusion.js';
export { type ReportCallbackOptions, type WrittenReport, REFRESH_SHARE, finishReport, reportCallbacks, reportPath, reportsEnabled, writeEnvironment, writeReport } from './report/write.js';
export { DataParallel, type DataParallelOptions, type ShardSlice, type CommunicationStats, checkResumeWorldSize } from './distributed/data-parallel.js';
export { MpiWorld, type MpiWorldOptions, type PendingSum, CommunicationError, mpiAvailable } from './distributed/mpi.js';
export { NcclComm } from './distributed/nccl.js';
export type { StepReduction } from './mtl/weighting/step.js';
export { parseSearchSpec, checkSearchSpace, searchGrid, searchKeysFor, applySetting, formatSetting, carveValidation, datasetFingerprint, stableJson, RunStore } from './train/search.js';
export type { SearchSpace, SearchSetting, SearchValue, AppliedSetting, CarvedSplit } from './train/search.js';
export type { CompareRunEvent, SearchTrial, SearchSeedRun, SeedRun, Spread, TunedRow, TuningResult, ValidationSplitInfo } from './train/compare.js';
