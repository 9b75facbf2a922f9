"""Training across processes with PyTorch's own engine: `torch.distributed`, launched by `torchrun`.

With `runtime.processes` above 1 a training stage runs itself again under torchrun (one machine,
that many processes; or launch it with torchrun yourself, on several machines). Each process trains
the same model on its shard of every epoch (`DistributedSampler`), `DistributedDataParallel` averages
the gradients (gloo on the CPU, NCCL on GPUs, one GPU per process), and process 0 alone validates,
logs, keeps the resume state and writes the outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import torch.distributed as dist


def launched() -> bool:
    """Is this process one of several that torchrun started?"""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ


def relaunch(script: str, argv: list[str] | None, processes: int) -> int | None:
    """With `processes` above 1 and not yet under torchrun, run `script argv` (the command line's when None)
    again under torchrun as that many processes on this machine and return their exit code; else None."""
    if processes <= 1 or launched():
        return None
    argv = sys.argv[1:] if argv is None else list(map(str, argv))
    return subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            f"--nproc-per-node={processes}", script, *argv])


def threads_each(threads: int) -> int:
    """`runtime.threads` is the machine's: split among the processes torchrun started on it."""
    return max(1, threads // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def start(device: torch.device) -> torch.device:
    """Join the process group torchrun set up; the device this process trains on (its own GPU)."""
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def world() -> tuple[int, int]:
    """(rank, processes): (0, 1) outside torchrun."""
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_writer() -> bool:
    """Process 0 writes every output and log; the others only train."""
    return world()[0] == 0
