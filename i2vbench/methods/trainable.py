"""The trainable-method base every named method of every task builds on.

What all trained methods share lives here once: the training loop (AdamW, linear warm-up then
cosine decay, gradient clipping, a progress bar on the worker's own row), optimiser-step
counting, parameter counts, and the declaration of what a method reads from the features. A
task's base class (e.g. :class:`~i2vbench.methods.tvg.base.TVGMethod`) adds only how its splits
are batched and how predictions are made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from i2vbench.methods.paradigms.common import count_parameters
from i2vbench.parallel import worker_slot


@dataclass
class TrainConfig:
    """The recipe of the shared loop; a method config carries one in its ``train`` field."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-4
    warmup_frac: float = 0.05
    grad_clip: float = 0.1


class TrainableMethod(nn.Module):
    """A method trained by :meth:`fit` on a task's training split.

    Class-level declarations the runner reads before building the method:

    - ``config_class``: the dataclass of the method's settings; a run config's ``overrides``
      reach each of its fields (and the fields of its ``train`` :class:`TrainConfig`);
    - ``needs``: inputs (see :data:`i2vbench.datasets.features.INPUTS`) without which the method
      cannot run; the runner skips it, with the reason, when the features lack one;
    - ``uses``: inputs it reads when the features have them, and does without otherwise.

    The constructor names the values it needs from the run (feature widths, the backbone, its
    ``config``) as parameters; the runner passes exactly those.
    """

    config_class: ClassVar[type | None] = None
    needs: ClassVar[frozenset[str]] = frozenset()
    uses: ClassVar[frozenset[str]] = frozenset()
    train_config: TrainConfig

    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters."""
        return count_parameters(self)

    def steps_per_epoch(self, n_items: int) -> int:
        """Optimiser steps one epoch over ``n_items`` training items takes."""
        return math.ceil(n_items / self.train_config.batch_size)

    def train_steps(self, n_items: int) -> int:
        """Optimiser steps of the whole recipe; the runner starts the longest first."""
        return self.train_config.epochs * self.steps_per_epoch(n_items)

    def epoch_order(self, train: Any, rng: np.random.Generator) -> np.ndarray:
        """The order items are visited in one epoch (batches are consecutive runs of it)."""
        return rng.permutation(len(train))

    def batch(self, split: Any, idx: np.ndarray) -> Any:
        """The items ``idx`` of ``split`` as one batch for :meth:`loss`."""
        raise NotImplementedError

    def loss(self, batch: Any) -> dict[str, torch.Tensor]:
        """Named loss terms; their sum is minimised."""
        raise NotImplementedError

    def start_fit(self, train: Any) -> None:
        """Called once before the first step (e.g. to take feature statistics of ``train``)."""

    def param_groups(self) -> list[dict[str, Any]]:
        """AdamW parameter groups; a group's ``lr_scale`` multiplies the recipe's lr. A method that
        fine-tunes its ILFM (a ``backbone`` module and a ``backbone_lr_scale`` in its config) trains
        the ILFM at that fraction of the lr and its new modules at the lr, as CLIP4Clip does."""
        scale = getattr(getattr(self, "config", None), "backbone_lr_scale", None)
        backbone = getattr(self, "backbone", None)
        if scale is None or not isinstance(backbone, nn.Module):
            return [{"params": [p for p in self.parameters() if p.requires_grad]}]
        ilfm = {id(p) for p in backbone.parameters()}
        return [{"params": list(backbone.parameters()), "lr_scale": scale},
                {"params": [p for p in self.parameters() if id(p) not in ilfm]}]

    def fit(self, train: Any, seed: int = 0, progress: bool = True) -> list[float]:
        """The shared loop: AdamW, linear warm-up then cosine decay, grad clipping; returns the
        mean loss of each epoch (and keeps every step's in ``self.loss_curve``).

        Under ``torchrun`` (a torch.distributed process group) the method is wrapped in
        ``DistributedDataParallel`` and each global batch of ``batch_size`` items is split over
        the ranks by a ``DistributedSampler`` over the epoch's order: rank r takes the order's
        positions r, r + W, ... of each batch, so the ranks together see exactly the batches of
        one process, and DDP's mean of their gradients is the gradient of the global batch's mean
        loss. Every rank draws the same order (same ``seed``); torch's stream (dropout) is seeded
        per rank; the reported losses are the global batches' (mean over ranks); only rank 0
        shows progress.

        On the run's device (:mod:`i2vbench.devices`) the method and each batch move there for
        training, and the method comes back to the CPU after it, where prediction runs.
        """
        from i2vbench.devices import current, to_device
        from i2vbench.distributed import all_mean, rank_and_world

        device = current()
        self.to(device)
        cfg = self.train_config
        rank, world = rank_and_world()
        rng = np.random.default_rng(seed)
        if world > 1:
            if cfg.batch_size % world:
                from i2vbench.errors import BenchError

                raise BenchError(f"{type(self).__name__}: batch_size {cfg.batch_size} does not split over "
                                 f"{world} processes; the global batch must be a multiple of the world size")
            if rank:
                torch.manual_seed(seed + 7919 * rank)  # rank 0 keeps the single-process stream
        self.start_fit(train)
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in self.param_groups()]
        params = [p for g in groups for p in g["params"]]
        # foreach: one multi-tensor update instead of ~10 small ops per parameter tensor (on the CPU torch defaults
        # to the per-tensor loop): Tem-Adapter's 61 tensors 2.5 ms a step against 3.0, the same values to the bit
        # (seed-0 loss curves and predictions equal on the VideoQA and TVG methods)
        opt = torch.optim.AdamW([{"params": g["params"], "lr": cfg.lr * g.get("lr_scale", 1.0)} for g in groups],
                                lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        steps_per_epoch = self.steps_per_epoch(len(train))
        total = cfg.epochs * steps_per_epoch
        warmup = max(1, int(cfg.warmup_frac * total))

        def lr_at(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        self.train()
        compute_loss = self.loss if world == 1 else _ddp(self)
        local_batch = cfg.batch_size // world
        history: list[float] = []
        self.loss_curve: list[float] = []
        bar = tqdm(total=total, desc=f"train {type(self).__name__}", unit="step", disable=not progress or rank > 0,
                   leave=False, position=worker_slot())
        for epoch in range(cfg.epochs):
            order = self.epoch_order(train, rng)
            if world > 1:
                order = _rank_share(order, rank, world, epoch)
            epoch_loss = 0.0
            for start in range(0, len(order), local_batch):
                losses = compute_loss(to_device(self.batch(train, order[start:start + local_batch]), device))
                total_loss = sum(losses.values())
                opt.zero_grad(set_to_none=True)
                total_loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                sched.step()
                step_loss = all_mean(float(total_loss.detach()))
                self.loss_curve.append(step_loss)
                epoch_loss += step_loss
                bar.update(1)
                bar.set_postfix(loss=f"{step_loss:.3f}")
            history.append(epoch_loss / steps_per_epoch)
        bar.close()
        self.eval()
        self.to("cpu")
        return history


class TrainingFree(TrainableMethod):
    """Put before a task's method base by a baseline with nothing to train: its ``fit``
    only reads what it needs of the training split in :meth:`~TrainableMethod.start_fit` (a
    window prior, a caption pool, answer counts), with no optimiser, no loss and no steps."""

    train_config = TrainConfig(epochs=0)

    def start_fit(self, train: Any) -> None:
        """What the baseline reads of the training split: nothing unless it says so (a task
        base's ``start_fit``, feature statistics for trained heads, is not run)."""

    def fit(self, train: Any, seed: int = 0, progress: bool = True) -> list[float]:
        self.start_fit(train)
        self.to("cpu")  # buffers made on the run's device (text embeddings): to the CPU, where every method predicts
        return []


class _LossOf(nn.Module):
    """``method.loss`` as a module's forward, so DistributedDataParallel sees every step's
    forward pass (its gradient bookkeeping hooks into ``forward``)."""

    def __init__(self, method: TrainableMethod) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        return self.method.loss(batch)


def _ddp(method: TrainableMethod) -> nn.Module:
    """The method's loss under DistributedDataParallel (parameters broadcast from rank 0; a
    method may leave some parameters out of a step's loss, e.g. a head of an unused input)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(_LossOf(method), find_unused_parameters=True)


def _rank_share(order: np.ndarray, rank: int, world: int, epoch: int) -> np.ndarray:
    """This rank's items of the epoch's ``order``, by torch's DistributedSampler over positions
    in it (no shuffling of its own: the order is the shuffle; padded to a multiple of the world
    size by repeating its start, as the sampler does)."""
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(range(len(order)), num_replicas=world, rank=rank, shuffle=False, drop_last=False)
    sampler.set_epoch(epoch)
    return np.asarray(order)[list(sampler)]
