/**
 * Phase family 2b: TensorFlow.js on the same workloads, each backend in its own process: webgpu
 * on the same Dawn adapter as hydranet webgpu, its cpu and wasm backends, and tfjs-node
 * (libtensorflow) where it is installed (where it is not, the output says so). W3 is GPU-sized:
 * not run on tfjs. Estimate: start-up, then the longer of the warm-up and one window, and of
 * the time cap and one window, a window's length from TFJS_RATE_GUESS.
 */
import { describeAdapter, slotOpen } from '../backends.js';
import type { BenchContext } from '../context.js';
import { type TfjsMlpPlan, runTfjsMlp, tfjsKernels, tfjsWasmSimd } from '../peers.js';
import type { Phase } from '../progress.js';
import { ratioRecord, skipped, summaryFields } from '../report.js';
import { summarize } from '../stats.js';
import { type Workload, stepFlops } from '../workloads.js';

/**
 * Rough steps/s of the tfjs peers on the machine the bench was written on (2-core Zen 4,
 * lavapipe), for the time estimates only: a tfjs phase's cost is mostly one window plus its
 * time cap, and a window's length depends on these.
 */
export const TFJS_RATE_GUESS: Record<string, Record<string, number>> = {
  cpu: { W1: 0.9, W2: 0.04 },
  wasm: { W1: 3, W2: 0.15 },
  webgpu: { W1: 3.3, W2: 0.07 },
  tensorflow: { W1: 20, W2: 1 },
};

/**
 * The tfjs webgpu peer (bench/peers/tfjs_mlp.ts): windows of its default size (8 steps on W1,
 * 1 on W2: see the peer), timed for a few seconds after a warm-up of at least one window. On
 * lavapipe a tfjs W2 step takes ~30 s, so W2 gets one timed window under --quick.
 */
function tfjsPlan(w: Workload, quick: boolean): TfjsMlpPlan {
  if (quick) return { seconds: 2, maxWindows: 3, warmupSeconds: 0.2 };
  return { seconds: w.name === 'W1' ? 15 : 45, maxWindows: 7, warmupSeconds: 1 };
}

/** The tfjs training-step phases (a skipped record now for each that cannot run). */
export function tfjsPhases(ctx: BenchContext): Phase[] {
  const { opts, records, peerNotes, tfjsNode, tfjsBackends, gpuSlot } = ctx;
  const phases: Phase[] = [];
  if (opts.peers && !tfjsNode.ok) {
    peerNotes.push(`TensorFlow.js node (tfjs-node, libtensorflow) not run: ${tfjsNode.reason}`);
    for (const w of opts.workloads.filter((x) => x.name !== 'W3')) {
      records.push(skipped({ workload: w.name, system: 'tfjs', backend: 'tensorflow', metric: 'train_steps_per_s', unit: 'steps/s' }, tfjsNode.reason!));
    }
  }
  if (opts.peers) {
    for (const tb of tfjsBackends) {
      for (const w of opts.workloads) {
        if (w.name === 'W3') continue;
        const base = { workload: w.name, system: 'tfjs', backend: tb, metric: 'train_steps_per_s', unit: 'steps/s' };
        if (tb === 'webgpu' && !slotOpen(gpuSlot)) {
          records.push(skipped(base, 'not run: hydranet webgpu is unavailable here (reason above), nothing to compare with'));
          continue;
        }
        if ((tb === 'cpu' || tb === 'wasm') && w.name === 'W2' && opts.quick) {
          records.push(skipped(base, `skipped with --quick (one tfjs ${tb} W2 step takes tens of seconds)`));
          continue;
        }
        const plan = tfjsPlan(w, opts.quick);
        const windowS = (w.name === 'W1' ? 8 : 1) / (TFJS_RATE_GUESS[tb]?.[w.name] ?? 1);
        phases.push({
          label: `tfjs ${tb} ${w.name} training steps`,
          estimate: 2 + Math.max(plan.warmupSeconds, windowS) + Math.max(plan.seconds, windowS),
          run: async () => {
            const t = runTfjsMlp(tb, w.name, plan, process.env);
            if (!t.ok || !t.value) {
              records.push(skipped(base, t.reason ?? 'unavailable'));
              return;
            }
            const v = t.value;
            const a = v.adapter;
            const isa = a ? describeAdapter({ ...a, cpu: gpuSlot?.adapter?.cpu }) : undefined;
            records.push({
              ...base,
              ...summaryFields(summarize(v.rates)),
              threads: tb === 'webgpu' ? undefined : v.threads,
              isa,
              kernels: tfjsKernels(tb, { threads: v.threads, adapter: isa, simd: tb === 'wasm' ? await tfjsWasmSimd() : undefined }),
              flops_per_step: stepFlops(w),
              final_loss: v.loss,
              window_steps: v.window,
              peak_rss_mib: v.peak_rss / 2 ** 20,
              device_mib: v.device_bytes !== undefined ? v.device_bytes / 2 ** 20 : undefined,
              note: [
                `windows of ${v.window} step${v.window > 1 ? 's' : ''}, each closed by one loss readback`,
                `${v.warmup_windows} warm-up window${v.warmup_windows > 1 ? 's' : ''} (${v.warmup_seconds.toFixed(1)} s)`,
                a && gpuSlot?.adapter && a.description !== gpuSlot.adapter.description ? `ADAPTER DIFFERS from hydranet's: ${a.description}` : '',
                v.leaked_tensors ? `${v.leaked_tensors} tensors leaked` : '',
                Number.isFinite(v.loss) ? '' : 'THE LOSS IS NOT FINITE',
              ]
                .filter(Boolean)
                .join('; '),
            });
          },
        });
      }
    }
  }
  return phases;
}

/** After the run: hydranet (each backend but the reference) / tfjs (each backend) per workload, and the peers' note. */
export function tfjsRatios(ctx: BenchContext): void {
  const { opts, records, peerNotes, slots, tfjsBackends, gpuSlot } = ctx;
  for (const w of [...opts.workloads, { name: 'LeNet' }]) {
    for (const slot of slots.filter((sl) => sl.name !== 'reference')) {
      const mine = records.find((r) => r.workload === w.name && r.system === 'hydranet' && r.backend === slot.name && r.metric === 'train_steps_per_s');
      for (const tb of tfjsBackends) {
        const peer = records.find((r) => r.workload === w.name && r.system === 'tfjs' && r.backend === tb && r.metric === 'train_steps_per_s');
        const rr = mine && peer ? ratioRecord(mine, peer, { peer_backend: tb }) : null;
        if (rr) records.push(rr);
      }
    }
  }
  if (records.some((r) => r.system === 'tfjs' && r.metric === 'train_steps_per_s' && r.median !== null)) {
    peerNotes.push(
      `TensorFlow.js ${tfjsBackends.join(', ')}: bench/peers/tfjs_*.ts, one process per backend and workload, tfjs-layers multi-output models; ` +
        'tfjs-layers has no loss weights for a custom step, so the step is the weighted sum Σ w_t·CE_t written out with tf.variableGrads + optimizer.applyGradients (momentum 0.9)' +
        (gpuSlot ? '; webgpu through Dawn (npm webgpu) as navigator.gpu' : '') +
        '; tfjs wasm runs single-threaded under Node (its thread pool needs browser workers)',
    );
  }
}
