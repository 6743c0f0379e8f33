#!/usr/bin/env python3
"""PyTorch peer of hydranet's benchmark workloads (bench/workloads.ts; keep in step).

  W1: trunk 784->512->256 ReLU, 2 heads 256->10, softmax CE, batch 256
  W2: trunk 784->2048->2048 ReLU, 8 heads 2048->10, softmax CE, batch 1024
  W3: trunk 4096->4096->4096 ReLU, 16 heads 4096->10, softmax CE, batch 4096 (GPU-sized)

--device cuda runs on the GPU (eager mode, TF32 matmuls allowed, as hydranet's cuda backend
uses TF32), synchronising before every clock reading.

A training step: forward, the weighted sum of the per-task cross-entropy losses (weights 1),
backward, SGD (momentum 0.9, lr 0.01). Random inputs in [0, 1) and random labels are made
once; the step is repeated on them. By default the heads are ONE nn.Linear(D, T*10) whose
output is split per task (the same math as hydranet's fused heads); --heads separate uses one
nn.Linear per task instead.

Timing: warm-up (excluded), then N windows of >= min-seconds (and >= 1 step) each; a window's
rate is steps / seconds. CPU PyTorch runs synchronously, so no sync is needed before the clock
is read. Nothing is read back inside the timed loop.

Prints one JSON array of records {workload, system, backend, metric, median, min, max, ...}
on stdout, and an info record (workload "info") with the version and threads really used.
Run it with Debian's /usr/bin/python3 (where python3-torch is installed).
"""
import argparse
import json
import os
import statistics
import sys
import time

WORKLOADS = {
    "W1": dict(input=784, trunk=[512, 256], heads=2, classes=10, batch=256),
    "W2": dict(input=784, trunk=[2048, 2048], heads=8, classes=10, batch=1024),
    "W3": dict(input=4096, trunk=[4096, 4096], heads=16, classes=10, batch=4096),
}


def blas_libraries():
    """The BLAS/LAPACK shared objects mapped into this process (what torch really calls)."""
    seen = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if any(k in name for k in ("blas", "lapack", "mkl", "blis")) and path not in seen:
                    seen.append(path)
    except OSError:
        pass
    return [os.path.realpath(p) for p in seen]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", default="W1,W2")
    ap.add_argument("--windows", type=int, default=7)
    ap.add_argument("--min-seconds", type=float, default=0.3)
    ap.add_argument("--warmup-seconds", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--heads", choices=["concat", "separate"], default="concat")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()
    threads = torch.get_num_threads()
    records = []

    for name in [w for w in args.workloads.split(",") if w]:
        cfg = WORKLOADS[name]
        T, K, N = cfg["heads"], cfg["classes"], cfg["batch"]
        widths = [cfg["input"]] + cfg["trunk"]
        layers = []
        for i in range(len(cfg["trunk"])):
            layers += [nn.Linear(widths[i], widths[i + 1]), nn.ReLU()]
        trunk = nn.Sequential(*layers).to(dev)
        D = widths[-1]
        if args.heads == "concat":
            heads = nn.Linear(D, T * K).to(dev)
        else:
            heads = nn.ModuleList([nn.Linear(D, K) for _ in range(T)]).to(dev)
        params = list(trunk.parameters()) + list(heads.parameters())
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        x = torch.rand(N, cfg["input"], device=dev)
        y = torch.randint(0, K, (N, T), device=dev)
        weights = [1.0] * T

        def step():
            opt.zero_grad()
            h = trunk(x)
            if args.heads == "concat":
                z = heads(h)
                segs = [z[:, t * K:(t + 1) * K] for t in range(T)]
            else:
                segs = [head(h) for head in heads]
            loss = sum(w * F.cross_entropy(s, y[:, t]) for t, (w, s) in enumerate(zip(weights, segs)))
            loss.backward()
            opt.step()
            return loss

        t0 = time.perf_counter()
        done = 0
        while done < 2 or time.perf_counter() - t0 < args.warmup_seconds:
            step()
            done += 1
        sync()
        rates = []
        for _ in range(args.windows):
            n = 0
            t0 = time.perf_counter()
            while True:
                step()
                n += 1
                sync()
                el = time.perf_counter() - t0
                if el >= args.min_seconds:
                    break
            rates.append(n / el)
        final = float(step().detach())  # outside the windows: a sanity check that training is finite
        records.append(dict(
            workload=name, system="pytorch", backend=args.device, metric="train_steps_per_s",
            median=statistics.median(rates), min=min(rates), max=max(rates), unit="steps/s",
            threads=threads, windows=len(rates), heads=args.heads, loss=final,
        ))

    records.append(dict(
        workload="info", system="pytorch", backend=args.device, metric="info", median=None, min=None, max=None,
        gpu=torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        version=torch.__version__, threads=threads, heads=args.heads, blas=blas_libraries(),
        capability=torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else None,
    ))
    json.dump(records, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
