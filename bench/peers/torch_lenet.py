#!/usr/bin/env python3
"""PyTorch peer of hydranet's MultiLeNet bench (bench/lenet.ts; the multimnist-lenet preset of
ts/train/presets.ts, keep in step):

  trunk: conv 5x5 1->10, max-pool 2, ReLU, conv 5x5 10->20, dropout2d 0.5, max-pool 2, ReLU,
         flatten (320), dense 320->50, ReLU
  heads (2 tasks): dense 50->50, ReLU, dropout 0.5, dense 50->10; softmax CE each
  loss = CE_left + CE_right (weights 1); SGD lr 0.01 momentum 0.9; batch 256; input 1x28x28

A training step: zero grads, forward (dropouts active), the weighted loss, backward, SGD.
Inputs in [0, 1) and labels are random, made once; nothing is read back inside a window.
Timing reuses steps_per_second of torch_mlp.py (warm-up excluded, N windows of >= min-seconds).

Each thread count of --threads-list (torch.set_num_threads, and OpenBLAS's own thread count set
to the same through openblas_set_num_threads, since a Debian torch built with BLAS_INFO=generic
does not pass its count on to OpenBLAS) is measured in the variant that runs fastest there:
every combination of oneDNN (torch.backends.mkldnn.enabled) on/off, channels_last on/off and
the heads as separate modules or with their first layers concatenated into one
nn.Linear(50, 100) is warmed up (two steps), then probed in two interleaved rounds of one short
window each (--probe-seconds; 0 keeps the default variant: oneDNN on, contiguous, separate
heads); the best one gets the full windows.

--epoch-train N (0: none) also times one epoch of the best variant: N random training samples
(shuffled by randperm, each batch gathered by index as a DataLoader would), then validation on
--epoch-test M samples in eval mode under no_grad (batch 256, per-task correct counts summed on
the tensors, read once at the end), after one warm-up epoch of a few batches.

Prints one JSON array on stdout: a record per thread count {workload "LeNet", threads, median,
min, max, windows, variant, probes, loss, cpu_ms_per_step (process CPU time of a step, every
thread, over a window as long as the timed ones together), epoch_seconds, train_seconds,
validation_seconds} and
an info record (workload "info": version, threads, BLAS really called). Exits 3 when torch
cannot be imported. Run it with Debian's /usr/bin/python3 and OMP_WAIT_POLICY=passive.
"""
import argparse
import itertools
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import add_window_args, import_torch, set_threads  # noqa: E402
from torch_mlp import blas_in_use, steps_per_second  # noqa: E402

BATCH = 256
TASKS = 2
CLASSES = 10


def build(torch, nn, heads_mode):
    """The MultiLeNet trunk and heads (see the module's comment)."""
    trunk = nn.Sequential(
        nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(10, 20, 5), nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(320, 50), nn.ReLU(),
    )
    if heads_mode == "concat":
        hidden = nn.Sequential(nn.Linear(50, 50 * TASKS), nn.ReLU(), nn.Dropout(0.5))
        outs = nn.ModuleList([nn.Linear(50, CLASSES) for _ in range(TASKS)])

        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.hidden, self.outs = hidden, outs

            def forward(self, h):
                z = self.hidden(h)
                return [o(z[:, 50 * t:50 * (t + 1)]) for t, o in enumerate(self.outs)]
        heads = Heads()
    else:
        mods = nn.ModuleList([nn.Sequential(nn.Linear(50, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, CLASSES)) for _ in range(TASKS)])

        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.mods = mods

            def forward(self, h):
                return [m(h) for m in self.mods]
        heads = Heads()
    return trunk, heads


