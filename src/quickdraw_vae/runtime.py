"""Threads, device and seeds: set once per process, from params, never left to defaults."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .errors import QuickdrawError


def setup(threads: int, seed: int) -> None:
    # PyTorch's default thread count collapses when another process holds a core.
    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    # Late in training, weights and gradients reach subnormal floats, which x86 CPUs handle in
    # microcode: flushing them to zero speeds training up with the same results (docs/performance.md).
    torch.set_flush_denormal(True)
    seed_everything(seed)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device_of(module: torch.nn.Module) -> torch.device:
    """Where a model's weights are: every scoring path moves its inputs there, batch by batch."""
    return next(module.parameters()).device


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise QuickdrawError("params.yaml: runtime.device is cuda but no CUDA device is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise QuickdrawError("params.yaml: runtime.device is mps but MPS is not available")
    return torch.device(name)


def run_side_by_side(fn, calls: list[tuple], workers: int, start_method: str = "spawn") -> list:
    """`[fn(*args) for args in calls]`, up to `workers` of them at once in other processes.

    The first failure stops the others and is raised here; with one worker everything runs in
    this process, one call after the other. `fork` starts workers ~2 s sooner (no second PyTorch
    import), but only a process that has not run a PyTorch operation yet may fork: a child would
    inherit its OpenMP thread pool.
    """
    if workers <= 1 or len(calls) <= 1:
        return [fn(*args) for args in calls]
    import multiprocessing
    import time

    pool = multiprocessing.get_context(start_method).Pool(workers)
    try:
        pending = [pool.apply_async(fn, args) for args in calls]
        while not all(p.ready() for p in pending):
            for p in pending:
                if p.ready() and not p.successful():
                    p.get()  # raises the worker's exception; `finally` stops the rest
            time.sleep(0.2)
        results = [p.get() for p in pending]
        # Let the workers exit on their own: killing them (terminate) can leave a semaphore behind,
        # and Python then warns about it on stderr at exit.
        pool.close()
        pool.join()
        return results
    finally:
        pool.terminate()
