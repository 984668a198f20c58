"""Where a run computes: ``bench run|extract --device cpu|cuda|cuda:N|mps``, one code path.

A run sets its device once (:func:`use`, around the whole run); what makes tensors asks
:func:`current`: the ILFM and the LM load onto it (:func:`~i2vbench.methods.backbones.load_backbone`,
:func:`~i2vbench.methods.backbones.lm.load_lm`), feature extraction encodes frames on it, and
the shared training loop moves the method and every batch to it
(:meth:`~i2vbench.methods.trainable.TrainableMethod.fit`). After training the method goes back
to the CPU, where prediction and scoring run for every device alike: what leaves a method for
the scorers is numpy, and the evaluation splits are small next to training. Under ``torchrun``
with CUDA each process takes ``cuda:LOCAL_RANK``.

bf16 autocast (:func:`autocast`) wraps the ILFM's forward passes where it was measured to pay:
on this machine's CPU (AMX bf16) about 2.3x for tinyclip's forward + backward
(``i2vbench/methods/vtr/base.py``); on CUDA it is the standard mixed precision; MPS runs in fp32.

Only the CPU path runs on the machine this suite is developed on (no GPU): ``--device cuda``
and ``--device mps`` are refused with a clear error where torch sees no such device.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch

from i2vbench.errors import BenchError

_CURRENT: ContextVar[str] = ContextVar("i2vbench_device", default="cpu")


def resolve(name: str) -> str:
    """``name`` checked against what this torch build and machine have: ``cpu``, ``cuda``
    (under torchrun: ``cuda:LOCAL_RANK``), ``cuda:N`` or ``mps``."""
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise BenchError(f"--device {name}: this torch build sees no CUDA device "
                             f"(torch {torch.__version__}, torch.cuda.is_available() is False)")
        n = torch.cuda.device_count()
        i = int(index) if index.isdigit() else int(os.environ.get("LOCAL_RANK", "0")) if not index else -1
        if not 0 <= i < n:
            raise BenchError(f"--device {name}: expected cuda or cuda:N with N < {n}")
        return f"cuda:{i}"
    if kind == "mps" and not index:
        if not torch.backends.mps.is_available():
            raise BenchError("--device mps: this torch build or machine has no MPS (Apple GPU) backend")
        return "mps"
    raise BenchError(f"--device {name!r}: expected cpu, cuda, cuda:N or mps")


@contextmanager
def use(name: str) -> Iterator[torch.device]:
    """Run the block on device ``name`` (checked by :func:`resolve`)."""
    token = _CURRENT.set(resolve(name))
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


def current() -> torch.device:
    return torch.device(_CURRENT.get())


def autocast(enabled: bool = True) -> torch.autocast:
    """bf16 autocast on the current device (CPU, CUDA); fp32 on MPS."""
    kind = current().type
    return torch.autocast("cpu" if kind == "mps" else kind, dtype=torch.bfloat16,
                          enabled=enabled and kind in ("cpu", "cuda"))


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor in it (in dataclasses, dicts, lists, tuples) on ``device``;
    anything else (numpy arrays, strings, numbers) as it is. A no-op on the CPU."""
    if device.type == "cpu":
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: to_device(getattr(obj, f.name), device)
                                           for f in dataclasses.fields(obj) if f.init})
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple) and not hasattr(obj, "_fields"):
        return type(obj)(to_device(v, device) for v in obj)
    return obj
