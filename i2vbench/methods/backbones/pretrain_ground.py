"""Pretraining the embedded grounding ILFM (tinyground) on SynthVid *stills* with boxes and phrases.

Every step renders fresh stills (:func:`~i2vbench.datasets.synthvid.grounding.grounding_stills`,
batch ``i`` from ``(seed, i)``) and pairs each with two phrases: a referring expression of one
visible object, and a category name (a shape present in the still, or with probability
``absent`` one that is not: a negative, where every query should score low). The towers start
from the shipped tinyclip and train at ``tower_lr_scale`` of the rate of the new layers.

Category split: the phrases cover **all** shapes, novel ones (world.NOVEL_SHAPES) included. The
open-vocabulary question of OV-MOT is whether a *tracker* trained on base categories handles
novel ones; the detector it stands on plays Grounding DINO / OWL-ViT, which were pretrained on
web-scale phrases that name most categories, so a grounding model that has seen the names is
the realistic setting. The metrics report base and novel AP apart.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from i2vbench.datasets.synthvid.grounding import (
    GroundingStills,
    Phrase,
    category_phrase,
    category_phrases,
    grounding_stills,
    referring_phrase,
    referring_phrases,
)
from i2vbench.datasets.synthvid.world import NOVEL_SHAPES, SHAPES
from i2vbench.devices import autocast
from i2vbench.methods.backbones.pretrain import (
    environment,
    lr_at,
    param_groups,
    pretraining_torch,
    stream_seed,
)
from i2vbench.methods.backbones.tinyground import (
    TinyGround,
    TinyGroundConfig,
    box_cxcywh_to_xyxy,
    box_xyxy_to_cxcywh,
    set_loss,
)
from i2vbench.metrics.detection import average_precision, box_iou


@dataclass
class GroundPretrainConfig:
    """Defaults: the recipe of the shipped tinyground."""

    steps: int = 400
    batch_size: int = 48  # stills per step (two phrases each)
    lr: float = 4e-4
    tower_lr_scale: float = 0.25
    min_lr_ratio: float = 0.05
    warmup_steps: int = 50
    weight_decay: float = 0.05
    seed: int = 0
    absent: float = 0.3  # share of category phrases naming a shape not in the still
    event: float = 0.3  # share of referring expressions that go on with the event underway
    init: str | None = "tinyclip"  # the towers' start: a shipped tinyclip name or directory; None: random
    eval_stills: int = 400
    eval_every: int = 0  # 0: evaluate at the end only
    bf16: bool = True
    threads: int = 2

    def __post_init__(self) -> None:
        self.warmup_steps = min(self.warmup_steps, self.steps)  # a run shorter than the warm-up is all warm-up


@dataclass
class PairBatch:
    """Phrases of a batch of stills with their (padded) targets."""

    texts: list[str]
    image_index: torch.Tensor  # (P,) still of each phrase
    boxes: torch.Tensor        # (P, K, 4) cxcywh in [0, 1] of every visible object of the still
    valid: torch.Tensor        # (P, K) bool
    referred: torch.Tensor     # (P, K) bool: the objects the phrase names


def pair_batch(data: GroundingStills, phrases: list[Phrase]) -> PairBatch:
    s = data.images.shape[1]
    idx = np.array([p.still for p in phrases], np.int64)
    boxes = box_xyxy_to_cxcywh(torch.from_numpy(data.boxes[idx] / s))
    ref = torch.zeros(data.visible[idx].shape, dtype=torch.bool)
    for r, p in enumerate(phrases):
        ref[r, list(p.targets)] = True
    return PairBatch([p.text for p in phrases], torch.from_numpy(idx), boxes, torch.from_numpy(data.visible[idx]), ref)


def training_phrases(data: GroundingStills, rng: np.random.Generator, cfg: GroundPretrainConfig) -> list[Phrase]:
    """Per still: one referring expression (of a random visible object) and one category name."""
    out: list[Phrase] = []
    for i in range(len(data)):
        vis = np.flatnonzero(data.visible[i])
        if len(vis):
            j = int(vis[rng.integers(len(vis))])
            text = referring_phrase(data, i, j, rng, cfg.event)
            if text is not None:
                out.append(Phrase(i, text, (j,), "referring"))
        present = sorted({int(data.shape[i, j]) for j in vis})
        if present and rng.random() >= cfg.absent:
            k = present[int(rng.integers(len(present)))]
        else:
            k = int(rng.integers(len(SHAPES)))
        out.append(category_phrases(data, i, [k])[0])
    return out


@torch.no_grad()
def predict(model: TinyGround, data: GroundingStills, phrases: list[Phrase], bf16: bool = True,
            batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(P, Q, 4)`` xyxy pixels and phrase scores ``(P, Q)`` of each phrase on its still."""
    s = data.images.shape[1]
    tokens = []
    with autocast(bf16):
        for a in range(0, len(data), batch):
            tokens.append(model.image_tokens(model.preprocess(torch.from_numpy(data.images[a:a + batch]))))
        tok = torch.cat(tokens)
        boxes, scores = [], []
        for a in range(0, len(phrases), batch):
            ps = phrases[a:a + batch]
            out = model.ground(tok, [p.text for p in ps], torch.tensor([p.still for p in ps]))
            boxes.append(box_cxcywh_to_xyxy(out.boxes[-1].float()).clamp(0, 1) * s)
            scores.append(out.match[-1].float().sigmoid())
    return torch.cat(boxes).numpy(), torch.cat(scores).numpy()


