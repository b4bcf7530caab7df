"""Joining a torchrun job: one process per device, PyTorch's own process group.

``torchrun --nproc-per-node N -m codings train ...`` sets RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous address in the environment; :func:`init_from_env` joins that group (gloo on CPUs,
NCCL on GPUs) and picks this process's device. ``codings.fit`` then sees the initialised group
and trains with DistributedDataParallel; nothing changes for a single process.
"""

from __future__ import annotations

import os

import torch

from .train import distributed_info, resolve_device


def init_from_env(device: str = "auto") -> torch.device:
    """Join the process group described by torchrun's environment, if any; return the device."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1 or not dist.is_available():
        return dev
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return dev


def is_main_process() -> bool:
    return distributed_info()[0] == 0


def shutdown() -> None:
    """Leave the process group together: every rank waits at a barrier, then destroys the group.

    (The collectives of :func:`codings.fit` also wait until gloo's worker threads have let go
    of their tensors, see ``train._released``: a thread still holding one at interpreter exit
    aborted the process.)"""
    from datetime import timedelta

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=timedelta(seconds=120))
            else:
                dist.barrier()
        except RuntimeError:
            pass  # a rank that failed or left already: nothing to wait for
        dist.destroy_process_group()
