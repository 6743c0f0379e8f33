/**
 * The data layer: readers (CSV/TSV, JSON Lines, .npy, MNIST IDX, PNG/JPEG images) into column-wise
 * tables, the column schema that turns raw rows into a dataset (and predictions from raw rows),
 * MultiMNIST, and the in-memory multi-task dataset.
 */
export { parseIdx, parseIdxImages, parseIdxLabels, readIdxFile, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx.js';
export type { IdxArray } from './idx.js';
export { loadMnist, mnistDataDir } from './mnist.js';
export type { LoadMnistOptions, MnistData, MnistSplit } from './mnist.js';
export { MultiTaskDataset } from './dataset.js';
export type { DatasetInit } from './dataset.js';
export {
  bilinearTaps,
  composeMultiMnistCanvas,
  createResizer,
  makeMultiMnist,
  nearestIndices,
  resizeImage,
  MULTI_MNIST_CANVAS,
  MULTI_MNIST_OFFSET,
  MULTI_MNIST_SIZE,
} from './multimnist.js';
export type { MultiMnistOptions, MultiMnistTask, Resample, ResampleTaps } from './multimnist.js';
export { parseCsv, pickRows, readCsv, setDataThreads, tableColumn, tableFromRows } from './csv.js';
export type { Cell, CsvOptions, DataThreads, Row, Table } from './csv.js';
export { parseJsonl, readJsonl } from './jsonl.js';
export { parseNpy, readNpy } from './npy.js';
export type { NpyArray } from './npy.js';
export { decodeImage, fitImageInput, ImageReader } from './images.js';
export type { DecodedImage, FittedImage, ImageInputSpec } from './images.js';
export { applySchema, fitSchema, fittedSchemaOf, metricsInOriginalUnits, predictRows, readTable, toOriginalUnits } from './schema.js';
export { DEFAULT_EMBEDDING_MAX_DIM, ONEHOT_MAX_VALUES, defaultEmbeddingDim, defaultEncoding, embeddingFields } from './schema.js';
export type { CategoricalEncoding } from './schema.js';
export type {
  ApplyOptions,
  DroppedRows,
  FittedCategorical,
  FittedNumeric,
  FittedSchema,
  FittedTask,
  InputColumnsSpec,
  ReadTableOptions,
  RowPredictions,
  SchemaReport,
  SchemaResult,
  SchemaSpec,
  TaskColumnSpec,
} from './schema.js';