class Variant:
    """One way of running the step: oneDNN on/off, channels_last on/off, heads separate/concat."""

    def __init__(self, torch, nn, F, mkldnn, channels_last, heads_mode):
        self.torch, self.F = torch, F
        self.mkldnn, self.channels_last, self.heads_mode = mkldnn, channels_last, heads_mode
        torch.manual_seed(0)
        self.trunk, self.heads = build(torch, nn, heads_mode)
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.trunk.to(memory_format=self.fmt)
        self.params = list(self.trunk.parameters()) + list(self.heads.parameters())
        self.opt = torch.optim.SGD(self.params, lr=0.01, momentum=0.9)

    @property
    def name(self):
        return f"oneDNN {'on' if self.mkldnn else 'off'}, {'channels_last' if self.channels_last else 'contiguous'}, heads {self.heads_mode}"

    def forward(self, x):
        self.torch.backends.mkldnn.enabled = self.mkldnn
        return self.heads(self.trunk(x.contiguous(memory_format=self.fmt)))

    def step(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        outs = self.forward(x)
        loss = sum(self.F.cross_entropy(z, y[:, t]) for t, z in enumerate(outs))
        loss.backward()
        self.opt.step()
        return loss

    def epoch(self, xs, ys, xv, yv):
        """Seconds of one training epoch over xs and of the validation over xv."""
        torch = self.torch
        t0 = time.perf_counter()
        self.trunk.train()
        self.heads.train()
        perm = torch.randperm(xs.shape[0])
        for i in range(0, xs.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            self.step(xs.index_select(0, idx), ys.index_select(0, idx))
        t1 = time.perf_counter()
        self.trunk.eval()
        self.heads.eval()
        correct = torch.zeros(TASKS, dtype=torch.int64)
        with torch.no_grad():
            for i in range(0, xv.shape[0], BATCH):
                outs = self.forward(xv[i:i + BATCH])
                for t, z in enumerate(outs):
                    correct[t] += (z.argmax(1) == yv[i:i + BATCH, t]).sum()
        correct.tolist()  # the one readback: the metrics
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads-list", default="1,2")
    add_window_args(ap, windows=7, min_seconds=0.3)
    ap.add_argument("--probe-seconds", type=float, default=0.25, help="seconds of each probe window (two rounds over the variants); 0: the default variant only")
    ap.add_argument("--epoch-train", type=int, default=60000)
    ap.add_argument("--epoch-test", type=int, default=10000)
    args = ap.parse_args()

    torch, nn, F = import_torch()
    blas = blas_in_use(torch)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(BATCH, 1, 28, 28, generator=g)
    y = torch.randint(0, CLASSES, (BATCH, TASKS), generator=g)
    records = []
    for threads in [int(t) for t in args.threads_list.split(",") if t]:
        _, blas_threads = set_threads(torch, threads, blas.get("library"))
        combos = list(itertools.product([True, False], [False, True], ["separate", "concat"])) if args.probe_seconds > 0 else [(True, False, "separate")]
        variants = [Variant(torch, nn, F, mk, cl, hm) for mk, cl, hm in combos]
        probes = []
        if len(variants) > 1:
            # Every variant warmed up first (oneDNN builds its primitives on first use), then two
            # interleaved rounds of probes; a variant's best probe stands for it.
            for v in variants:
                for _ in range(2):
                    v.step(x, y)
            best_rate = [0.0] * len(variants)
            for _ in range(2):
                for i, v in enumerate(variants):
                    r = max(steps_per_second(lambda: v.step(x, y), 0, 1, args.probe_seconds))
                    best_rate[i] = max(best_rate[i], r)
            probes = [dict(variant=v.name, steps_per_s=r) for v, r in zip(variants, best_rate)]
            best = variants[max(range(len(variants)), key=lambda i: best_rate[i])]
        else:
            best = variants[0]
        rates = steps_per_second(lambda: best.step(x, y), args.warmup_seconds, args.windows, args.min_seconds)
        # CPU time of a step (every thread of the process), which a loaded machine distorts far
        # less than wall time: a window as long as the timed windows together.
        n, c0, t0 = 0, time.process_time(), time.perf_counter()
        while n < 3 or time.perf_counter() - t0 < args.windows * args.min_seconds:
            best.step(x, y)
            n += 1
        cpu_ms = (time.process_time() - c0) / n * 1000
        loss = float(best.step(x, y).detach())  # outside the windows: training is finite
        rec = dict(
            workload="LeNet", system="pytorch", backend="cpu", metric="train_steps_per_s", unit="steps/s",
            median=statistics.median(rates), min=min(rates), max=max(rates), windows=len(rates),
            threads=torch.get_num_threads(), blas_threads=blas_threads, variant=best.name, probes=probes, loss=loss,
            cpu_ms_per_step=cpu_ms,
        )
        if args.epoch_train > 0:
            xs = torch.rand(args.epoch_train, 1, 28, 28, generator=g)
            ys = torch.randint(0, CLASSES, (args.epoch_train, TASKS), generator=g)
            xv = torch.rand(args.epoch_test, 1, 28, 28, generator=g)
            yv = torch.randint(0, CLASSES, (args.epoch_test, TASKS), generator=g)
            best.epoch(xs[:4 * BATCH], ys[:4 * BATCH], xv[:BATCH], yv[:BATCH])  # warm-up
            train_s, val_s = best.epoch(xs, ys, xv, yv)
            rec.update(epoch_seconds=train_s + val_s, train_seconds=train_s, validation_seconds=val_s,
                       epoch_train=args.epoch_train, epoch_test=args.epoch_test)
        records.append(rec)

    records.append(dict(
        workload="info", system="pytorch", backend="cpu", metric="info", median=None, min=None, max=None,
        version=torch.__version__, threads=torch.get_num_threads(), blas=blas, mkldnn=torch.backends.mkldnn.is_available(),
    ))
    json.dump(records, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
