"""Pretraining the extra video model (:mod:`.tinyvideo`) on SynthVid clips with event labels.

Every sample is a short clip (``frames`` consecutive frames at SynthVid's 4 fps) of a freshly
sampled SynthVid scene, rendered through the same camera and H.264 round trip as the benchmark
videos, with per-frame labels from the scene's timed events: which motion is underway (one of
the nine MOTIONS; "stay" when none is), and the acting object's colour, shape and centre. The
clip's label is the motion covering most of its frames. Motion *direction* is the point: "move
left" and "move right" differ only in frame order, which a video model sees and an image model
cannot.

Scenes come from their own seed stream (``np.random.default_rng([seed, i, 0x71D])``), never
from a benchmark's video pool, so no task's val/test videos are seen in pretraining.
Augmentations keep the labels true: a horizontal flip swaps left and right; playing a clip
backwards turns every motion into its OPPOSITE (appear ↔ disappear, grow ↔ shrink).
Deterministic: the init from ``seed``, the clip set from ``(seed, i)``, the batch order and
augmentations from ``(seed, epoch)``; fresh processes with the same thread count give identical
weights.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F

from i2vbench.methods.backbones.tinyvideo import TinyVideo, TinyVideoConfig

IGNORE = -100


@dataclass
class VideoPretrainConfig:
    """Defaults: the recipe of the shipped tinyvideo (``bench pretrain --backbone tinyvideo``)."""

    train_clips: int = 3000
    eval_clips: int = 500
    frames: int = 8
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    min_lr_ratio: float = 0.02
    warmup_steps: int = 50
    weight_decay: float = 0.05
    seed: int = 0
    event_focus: float = 0.8  # share of clips whose window overlaps a chosen event
    aux_weight: float = 0.5  # weight of the actor colour / shape / centre losses
    max_objects: int = 4  # scenes of 1..max_objects objects (the benchmarks' have 3-4)
    grad_clip: float = 1.0
    threads: int = 1  # intra-op threads; the weights are deterministic for a given count
    codec: bool = True


@dataclass
class ClipSet:
    images: np.ndarray  # (n, T, S, S, 3) uint8
    motion: np.ndarray  # (n, T) index into MOTIONS of the event underway ("stay" if none)
    color: np.ndarray  # (n, T) the acting object's colour (IGNORE when none acts)
    shape: np.ndarray  # (n, T) its shape (IGNORE when none acts)
    center: np.ndarray  # (n, T, 2) its centre in [0, 1] (NaN when none acts)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def clip_motion(self) -> np.ndarray:
        """(n,) the motion covering most frames of each clip (ties: the lower MOTIONS index)."""
        k = int(self.motion.max()) + 1 if self.motion.size else 1
        return np.array([np.bincount(m, minlength=k).argmax() for m in self.motion], dtype=np.int64)


def event_clips(n: int, seed: int, frames: int = 8, event_focus: float = 0.8, codec: bool = True,
                image_size: int = 64, max_objects: int | None = None) -> ClipSet:
    """``n`` labelled clips; clip ``i`` depends only on ``(seed, i)``. With ``max_objects`` a
    scene has 1..max_objects objects (uniformly), else SceneConfig's 3..4."""
    from i2vbench.datasets.synthvid.codec import roundtrip
    from i2vbench.datasets.synthvid.render import render_frames
    from i2vbench.datasets.synthvid.world import MOTIONS, SceneConfig, sample_scene

    cfg = SceneConfig(image_size=image_size)
    stay = MOTIONS.index("stay")
    images = np.zeros((n, frames, image_size, image_size, 3), np.uint8)
    motion = np.full((n, frames), stay, np.int64)
    color = np.full((n, frames), IGNORE, np.int64)
    shape = np.full((n, frames), IGNORE, np.int64)
    center = np.full((n, frames, 2), np.nan, np.float32)
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0x71D])
        sc = sample_scene(rng, cfg, n_objects=int(rng.integers(1, max_objects + 1)) if max_objects else None)
        last = sc.n_frames - frames
        if sc.events and rng.random() < event_focus:
            ev = sc.events[int(rng.integers(len(sc.events)))]
            lo = max(0, math.ceil(ev.start * sc.fps) - frames + 2)
            hi = min(last, math.floor(ev.end * sc.fps) - 1)
            start = int(rng.integers(lo, hi + 1)) if hi >= lo else int(rng.integers(0, last + 1))
        else:
            start = int(rng.integers(0, last + 1))
        win = slice(start, start + frames)
        cx, cy, half, alpha = (a[win] for a in sc.exposed_state())
        k = len(sc.objects)
        images[i] = render_frames(cx, cy, half, alpha, np.broadcast_to(sc.shapes, (frames, k)),
                                  np.broadcast_to(sc.colors, (frames, k)), [sc.background] * frames,
                                  image_size, areas=False)[0]
        times = sc.times[win]
        for ev in sc.events:
            on = (times >= ev.start) & (times <= ev.end)
            if on.any():
                o = sc.objects[ev.obj]
                motion[i, on] = MOTIONS.index(ev.motion)
                color[i, on], shape[i, on] = o.color, o.shape
                center[i, on, 0] = sc.cx[win][on, ev.obj] / image_size
                center[i, on, 1] = sc.cy[win][on, ev.obj] / image_size
    if codec:
        for i in range(n):
            images[i] = roundtrip(images[i], cfg.fps)
    return ClipSet(images, motion, color, shape, center)


