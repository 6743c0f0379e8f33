/**
 * Phase family 2: PyTorch on the same workloads, in its own process: eager on the GPU beside the
 * cuda backend, and on the CPU with the BLAS it really calls (a peer on the reference BLAS is
 * flagged and gets no ratio). Estimate: start-up plus the peer window plan per workload.
 */
import type { BenchContext } from '../context.js';
import { classifyBlas, runTorch } from '../peers.js';
import type { Phase } from '../progress.js';
import { ratioRecord, skipped } from '../report.js';

/** The PyTorch phases (none under --no-peers, which is noted). */
export function torchPhases(ctx: BenchContext): Phase[] {
  const { opts, records, peerNotes, plans: p, env, threads, w3Explicit, cudaOpen } = ctx;
  const phases: Phase[] = [];
  const names = opts.workloads.map((w) => w.name).filter((n) => n !== 'W3' || w3Explicit);
  const torchSeconds = (count: number): number => 4 + count * (p.peer.warmupSeconds + p.peer.windows * p.peer.minSeconds * 1.2);
  if (opts.peers && cudaOpen) {
    // PyTorch eager on the GPU, the peer of the cuda backend (W3 included).
    const gpuNames = opts.workloads.map((w) => w.name);
    phases.push({
      label: `PyTorch cuda (${gpuNames.join(', ')})`,
      estimate: torchSeconds(gpuNames.length) + 10,
      run: async () => {
        const t = runTorch(gpuNames, p.peer, threads, env, 'cuda');
        if (t.ok && t.value) {
          peerNotes.push(`PyTorch ${t.value.info.version} on the GPU (eager, TF32 matmuls allowed)`);
          const kernels = `cuBLAS on ${t.value.info.gpu ?? 'the GPU'}, TF32 matmuls allowed`;
          for (const s of t.value.steps) {
            records.push({ workload: s.workload, system: 'pytorch', backend: 'cuda', metric: 'train_steps_per_s', unit: 'steps/s', median: s.median, min: s.min, max: s.max, windows: p.peer.windows, final_loss: s.loss, kernels });
          }
        } else {
          peerNotes.push(`PyTorch cuda skipped: ${t.reason}`);
        }
      },
    });
  }
  if (opts.peers) {
    phases.push({
      label: `PyTorch cpu (${names.join(', ')})`,
      estimate: torchSeconds(names.length),
      run: async () => {
        const t = runTorch(names, p.peer, threads, env);
        if (t.ok && t.value) {
          const { info, steps } = t.value;
          // The BLAS torch really calls (found at run time): the reference BLAS is not representative.
          const blas = classifyBlas(info.blas);
          peerNotes.push(
            `PyTorch ${info.version} (${info.python}), ${info.threads} threads, heads ${info.heads === 'concat' ? 'concatenated into one nn.Linear' : 'one nn.Linear each'}` +
              (info.blas.built_with ? `; built with BLAS_INFO=${info.blas.built_with} (what it loads is above)` : ''),
          );
          for (const s of steps) {
            records.push({
              workload: s.workload,
              system: 'pytorch',
              backend: 'cpu',
              metric: 'train_steps_per_s',
              unit: 'steps/s',
              median: s.median,
              min: s.min,
              max: s.max,
              windows: p.peer.windows,
              threads: s.threads,
              version: info.version,
              heads: info.heads,
              final_loss: s.loss,
              kernels: blas.summary,
              representative: blas.representative,
              fix: blas.fix,
              blas_kind: blas.kind,
              blas: info.blas,
            });
          }
        } else {
          peerNotes.push(`PyTorch skipped: ${t.reason}`);
          for (const w of names) {
            records.push(skipped({ workload: w, system: 'pytorch', backend: 'cpu', metric: 'train_steps_per_s', unit: 'steps/s' }, t.reason ?? 'unavailable'));
          }
        }
      },
    });
  } else {
    peerNotes.push('PyTorch, OpenBLAS and TensorFlow.js skipped (--no-peers)');
  }
  return phases;
}

/** After the run: each hydranet backend / PyTorch on the same device, per workload. */
export function torchRatios(ctx: BenchContext): void {
  const { opts, records, slots } = ctx;
  for (const w of opts.workloads.map((x) => x.name)) {
    for (const slot of slots) {
      const device = slot.name === 'cuda' ? 'cuda' : 'cpu';
      const torch = records.find((r) => r.workload === w && r.system === 'pytorch' && r.backend === device && r.metric === 'train_steps_per_s');
      const mine = records.find((r) => r.workload === w && r.system === 'hydranet' && r.backend === slot.name && r.metric === 'train_steps_per_s');
      const rr = mine && torch ? ratioRecord(mine, torch, { peer_backend: device }) : null;
      if (rr) records.push(rr);
    }
  }
}
