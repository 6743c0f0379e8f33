#!/usr/bin/env python3
"""The straightforward peer of bench/data.ts (keep in step with it).

pandas read_csv of the bench CSV, then the same preprocessing as hydranet's fitSchema +
applySchema: numeric columns standardised (population std, 1 when constant), missing values
filled with the mean (0 after standardising) plus a missing-indicator column where a column has
missing values; categorical columns one-hot with get_dummies (dummy_na=True) into one float32
numpy array. Then PyTorch CPU inference (torch.no_grad, batch 256) of the same MLP as the bench:
trunk 64-32 ReLU, heads 4 (softmax) + 1 (sigmoid).

Prints one JSON object on stdout: per repetition the seconds of read_csv and of the
preprocessing, and the predict rows/s; the features, threads and versions. Exits 3 when pandas,
numpy or torch cannot be imported (the message on stderr). Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import sys
import time

LABELS = ["kind", "flag"]
MISSING = ["", "?", "NA"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    try:
        import numpy as np
        import pandas as pd
        import torch
    except ImportError as e:
        print(f"cannot import {e.name}: {e}", file=sys.stderr)
        sys.exit(3)
    torch.set_num_threads(args.threads)
    out = {"read": [], "preprocess": [], "predict": [], "threads": torch.get_num_threads(),
           "versions": {"pandas": pd.__version__, "numpy": np.__version__, "torch": torch.__version__}}
    model = None
    for _ in range(args.reps):
        t0 = time.perf_counter()
        df = pd.read_csv(args.csv, na_values=MISSING, keep_default_na=False)
        out["read"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        inputs = df.drop(columns=LABELS)
        numeric = inputs.select_dtypes(include="number")
        categorical = inputs.drop(columns=numeric.columns)
        mean = numeric.mean()
        std = numeric.std(ddof=0).replace(0, 1)
        parts = [((numeric - mean) / std).fillna(0)]
        miss = numeric.isna()
        miss = miss.loc[:, miss.any()]
        parts.append(miss.add_suffix(":missing"))
        parts.append(pd.get_dummies(categorical, dummy_na=True))
        x = np.ascontiguousarray(pd.concat(parts, axis=1).to_numpy(dtype=np.float32))
        out["preprocess"].append(time.perf_counter() - t0)
        out["features"] = x.shape[1]
        if model is None:
            torch.manual_seed(1)
            model = torch.nn.Sequential(
                torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(),
                torch.nn.Linear(64, 32), torch.nn.ReLU(),
                torch.nn.Linear(32, 5),
            ).eval()
        xt = torch.from_numpy(x)
        with torch.no_grad():
            model(xt[:256])  # warm-up
            t0 = time.perf_counter()
            for s in range(0, xt.shape[0], 256):
                logits = model(xt[s:s + 256])
                torch.softmax(logits[:, :4], dim=1)
                torch.sigmoid(logits[:, 4:])
            out["predict"].append(xt.shape[0] / (time.perf_counter() - t0))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