def _flip_and_reverse() -> tuple[np.ndarray, np.ndarray]:
    """Label maps (indices into MOTIONS) of a horizontal flip and of playing a clip backwards."""
    from i2vbench.datasets.synthvid.world import MOTIONS, OPPOSITE

    swap_lr = {"move left": "move right", "move right": "move left"}
    flip = np.array([MOTIONS.index(swap_lr.get(m, m)) for m in MOTIONS])
    reverse = np.array([MOTIONS.index(OPPOSITE.get(m, m)) for m in MOTIONS])
    return flip, reverse


def augment(batch: ClipSet, rng: np.random.Generator) -> ClipSet:
    """Per clip, with probability 1/2 each: mirror left-right, play backwards (labels follow)."""
    flip_map, rev_map = _flip_and_reverse()
    images, motion = batch.images.copy(), batch.motion.copy()
    color, shape, center = batch.color.copy(), batch.shape.copy(), batch.center.copy()
    for i in range(len(images)):
        if rng.random() < 0.5:
            images[i] = images[i][:, :, ::-1]
            motion[i] = flip_map[motion[i]]
            center[i, :, 0] = 1.0 - center[i, :, 0]
        if rng.random() < 0.5:
            images[i], motion[i] = images[i][::-1], rev_map[motion[i][::-1]]
            color[i], shape[i], center[i] = color[i][::-1], shape[i][::-1], center[i][::-1]
    return ClipSet(images, motion, color, shape, center)


def subset(data: ClipSet, idx: np.ndarray) -> ClipSet:
    return ClipSet(data.images[idx], data.motion[idx], data.color[idx], data.shape[idx], data.center[idx])


