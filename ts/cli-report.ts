/**
 * `hydranet report RUN_DIR [--out report.html]`: the run's report as one self-contained HTML
 * file (ts/report/), from a run folder of train or extend, or a JSON file of compare or
 * affinity.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './cli-args.js';
import { reportPath, writeReport } from './report/write.js';

/** `hydranet report --help`. */
export const REPORT_HELP = `Usage: hydranet report RUN [--out FILE]

Writes the report of a run as one self-contained HTML file (charts as inline SVG, tables as
HTML; it loads nothing, so it opens offline): each task's loss and validation metrics by epoch,
the weights or coefficients the weighting strategy gave each task and its learned state
(uncertainty log-variances, GradNorm weights, FAMO logits), the learning rate when a schedule
changed it, the soft-sharing and EWC penalties, the auxiliary tasks' stopping criterion, the
task-affinity matrix with the groups of \`hydranet group\`, the results and Δm of
\`hydranet compare\`, the continual-learning accuracy matrix of \`hydranet extend\`, the best
checkpoint's confusion matrices, and the run's configuration, backend, machine and time. Each
chart only when the run has its data.

RUN: a run folder of \`hydranet train\` or \`hydranet extend\` (they also write RUN/report.html
themselves, refreshed after every epoch), or the JSON file of \`hydranet compare --json\` or
\`hydranet affinity --out\` (they write FILE.html beside it).

HYDRANET_REPORT=0 in the environment stops those commands from writing reports (and the
confusion.json of train and extend); \`hydranet report\` writes one all the same.

Options:
  --out FILE            the HTML file (default RUN/report.html, or X.html beside X.json)
  -h, --help            this text
`;

/** `hydranet report`: returns the exit status. */
export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(REPORT_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'hydranet report needs a run folder or JSON file: hydranet report runs/<date>-<time>' : `hydranet report takes one run, got ${positionals.map((p) => JSON.stringify(p)).join(' and ')}`);
  }
  const source = positionals[0];
  if (values.out === '') throw new UsageError('--out expects a file name');
  const written = await writeReport(source, values.out ?? reportPath(source));
  console.log(`report: ${written.file} (${written.charts.length} charts: ${written.charts.join(', ') || 'none'}; ${written.seconds.toFixed(2)} s)`);
  return 0;
}
