"""torch.distributed for runs launched by ``torchrun`` (or any launcher that sets its variables).

``torchrun --nproc_per_node N -m i2vbench run --task T`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`init_from_env`
joins them into one process group (gloo on CPU, NCCL on GPUs). Everything else asks
:func:`rank_and_world`: a single process is rank 0 of 1 and nothing here touches
torch.distributed then. The training loop wraps a method in ``DistributedDataParallel``
(:meth:`~i2vbench.methods.trainable.TrainableMethod.fit`); the evaluation splits are shared out
over the ranks and their predictions and metrics gathered (:func:`all_gather_object`); rank 0
alone logs, shows progress and writes.
"""

from __future__ import annotations

import os
from typing import Any


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_and_world()[0] == 0


def launched_world() -> int:
    """``WORLD_SIZE`` as a launcher set it (1 when not launched by one)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group a launcher described in the environment; True if there is one.

    Backend: NCCL for CUDA devices, gloo otherwise (CPU; also what MPS runs use).
    """
    import torch.distributed as dist

    if launched_world() <= 1 or (dist.is_available() and dist.is_initialized()):
        return dist.is_available() and dist.is_initialized()
    if not dist.is_available():
        from i2vbench.errors import BenchError

        raise BenchError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    # DistributedDataParallel imports torch._dynamo; imported after the group exists, it holds ten
    # references to the group that destroy_process_group cannot drop, so gloo's worker threads
    # outlive shutdown() into interpreter exit, where a thread that frees a Python-owned tensor
    # aborts the process ("terminate called without an active exception": rank 1 of
    # tests/test_ddp.py, twice in CI). Imported first, it takes none (test_ddp.py checks the threads).
    import torch._dynamo  # noqa: F401

    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return True


def local_world() -> int:
    """Processes of this run on this machine (torchrun's ``LOCAL_WORLD_SIZE``)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1"))))
    except ValueError:
        return 1


def barrier() -> None:
    import torch.distributed as dist

    if rank_and_world()[1] > 1:
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in a single process); pickled by
    torch.distributed between this run's own processes, never used on data read from files."""
    import torch.distributed as dist

    if rank_and_world()[1] <= 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_mean(value: float) -> float:
    """The mean of ``value`` over ranks (``value`` itself in a single process)."""
    import torch
    import torch.distributed as dist

    rank, world = rank_and_world()
    if world <= 1:
        return value
    from i2vbench.devices import current

    # NCCL reduces tensors on the process's GPU, gloo on the CPU
    t = torch.tensor([value], dtype=torch.float64, device=current() if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / world


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def global_count(n: float) -> float:
    """The mean over ranks of a per-batch count a loss is normalised by (DETR's ``num_boxes``).

    A loss that divides a sum by how many items (matched spans, positive clips, ...) its batch
    has is not the mean of per-rank losses: dividing each rank's sum by the *mean* count over
    ranks makes DDP's averaged gradient that of the global batch's loss, as DETR does. Every
    rank must call it at the same point of the step (it is a collective); ``n`` itself in a
    single process.
    """
    return all_mean(float(n)) if rank_and_world()[1] > 1 else n
