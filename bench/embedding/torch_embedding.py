#!/usr/bin/env python3
"""PyTorch peer of bench/embedding/run.ts: the embedding-heavy MMoE workload (issue 20).

The workload comes from the command line (run.ts passes its own definition, so both sides
train the same model): numeric fields (N(0, 1) values) and categorical fields with the given
vocabularies (uniform random indices), each categorical field embedded in `dim` values; the
numeric columns and the lookups concatenated (numeric first, fields in order) feed an MMoE:
`experts` experts of dense layers `expert-units` with ReLU, one softmax gate per task over
the experts (a linear layer of the same input), towers of one hidden ReLU layer of `tower`
units and one logit per task; binary cross-entropy with logits per task (batch mean), summed
over the tasks; plain SGD (lr, no momentum, so sparse gradients apply).

Variants, every combination of the lists measured (the caller takes PyTorch's best):
  --embeddings fields | concat: one nn.Embedding per field, or ONE nn.Embedding over the
      fields' tables end to end, indexed with per-field offsets (one gather; the common trick);
  --sparse 0 | 1: nn.Embedding(sparse=...) (sparse gradients: SGD updates only used rows);
  --experts-impl loop | fused: each expert its own nn.Sequential (as MMoE code usually is),
      or the experts' first layers as ONE nn.Linear (they read the same input) and later
      layers as one batched matmul (torch.baddbmm) over the experts;
  --threads: torch.set_num_threads values;
  --variants EMB/SPARSE/IMPL[,...] (e.g. concat/sparse/fused,fields/dense/loop): only these
      combinations (SPARSE is sparse or dense), each at every --threads value, instead of every
      combination of the three lists above (the main bench runs the ones that can win).

Timing as bench/peers/torch_mlp.py: warm-up (excluded), then windows of >= min-seconds (and
>= 1 step); a window's rate is steps / seconds; the record has the median, min and max, and the
process's CPU seconds per step over --cpu-steps more steps. One
batch is made once and the step repeats on it. Prints one JSON array: a record per variant and
an info record (version, BLAS really called, found as torch_mlp.py finds it). Exits 3 when
torch cannot be imported.
"""
import argparse
import itertools
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from torch_common import add_window_args, import_torch, set_threads  # noqa: E402


