/**
 * Child process of test/train/compare-jobs-tmp.spec.ts: runs the pinned comparison of
 * compare-jobs-fixtures.ts with jobs 2 on the reference backend (its pool's dataset files go to
 * os.tmpdir(), which the spec points at a folder of its own through TMPDIR), run folder argv[3].
 *   node compare-jobs-child.js hold OUT    prints "running <pids of its compare-worker children>"
 *                                          after the first run, then blocks (the spec kills it)
 *   node compare-jobs-child.js finish OUT  runs the comparison to its end and prints "done"
 *   node compare-jobs-child.js exit        makes a pool, prints "made" and exits without closing it
 */
import { ReferenceBackend } from '../../ts/backends/reference.js';
import { compare } from '../../ts/train/compare.js';
import { RunPool } from '../../ts/train/compare-jobs.js';
import { pinned, synthetic, workersOf } from './compare-jobs-fixtures.js';

const [mode, outDir] = process.argv.slice(2);

if (mode === 'exit') {
  new RunPool(2, 'reference', 1, { train: synthetic(8, 0), validation: synthetic(4, 1) });
  process.stdout.write('made\n');
  process.exit(0);
}

await compare(
  pinned(new ReferenceBackend(), outDir, {
    jobs: 2,
    onRun: (e) => {
      if (mode === 'hold' && e.index === 1) {
        process.stdout.write(`running ${workersOf(process.pid).join(' ')}\n`);
        // Blocks the event loop (runs and clean-up alike) until the spec's SIGKILL.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
        process.exit(3);
      }
    },
  }),
);
process.stdout.write('done\n');
