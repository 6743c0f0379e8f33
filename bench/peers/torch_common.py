"""What the PyTorch peers share (torch_mlp.py, torch_lenet.py, ../embedding/torch_embedding.py;
imported by path: each puts this folder on sys.path): the timing windows' command-line
arguments, importing torch (exit 3 with the reason when it cannot be imported, which the bench
turns into how to install it), and setting a thread count for torch and, where asked, for
OpenBLAS itself (a Debian torch built with BLAS_INFO=generic does not pass its count on to
OpenBLAS, whose own count otherwise stays at OPENBLAS_NUM_THREADS)."""
import sys


def add_window_args(ap, windows, min_seconds, warmup_seconds=1.0):
    """--windows, --min-seconds and --warmup-seconds, with the script's own defaults."""
    ap.add_argument("--windows", type=int, default=windows)
    ap.add_argument("--min-seconds", type=float, default=min_seconds)
    ap.add_argument("--warmup-seconds", type=float, default=warmup_seconds)


def import_torch():
    """(torch, torch.nn, torch.nn.functional); exits 3 when torch cannot be imported."""
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as e:
        sys.stderr.write(f"{sys.executable} cannot import torch ({e})\n")
        sys.exit(3)
    return torch, nn, F


def set_blas_threads(library, n):
    """OpenBLAS's own thread count set to n through `library` (the BLAS torch calls); the count it
    then reports, or None when `library` is not OpenBLAS (or is None)."""
    import ctypes
    if not library:
        return None
    try:
        h = ctypes.CDLL(library)
        h.openblas_set_num_threads(ctypes.c_int(n))
        return int(h.openblas_get_num_threads())
    except (AttributeError, OSError):
        return None


def set_threads(torch, n, blas_library=None):
    """torch.set_num_threads(n), and OpenBLAS's own count too when `blas_library` is given;
    returns (torch's thread count, OpenBLAS's or None)."""
    torch.set_num_threads(n)
    return torch.get_num_threads(), set_blas_threads(blas_library, n)