def ints(text):
    return [int(v) for v in text.split(",") if v != ""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numeric", type=int, required=True)
    ap.add_argument("--vocabs", type=ints, required=True)
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--experts", type=int, required=True)
    ap.add_argument("--expert-units", type=ints, required=True)
    ap.add_argument("--tower", type=int, required=True)
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--embeddings", default="fields,concat")
    ap.add_argument("--sparse", default="0,1")
    ap.add_argument("--experts-impl", default="loop,fused")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--variants", default="")
    add_window_args(ap, windows=5, min_seconds=1.0)
    ap.add_argument("--cpu-steps", type=int, default=3)
    args = ap.parse_args()
    # The variants are checked before torch is imported: a malformed one fails at once.
    if args.variants:
        variants = []
        for v in args.variants.split(","):
            parts = v.split("/")
            emb, sparse, impl = parts if len(parts) == 3 else ("", "", "")
            if emb not in ("fields", "concat") or sparse not in ("sparse", "dense") or impl not in ("loop", "fused"):
                ap.error(f"--variants: {v!r} is not EMB/SPARSE/IMPL with EMB fields|concat, SPARSE sparse|dense, IMPL loop|fused")
            variants.append((emb, int(sparse == "sparse"), impl))
    else:
        variants = list(itertools.product(args.embeddings.split(","), ints(args.sparse), args.experts_impl.split(",")))

    torch, nn, F = import_torch()
    from torch_mlp import blas_in_use, steps_per_second

    N, T, D = args.batch, args.tasks, args.dim
    vocabs = args.vocabs
    width = args.numeric + len(vocabs) * D
    torch.manual_seed(0)
    x_num = torch.randn(N, args.numeric)
    x_cat = torch.stack([torch.randint(0, v, (N,)) for v in vocabs], dim=1)
    y = torch.randint(0, 2, (N, T)).float()
    offsets = torch.tensor(list(itertools.accumulate([0] + vocabs[:-1])))
    x_flat = x_cat + offsets  # indices into the concatenated table

    class Model(nn.Module):
        def __init__(self, embeddings, sparse, impl):
            super().__init__()
            self.embeddings, self.impl = embeddings, impl
            if embeddings == "fields":
                self.tables = nn.ModuleList([nn.Embedding(v, D, sparse=sparse) for v in vocabs])
            else:
                self.table = nn.Embedding(sum(vocabs), D, sparse=sparse)
            E, units = args.experts, args.expert_units
            if impl == "loop":
                def expert():
                    layers, w = [], width
                    for u in units:
                        layers += [nn.Linear(w, u), nn.ReLU()]
                        w = u
                    return nn.Sequential(*layers)
                self.experts = nn.ModuleList([expert() for _ in range(E)])
            else:
                self.first = nn.Linear(width, E * units[0])
                self.weights = nn.ParameterList(
                    [nn.Parameter(torch.randn(E, a, b) / a ** 0.5) for a, b in zip(units[:-1], units[1:])])
                self.biases = nn.ParameterList([nn.Parameter(torch.zeros(E, 1, b)) for b in units[1:]])
            self.gates = nn.Linear(width, T * E)
            self.towers = nn.ModuleList(
                [nn.Sequential(nn.Linear(units[-1], args.tower), nn.ReLU(), nn.Linear(args.tower, 1)) for _ in range(T)])

        def forward(self, x_num, x_cat, x_flat):
            if self.embeddings == "fields":
                emb = [t(x_cat[:, f]) for f, t in enumerate(self.tables)]
            else:
                emb = [self.table(x_flat).reshape(N, -1)]
            h = torch.cat([x_num] + emb, dim=1)
            E = args.experts
            if self.impl == "loop":
                e = torch.stack([ex(h) for ex in self.experts], dim=1)  # [N, E, U]
            else:
                z = F.relu(self.first(h)).reshape(N, E, -1).transpose(0, 1)  # [E, N, U0]
                for w, b in zip(self.weights, self.biases):
                    z = F.relu(torch.baddbmm(b, z, w))
                e = z.transpose(0, 1)  # [N, E, U]
            g = F.softmax(self.gates(h).reshape(N, T, E), dim=2)  # [N, T, E]
            mixed = torch.bmm(g, e)  # [N, T, U]
            return torch.cat([tower(mixed[:, t]) for t, tower in enumerate(self.towers)], dim=1)

    records = []
    for (emb, sparse, impl), threads in itertools.product(variants, ints(args.threads)):
        set_threads(torch, threads)  # OpenBLAS's own count stays at OPENBLAS_NUM_THREADS, as before
        torch.manual_seed(1)
        model = Model(emb, bool(sparse), impl)
        opt = torch.optim.SGD(model.parameters(), lr=args.lr)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.binary_cross_entropy_with_logits(model(x_num, x_cat, x_flat), y, reduction="none").mean(0).sum()
            loss.backward()
            opt.step()
            return loss

        rates = steps_per_second(step, args.warmup_seconds, args.windows, args.min_seconds)
        # CPU seconds per step over a few more steps (every thread's): on a busy machine, with one
        # thread, close to the step's time on a quiet one.
        c0 = time.process_time()
        for _ in range(args.cpu_steps):
            step()
        cpu = (time.process_time() - c0) / max(1, args.cpu_steps)
        final = float(step().detach())
        records.append(dict(
            system="pytorch", backend="cpu", metric="train_steps_per_s", unit="steps/s",
            median=statistics.median(rates), min=min(rates), max=max(rates), samples=rates,
            embeddings=emb, sparse=bool(sparse), experts_impl=impl, threads=torch.get_num_threads(), loss=final, cpu_seconds_per_step=cpu,
        ))
        sys.stderr.write(f"pytorch {emb} sparse={bool(sparse)} {impl} threads={threads}: {records[-1]['median']:.3f} steps/s\n")

    records.append(dict(
        system="pytorch", backend="cpu", metric="info", version=torch.__version__, python=sys.executable,
        blas=blas_in_use(torch), parameters=sum(p.numel() for p in Model("concat", False, "loop").parameters()),
    ))
    json.dump(records, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