def losses(model: TinyVideo, batch: ClipSet, aux_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-frame motion CE + clip motion CE + ``aux_weight`` × (actor colour CE + actor shape CE
    + actor centre smooth-L1)."""
    out = model.heads(model(model.preprocess(batch.images)))
    motion = torch.from_numpy(batch.motion)
    ce = F.cross_entropy(out["motion"].flatten(0, 1).float(), motion.flatten())
    clip = F.cross_entropy(out["clip"].float(), torch.from_numpy(batch.clip_motion))
    acts = torch.from_numpy(batch.color).flatten() != IGNORE
    aux = torch.zeros(())
    if acts.any():
        aux = (F.cross_entropy(out["color"].flatten(0, 1).float(), torch.from_numpy(batch.color).flatten())
               + F.cross_entropy(out["shape"].flatten(0, 1).float(), torch.from_numpy(batch.shape).flatten())
               + 10 * F.smooth_l1_loss(out["center"].flatten(0, 1).float()[acts],
                                       torch.from_numpy(batch.center).flatten(0, 1)[acts], beta=0.05))
    loss = ce + clip + aux_weight * aux
    return loss, {"motion": ce.item(), "clip": clip.item(), "aux": aux.item()}


@torch.no_grad()
def evaluate(model: TinyVideo, data: ClipSet, batch: int = 64) -> dict[str, float]:
    """Held-out accuracies (see the README of the shipped checkpoint for each one's chance level).

    ``frame_motion_acc``: 9-way event underway per frame; ``frame_direction_acc``: on frames of
    a directed event, its logit above its OPPOSITE's (left vs right, grow vs shrink, appear vs
    disappear; chance 0.5, the image model's ceiling); ``clip_motion_acc`` /
    ``clip_direction_acc``: the same per clip from the clip head; ``actor_color_acc`` /
    ``actor_shape_acc``: the acting object's colour / shape on frames where one acts;
    ``actor_center_err_px``: mean distance of its predicted centre, in pixels.
    """
    from i2vbench.datasets.synthvid.world import MOTIONS, OPPOSITE

    was = model.training
    model.eval()
    keys = ("motion", "color", "shape", "center", "clip")
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    for i in range(0, len(data), batch):
        out = model.heads(model(model.preprocess(data.images[i:i + batch])))
        for k in keys:
            parts[k].append(out[k].float())
    model.train(was)
    out = {k: torch.cat(v).numpy() for k, v in parts.items()}
    opp = np.array([MOTIONS.index(OPPOSITE.get(m, m)) for m in MOTIONS])
    directed = np.array([m in OPPOSITE for m in MOTIONS])

    def direction(logits: np.ndarray, labels: np.ndarray) -> float:
        sel = directed[labels]
        lg, lb = logits[sel], labels[sel]
        r = np.arange(len(lb))
        return float((lg[r, lb] > lg[r, opp[lb]]).mean()) if len(lb) else float("nan")

    fm, flab = out["motion"].reshape(-1, len(MOTIONS)), data.motion.reshape(-1)
    acts = data.color.reshape(-1) != IGNORE
    cm, clab = out["clip"], data.clip_motion
    s = model.config.image_size
    err = np.linalg.norm(out["center"].reshape(-1, 2)[acts] - data.center.reshape(-1, 2)[acts], axis=1) * s
    recalls = [float((fm.argmax(1)[flab == k] == k).mean()) for k in range(len(MOTIONS)) if (flab == k).any()]
    return {
        "frame_motion_acc": float((fm.argmax(1) == flab).mean()),
        "frame_motion_balanced_acc": float(np.mean(recalls)),
        "frame_direction_acc": direction(fm, flab),
        "clip_motion_acc": float((cm.argmax(1) == clab).mean()),
        "clip_direction_acc": direction(cm, clab),
        "actor_color_acc": float((out["color"].reshape(-1, out["color"].shape[-1]).argmax(1)[acts]
                                  == data.color.reshape(-1)[acts]).mean()),
        "actor_shape_acc": float((out["shape"].reshape(-1, out["shape"].shape[-1]).argmax(1)[acts]
                                  == data.shape.reshape(-1)[acts]).mean()),
        "actor_center_err_px": float(err.mean()) if len(err) else float("nan"),
    }


def pretrain_tinyvideo(cfg: VideoPretrainConfig, *, model_config: TinyVideoConfig | None = None,
                       progress: bool = True, log: Callable[[str], None] = print) -> tuple[TinyVideo, dict]:
    """Train a TinyVideo from a seeded random init; return it and its ``metrics.json`` record."""
    from tqdm import tqdm

    from i2vbench.methods.backbones.pretrain import (
        environment,
        param_groups,
        pretraining_torch,
        stream_seed,
        warmup_cosine,
    )

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with pretraining_torch(cfg.threads):
        t0 = time.perf_counter()
        train = event_clips(cfg.train_clips, stream_seed(cfg.seed, 0, 0), cfg.frames, cfg.event_focus, cfg.codec,
                            max_objects=cfg.max_objects)
        held = event_clips(cfg.eval_clips, stream_seed(cfg.seed, 1, 0), cfg.frames, cfg.event_focus, cfg.codec,
                           max_objects=cfg.max_objects)
        t_data = time.perf_counter() - t0
        torch.manual_seed(cfg.seed)
        model = TinyVideo(model_config or TinyVideoConfig())
        model.train()
        opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98),
                                fused=False, foreach=True)
        per_epoch = len(train) // cfg.batch_size
        total = per_epoch * cfg.epochs
        history: list[dict] = []
        step = 0
        bar = tqdm(total=total, desc="pretrain tinyvideo", disable=not progress, mininterval=2.0)
        for epoch in range(cfg.epochs):
            rng = np.random.default_rng([cfg.seed, epoch, 0xE90])
            order = rng.permutation(len(train))
            run: list[float] = []
            for b in range(per_epoch):
                batch = augment(subset(train, order[b * cfg.batch_size:(b + 1) * cfg.batch_size]), rng)
                for g in opt.param_groups:
                    g["lr"] = warmup_cosine(step, total, cfg.lr, cfg.warmup_steps, cfg.min_lr_ratio)
                loss, _ = losses(model, batch, cfg.aux_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                run.append(loss.item())
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(run[-20:]):.3f}", refresh=False)
            m = evaluate(model, held)
            history.append({"epoch": epoch + 1, "step": step, "loss": float(np.mean(run)),
                            "elapsed_s": round(time.perf_counter() - t0, 1), **m})
            msg = " ".join(f"{k}={v:.4f}" for k, v in history[-1].items() if k not in ("epoch", "step"))
            (bar.write if progress else log)(f"epoch {epoch + 1}: {msg}")
        bar.close()
        model.eval()
        n_params = sum(p.numel() for p in model.parameters())
        metrics = {
            **{k: v for k, v in history[-1].items() if k not in ("epoch", "step", "loss", "elapsed_s")},
            "chance": {"frame_motion_acc": 1 / 9, "frame_direction_acc": 0.5, "clip_direction_acc": 0.5,
                       "actor_color_acc": 1 / 8, "actor_shape_acc": 1 / 8},
            "final_loss": history[-1]["loss"],
            "steps": total, "parameters": n_params,
            "train_clips": cfg.train_clips, "eval_clips": cfg.eval_clips,
            "eval_seed": stream_seed(cfg.seed, 1, 0),
            "wall_time_s": round(time.perf_counter() - t0, 1), "data_time_s": round(t_data, 1),
            "seed": cfg.seed, "config": asdict(cfg), "model_config": (model_config or TinyVideoConfig()).to_dict(),
            "history": history,
            **environment(cfg.threads),
        }
        return model, metrics
