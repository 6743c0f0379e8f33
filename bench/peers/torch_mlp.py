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
on stdout, and an info record (workload "info") with the version, the threads really used and
the BLAS torch really calls (blas_in_use; `--workloads ''` prints that record alone). Exits 3
when torch cannot be imported. Run it with Debian's /usr/bin/python3 (where python3-torch is
installed).
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

from torch_common import add_window_args, import_torch, set_threads

WORKLOADS = {
    "W1": dict(input=784, trunk=[512, 256], heads=2, classes=10, batch=256),
    "W2": dict(input=784, trunk=[2048, 2048], heads=8, classes=10, batch=1024),
    "W3": dict(input=4096, trunk=[4096, 4096], heads=16, classes=10, batch=4096),
}


BLAS_NAMES = ("blas", "lapack", "mkl", "blis", "atlas", "accelerate")


def mappings():
    """(start, end, path) of every file mapped into this process, from /proc/self/maps: the real
    files (the kernel shows them with every symlink resolved)."""
    out = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6 or not parts[5].strip().startswith("/"):
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi, parts[5].strip().replace(" (deleted)", "")))
    except OSError:
        pass
    return out


def symbol_library(handle, name, maps):
    """The real path of the library whose definition of `name` the handle resolves to, or None."""
    import ctypes
    try:
        addr = ctypes.cast(getattr(handle, name), ctypes.c_void_p).value
    except (AttributeError, OSError):
        return None
    return next((p for lo, hi, p in maps if lo <= addr < hi), None)


def openblas_details(library):
    """OpenBLAS's own report (config, core type, threads) when `library` is, or loads, OpenBLAS."""
    import ctypes
    try:
        h = ctypes.CDLL(library)
        h.openblas_get_config.restype = ctypes.c_char_p
        h.openblas_get_corename.restype = ctypes.c_char_p
        return dict(
            config=h.openblas_get_config().decode(),
            core=h.openblas_get_corename().decode(),
            threads=int(h.openblas_get_num_threads()),
        )
    except (AttributeError, OSError):
        return None


def flexiblas_backend(library):
    """The backend FlexiBLAS dispatches to, when `library` is FlexiBLAS."""
    import ctypes
    try:
        h = ctypes.CDLL(library)
        buf = ctypes.create_string_buffer(256)
        h.flexiblas_current_backend(buf, ctypes.c_size_t(len(buf)))
        return buf.value.decode() or None
    except (AttributeError, OSError):
        return None


def debian_alternative(library):
    """Debian's alternative (update-alternatives) whose choice is `library`: its name, link,
    status (auto/manual), current value and every candidate, or None."""
    import subprocess
    root = "/etc/alternatives"
    try:
        # The run-time name (libblas.so.3-<triplet>) before the development link (libblas.so-<triplet>),
        # which resolves to the same file.
        names = sorted((n for n in os.listdir(root) if n.startswith("libblas.so")), key=lambda n: (".so." not in n, n))
    except OSError:
        return None
    for name in names:
        if os.path.realpath(os.path.join(root, name)) != library:
            continue
        alt = dict(name=name, link=None, status=None, value=os.readlink(os.path.join(root, name)), candidates=[])
        try:
            q = subprocess.run(["update-alternatives", "--query", name], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            q = ""
        for line in q.splitlines():
            key, _, val = line.partition(": ")
            if key == "Link":
                alt["link"] = val
            elif key == "Status":
                alt["status"] = val
            elif key == "Alternative":
                alt["candidates"].append(val)
        return alt
    return None


def blas_in_use(torch):
    """Which BLAS torch really calls, found at run time: the library that defines the sgemm_ torch
    resolves (global scope first, then libtorch_cpu's own dependencies, as the dynamic loader
    looks it up), else what threadpoolctl finds loaded. torch.__config__ only says what torch was
    BUILT with (BLAS_INFO, kept as built_with), not what it loads: on Debian, libblas.so.3 is
    whatever the libblas.so.3 alternative points to, OpenBLAS or the reference (netlib) BLAS."""
    import ctypes
    maps = mappings()
    torch_cpu = next((p for _, _, p in maps if os.path.basename(p).startswith("libtorch_cpu")), None)
    library, found_by = None, None
    for label, path in (("the global scope", None), ("libtorch_cpu", torch_cpu)):
        if label == "libtorch_cpu" and not path:
            continue
        try:
            library = symbol_library(ctypes.CDLL(path), "sgemm_", maps)
        except OSError:
            library = None
        if library:
            found_by = "sgemm_ as resolved from " + label
            break
    pools = None
    try:
        from threadpoolctl import threadpool_info
        pools = [dict(internal_api=i.get("internal_api"), filepath=i.get("filepath"), version=i.get("version"),
                      num_threads=i.get("num_threads"), architecture=i.get("architecture"))
                 for i in threadpool_info() if i.get("user_api") == "blas"]
    except Exception:  # not installed, or it failed: the symbol lookup above stands alone
        pools = None
    if not library and pools:
        library, found_by = os.path.realpath(pools[0]["filepath"]), "threadpoolctl"
    built = None
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    if m:
        built = m.group(1)
    mapped = []
    for _, _, p in maps:
        if any(k in os.path.basename(p).lower() for k in BLAS_NAMES) and p not in mapped:
            mapped.append(p)
    return dict(
        library=library,
        found_by=found_by,
        openblas=openblas_details(library) if library else None,
        flexiblas_backend=flexiblas_backend(library) if library and "flexiblas" in library.lower() else None,
        alternative=debian_alternative(library) if library else None,
        threadpoolctl=pools,
        mapped=mapped,
        built_with=built,
    )


def steps_per_second(step, warmup_seconds, windows, min_seconds, sync=lambda: None):
    """Steps/s of `step` in each of `windows` windows of at least `min_seconds`, after at least two
    warm-up steps and `warmup_seconds`; `sync` waits for queued work (a GPU) before each clock read."""
    t0 = time.perf_counter()
    done = 0
    while done < 2 or time.perf_counter() - t0 < warmup_seconds:
        step()
        done += 1
    sync()
    rates = []
    for _ in range(windows):
        n = 0
        t0 = time.perf_counter()
        while True:
            step()
            n += 1
            sync()
            el = time.perf_counter() - t0
            if el >= min_seconds:
                break
        rates.append(n / el)
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", default="W1,W2")
    add_window_args(ap, windows=7, min_seconds=0.3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--heads", choices=["concat", "separate"], default="concat")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()

    torch, nn, F = import_torch()
    # OpenBLAS's own count stays at OPENBLAS_NUM_THREADS (the bench sets it to --threads).
    threads, _ = set_threads(torch, args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()
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

        rates = steps_per_second(step, args.warmup_seconds, args.windows, args.min_seconds, sync)
        final = float(step().detach())  # outside the windows: a sanity check that training is finite
        records.append(dict(
            workload=name, system="pytorch", backend=args.device, metric="train_steps_per_s",
            median=statistics.median(rates), min=min(rates), max=max(rates), unit="steps/s",
            threads=threads, windows=len(rates), heads=args.heads, loss=final,
        ))

    records.append(dict(
        workload="info", system="pytorch", backend=args.device, metric="info", median=None, min=None, max=None,
        gpu=torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        version=torch.__version__, threads=threads, heads=args.heads, blas=blas_in_use(torch),
        capability=torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else None,
    ))
    json.dump(records, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