def detection_ap(data: GroundingStills, phrases: list[Phrase], boxes: np.ndarray, scores: np.ndarray,
                 iou: float = 0.5) -> dict[str, float]:
    """AP@iou per category (its name as the prompt on every still), and means over all / base /
    novel categories."""
    per: dict[str, float] = {}
    for k, name in enumerate(SHAPES):
        rows = [r for r, p in enumerate(phrases) if p.kind == "category" and p.text == category_phrase(k)]
        if not rows:
            continue
        gt = {phrases[r].still: data.boxes[phrases[r].still, list(phrases[r].targets)] for r in rows}
        q = boxes.shape[1]
        ap = average_precision(np.repeat([phrases[r].still for r in rows], q), scores[rows].ravel(),
                               boxes[rows].reshape(-1, 4), gt, iou)
        if not math.isnan(ap):
            per[name] = ap
    out = {f"box_ap50/{k}": v for k, v in per.items()}
    out["box_ap50"] = float(np.mean(list(per.values())))
    novel = [v for k, v in per.items() if k in NOVEL_SHAPES]
    base = [v for k, v in per.items() if k not in NOVEL_SHAPES]
    out["box_ap50_base"] = float(np.mean(base)) if base else float("nan")
    out["box_ap50_novel"] = float(np.mean(novel)) if novel else float("nan")
    return out


def referring_accuracy(data: GroundingStills, phrases: list[Phrase], boxes: np.ndarray, scores: np.ndarray,
                       iou: float = 0.5) -> float:
    """Share of referring expressions whose top-scoring box has IoU >= ``iou`` with the target."""
    hits = []
    for r, p in enumerate(phrases):
        top = boxes[r, int(np.argmax(scores[r]))]
        hits.append(box_iou(top, data.boxes[p.still, p.targets[0]])[0, 0] >= iou)
    return float(np.mean(hits))


@dataclass
class GroundEvalSet:
    data: GroundingStills
    categories: list[Phrase]
    referring: list[Phrase]
    referring_event: list[Phrase]

    @classmethod
    def build(cls, n: int, seed: int) -> GroundEvalSet:
        data = grounding_stills(n, seed)
        rng = np.random.default_rng([seed, 0xE7])
        cats = [p for i in range(n) for p in category_phrases(data, i)]
        ref = [p for i in range(n) for p in referring_phrases(data, i, rng)]
        ref_ev = [p for i in range(n) for p in referring_phrases(data, i, rng, event=1.0)]
        return cls(data, cats, ref, ref_ev)


def evaluate(model: TinyGround, ev: GroundEvalSet, bf16: bool = True) -> dict[str, float]:
    """Held-out box AP@0.5 (category names as prompts) and referring accuracy (top box IoU >= 0.5),
    also with the event named ("the red circle that moves to the left")."""
    was = model.training
    model.eval()
    b, s = predict(model, ev.data, ev.categories, bf16)
    out = detection_ap(ev.data, ev.categories, b, s)
    b, s = predict(model, ev.data, ev.referring, bf16)
    out["referring_acc"] = referring_accuracy(ev.data, ev.referring, b, s)
    b, s = predict(model, ev.data, ev.referring_event, bf16)
    out["referring_acc_with_event"] = referring_accuracy(ev.data, ev.referring_event, b, s)
    model.train(was)
    return out


def prior_metrics(ev: GroundEvalSet, train: GroundingStills) -> dict[str, float]:
    """A trivial box prior: every phrase gets the mean training box, with one constant score."""
    s = train.images.shape[1]
    mean = train.boxes[train.visible].mean(0)
    one = lambda ps: (np.broadcast_to(mean, (len(ps), 1, 4)).copy(), np.ones((len(ps), 1)))  # noqa: E731
    out = {"prior_" + k: v for k, v in detection_ap(ev.data, ev.categories, *one(ev.categories)).items()
           if "/" not in k}
    out["prior_referring_acc"] = referring_accuracy(ev.data, ev.referring, *one(ev.referring))
    out["prior_box"] = [round(float(v) / s, 4) for v in mean]
    return out


def build_model(cfg: GroundPretrainConfig, model_config: TinyGroundConfig | None = None) -> TinyGround:
    torch.manual_seed(cfg.seed)
    mc = model_config or TinyGroundConfig()
    if cfg.init:
        from i2vbench.methods.backbones.checkpoint import load_tinyclip
        from i2vbench.methods.backbones.pretrain import resolve_init

        clip = load_tinyclip(resolve_init(cfg.init))
        mc.clip = clip.config.to_dict()
        model = TinyGround(mc)
        model.clip.load_state_dict(clip.state_dict())
    else:
        model = TinyGround(mc)
    return model


def pretrain_ground(cfg: GroundPretrainConfig, *, model_config: TinyGroundConfig | None = None,
                    progress: bool = True, log: Callable[[str], None] = print) -> tuple[TinyGround, dict]:
    """Train tinyground; return it and the record for ``metrics.json``."""
    from tqdm import tqdm

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with pretraining_torch(cfg.threads):
        model = build_model(cfg, model_config)
        model.train()
        tower = {id(p) for p in model.clip.parameters()}
        groups = []
        for g in param_groups(model, cfg.weight_decay):
            for is_tower in (True, False):
                ps = [p for p in g["params"] if (id(p) in tower) == is_tower]
                if ps:
                    groups.append({"params": ps, "weight_decay": g["weight_decay"],
                                   "scale": cfg.tower_lr_scale if is_tower else 1.0})
        opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6, fused=False, foreach=True)
        ev = GroundEvalSet.build(cfg.eval_stills, stream_seed(cfg.seed, 1, 0)) if cfg.eval_stills else None
        history: list[dict] = []
        losses: list[float] = []
        t0 = time.perf_counter()
        bar = tqdm(range(cfg.steps), desc="pretrain tinyground", disable=not progress, mininterval=2.0)
        for step in bar:
            data = grounding_stills(cfg.batch_size, stream_seed(cfg.seed, 0, step))
            batch = pair_batch(data, training_phrases(data, np.random.default_rng([cfg.seed, step, 0x7A]), cfg))
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg) * g["scale"]
            with autocast(cfg.bf16):
                out = model(model.preprocess(torch.from_numpy(data.images)), batch.texts, batch.image_index)
            loss, parts = set_loss(out, batch.boxes, batch.valid, batch.referred)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
            last = step + 1 == cfg.steps
            if ev is not None and (last or (cfg.eval_every and (step + 1) % cfg.eval_every == 0)):
                m = evaluate(model, ev, cfg.bf16)
                history.append({"step": step + 1, "loss": float(np.mean(losses[-50:])),
                                "elapsed_s": round(time.perf_counter() - t0, 1), **m})
                msg = " ".join(f"{k}={v:.4f}" for k, v in history[-1].items() if "/" not in k and k != "step")
                (bar.write if progress else log)(f"step {step + 1}: {msg}")
        model.eval()
        metrics = {
            **({k: v for k, v in history[-1].items() if k not in {"step", "loss", "elapsed_s"}} if history else {}),
            **(prior_metrics(ev, grounding_stills(2000, stream_seed(cfg.seed, 0, 10**6))) if ev else {}),
            "final_loss": float(np.mean(losses[-50:])) if losses else None,
            "steps": cfg.steps,
            "train_stills": cfg.steps * cfg.batch_size,
            "wall_time_s": round(time.perf_counter() - t0, 1),
            "cpu_time_s": round(time.process_time(), 1),
            "seed": cfg.seed,
            "config": asdict(cfg),
            "eval": {"stills": cfg.eval_stills, "seed": stream_seed(cfg.seed, 1, 0),
                     "category_phrases": len(ev.categories) if ev else 0,
                     "referring_phrases": len(ev.referring) if ev else 0},
            "history": history,
            **environment(cfg.threads),
        }
        return model, metrics
