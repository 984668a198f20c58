"""Pretraining the embedded ILFM: image-text contrastive learning on single SynthVid *stills*.

The model sees one still and its alt-text per sample (no second frame, no time input). The
camera's exposure shows the kind of change underway in a still, and the alt-text may name it in
the task sentences' words, as a photo's alt-text names the action it caught; its direction is
never visible in one still. What the model knows about direction and order afterwards has to
come from the transfer paradigms, as in the survey's setting. Everything is seeded: the init from ``seed``, and batch ``i`` of the
data stream from ``(seed, i)``, so two runs with the same arguments (fresh processes, same machine
and thread count) give bit-identical weights. Within one long-lived process that is not promised:
CPU GEMM kernels may block differently for differently aligned buffers, which changes rounding.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from i2vbench.devices import autocast
from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig

# (n, seed, single_object, partial, event_focus) -> (uint8 images (n, 64, 64, 3), captions,
# shape ids, colour ids, motion ids into MOTIONS of the event underway or None if none)
Frames = tuple[np.ndarray, list[str], np.ndarray, np.ndarray, "np.ndarray | None"]
FrameSource = Callable[[int, int, bool, float, float], Frames]
# attribute ("shape" / "color") -> one prompt per class id
Prompts = Callable[[str], list[str]]


@dataclass
class PretrainConfig:
    """Defaults: the recipe of the shipped tinyclip (v2), a stage that continues from tinyclip-v1
    on stills seen through the exposing camera with alt-text that names the event underway."""

    steps: int = 1500
    batch_size: int = 128
    lr: float = 3e-4
    min_lr_ratio: float = 0.02
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 2
    eval_every: int = 250
    eval_frames: int = 1000
    retrieval_pool: int = 256
    partial: float = 0.8  # share of named objects whose caption leaves attributes out
    single_object_fraction: float = 0.75  # share of each batch showing exactly one object
    # share of single-object captions that name the event and hide the shape ("a shape moves
    # left", "a red shape grows"): in-batch negatives that differ in the event alone
    event_focus: float = 0.3
    stop_after: int | None = None  # train only the first steps of the ``steps``-long schedule
    snapshot_dir: str | None = None  # if set, the checkpoint is written there at every eval
    # continue from this tinyclip checkpoint (a directory, or a shipped one by name); None: random init
    init: str | None = "tinyclip-v1"
    bf16: bool = True
    threads: int = 2
    workers: int = 1  # background processes rendering the next batches (0: render in-process)
    prefetch: int = 4

    def __post_init__(self) -> None:
        self.warmup_steps = min(self.warmup_steps, self.steps)  # a run shorter than the warm-up is all warm-up


def synthvid_frames(n: int, seed: int, single_object: bool = False, partial: float = 0.0,
                    event_focus: float = 0.0) -> Frames:
    """SynthVid stills with alt-text (the default data source).

    For single-object stills with ``partial > 0`` the captions are recomposed (same grammar and
    words) so that the shape is always named while size, colour and position are each left out
    with probability ``partial`` ("a circle", "a red circle moves up", "a large star on the
    left"); the event phrase, when the caption names one, is kept. With probability
    ``event_focus`` a still whose caption names its event gets the event and at most the colour
    instead ("a shape moves to the left", "a red shape grows"), the phrasing of the zero-shot
    motion prompts: as shape-only captions do for shape, these make the event the only thing
    that tells such captions apart within a batch.
    Shape is what the embedded model learns last; captions in which it is the only or nearly the
    only attribute give it in-batch negatives that differ in shape alone.
    """
    from i2vbench.datasets.synthvid import frame_caption_set
    from i2vbench.datasets.synthvid.text import noun_phrase, position_phrase

    s = frame_caption_set(n, seed, image_size=64, single_object=single_object,
                          partial=0.0 if single_object else partial)
    captions = list(s.captions)
    if single_object and partial > 0:
        draw = np.random.default_rng([seed, 0xCA9]).random((n, 4))
        keep = draw[:, :3] >= partial  # size, colour, position
        focus = draw[:, 3] < event_focus
        captions = []
        for i in range(n):
            if focus[i] and s.event_phrase[i]:
                colour = int(s.color[i]) if keep[i, 1] else None
                captions.append(f"{noun_phrase('a', colour, None)} {s.event_phrase[i]}")
                continue
            phrase = noun_phrase("a", int(s.color[i]) if keep[i, 1] else None, int(s.shape[i]),
                                 int(s.size[i]) if keep[i, 0] else None)
            if keep[i, 2]:
                phrase += " " + position_phrase(int(s.position[i]) % 3, int(s.position[i]) // 3)
            if s.event_phrase[i]:
                phrase += " " + s.event_phrase[i]
            captions.append(phrase)
    return s.images, captions, np.asarray(s.shape), np.asarray(s.color), np.asarray(s.motion)


def synthvid_prompts(attribute: str) -> list[str]:
    """SynthVid's zero-shot prompts, one per class id of ``attribute``."""
    from i2vbench.datasets.synthvid import zero_shot_prompts

    return list(zero_shot_prompts(attribute))


class Schedule(Protocol):
    """The fields of a pretraining config that :func:`lr_at` reads."""

    lr: float
    warmup_steps: int
    min_lr_ratio: float
    steps: int


@contextmanager
def pretraining_torch(threads: int) -> Iterator[None]:
    """``threads`` CPU threads and deterministic algorithms for a pretraining run (what makes two
    runs of a recipe the same on one machine), the caller's settings restored after: the same
    process goes on to run tests or a benchmark."""
    prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def environment(threads: int) -> dict:
    """Where a checkpoint was trained, as its ``metrics.json`` records it."""
    return {"torch_version": torch.__version__, "python_version": platform.python_version(),
            "machine": platform.machine(), "cpu_threads": threads}


def warmup_cosine(step: int, total: int, lr: float, warmup_steps: int, min_lr_ratio: float) -> float:
    """Linear warmup to ``lr`` then cosine decay to ``min_lr_ratio * lr`` at step ``total``: the
    schedule of every embedded model's pretraining (tinyclip, tinylm, tinyground, tinyvideo)."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total - warmup_steps)
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def lr_at(step: int, cfg: Schedule) -> float:
    """:func:`warmup_cosine` over a config's ``steps``."""
    return warmup_cosine(step, cfg.steps, cfg.lr, cfg.warmup_steps, cfg.min_lr_ratio)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only: biases, norms, embeddings, positions and the temperature are exempt."""
    decay, keep = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim < 2 or "embedding" in name or name.endswith("_pos") or "logit_scale" in name
        (keep if no_decay else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


@torch.no_grad()
def encode_images(model: TinyCLIP, images: np.ndarray, batch: int = 512, bf16: bool = True) -> torch.Tensor:
    """L2-normalised joint-space embeddings of uint8 frames ``(n, H, W, 3)``."""
    out = []
    for i in range(0, len(images), batch):
        x = model.preprocess(torch.from_numpy(np.ascontiguousarray(images[i:i + batch])))
        with autocast(bf16):
            out.append(model.encode_frames(x).pooled.float())
    return nn.functional.normalize(torch.cat(out), dim=-1)


@torch.no_grad()
def encode_texts(model: TinyCLIP, texts: list[str], bf16: bool = True) -> torch.Tensor:
    with autocast(bf16):
        return nn.functional.normalize(model.encode_text(texts).pooled.float(), dim=-1)


def zero_shot_accuracy(model: TinyCLIP, images: np.ndarray, labels: np.ndarray, prompts: list[str],
                       bf16: bool = True) -> float:
    """CLIP-style zero-shot accuracy: each frame gets the class of its most similar prompt."""
    sims = encode_images(model, images, bf16=bf16) @ encode_texts(model, prompts, bf16).t()
    return float((sims.argmax(1).numpy() == np.asarray(labels)).mean())


def caption_recall_at_1(model: TinyCLIP, images: np.ndarray, captions: list[str], bf16: bool = True) -> float:
    """Image→caption R@1 within the pool; a retrieved caption counts if its text equals the
    frame's own (identical captions of different frames are not distinguishable, so not errors)."""
    sims = encode_images(model, images, bf16=bf16) @ encode_texts(model, captions, bf16).t()
    best = sims.argmax(1).tolist()
    return float(np.mean([captions[j] == captions[i] for i, j in enumerate(best)]))


def _prototypes(model: TinyCLIP, groups: list[list[str]], bf16: bool = True) -> torch.Tensor:
    """One L2-normalised prototype per group of texts: the mean of their embeddings (CLIP's
    prompt ensembling)."""
    protos = [encode_texts(model, texts, bf16).mean(0) for texts in groups]
    return nn.functional.normalize(torch.stack(protos), dim=-1)


def motion_metrics(model: TinyCLIP, images: np.ndarray, motions: np.ndarray, bf16: bool = True
                   ) -> dict[str, float]:
    """What a still tells the ILFM about the motion underway, zero-shot.

    ``zero_shot_kind_balanced_acc``: 5-way kind of change (horizontal, vertical, scaling,
    fading, still), each kind's prototype the ensemble of its motions' phrasings ("a shape moves
    left", ...); mean recall over kinds, chance 0.2. ``zero_shot_direction_acc``: on stills of a
    directed event, the event against its opposite (left vs right, grow vs shrink, appear vs
    disappear), chance 0.5: one still cannot show it, so near chance is the expected answer.
    """
    from i2vbench.datasets.synthvid.text import motion_prompts
    from i2vbench.datasets.synthvid.world import KINDS, MOTION_KIND, MOTIONS, OPPOSITE

    img = encode_images(model, images, bf16=bf16)
    kinds = [[p for m in MOTIONS if MOTION_KIND[m] == k for p in motion_prompts(m)] for k in KINDS]
    kind_of = np.array([KINDS.index(MOTION_KIND[MOTIONS[m]]) for m in motions])
    pred = (img @ _prototypes(model, kinds, bf16).t()).argmax(1).numpy()
    recalls = [float((pred[kind_of == k] == k).mean()) for k in range(len(KINDS)) if (kind_of == k).any()]
    per_motion = (img @ _prototypes(model, [motion_prompts(m) for m in MOTIONS], bf16).t()).numpy()
    directed = [i for i, m in enumerate(motions) if MOTIONS[m] in OPPOSITE]
    right = [per_motion[i, motions[i]] > per_motion[i, MOTIONS.index(OPPOSITE[MOTIONS[motions[i]]])]
             for i in directed]
    return {"zero_shot_kind_balanced_acc": float(np.mean(recalls)),
            "zero_shot_direction_acc": float(np.mean(right)) if right else float("nan")}


def event_text_metrics(model: TinyCLIP, bf16: bool = True) -> dict[str, float]:
    """Whether the text tower's pooled embeddings tell SynthVid's nine event types apart.

    The task sentences of every (colour, shape) object, all templates, with and without size:
    half of the objects give each event type's prototype (mean embedding), the other half are
    classified by nearest prototype. ``text_event_prototype_acc`` (9-way, chance 1/9) and
    ``text_kind_prototype_acc`` (the same sentences, 5 kinds of change).
    """
    from i2vbench.datasets.synthvid.text import EVENT_TEMPLATES, noun_phrase
    from i2vbench.datasets.synthvid.world import COLORS, KINDS, MOTION_KIND, MOTIONS, SHAPES, SIZES

    objects = [(c, s) for c in range(len(COLORS)) for s in range(len(SHAPES))]
    order = np.random.default_rng(0).permutation(len(objects))
    proto_objs, test_objs = [objects[i] for i in order[::2]], [objects[i] for i in order[1::2]]

    def sentences(objs: list[tuple[int, int]], motion: str) -> list[str]:
        return [t.format(the=noun_phrase("the", c, s, z), a=noun_phrase("a", c, s, z))
                for c, s in objs for z in (None, *range(len(SIZES))) for t in EVENT_TEMPLATES[motion]]

    protos = _prototypes(model, [sentences(proto_objs, m) for m in MOTIONS], bf16)
    tests = [sentences(test_objs, m) for m in MOTIONS]
    labels = np.concatenate([np.full(len(t), k) for k, t in enumerate(tests)])
    pred = (encode_texts(model, [x for t in tests for x in t], bf16) @ protos.t()).argmax(1).numpy()
    kind = np.array([KINDS.index(MOTION_KIND[m]) for m in MOTIONS])
    return {"text_event_prototype_acc": float((pred == labels).mean()),
            "text_kind_prototype_acc": float((kind[pred] == kind[labels]).mean())}


@dataclass
class EvalSet:
    """Held-out stills, rendered once per run: single-object stills for zero-shot accuracy and
    a pool of ordinary stills for caption retrieval."""

    images: np.ndarray
    shapes: np.ndarray
    colors: np.ndarray
    motions: np.ndarray | None
    pool_images: np.ndarray
    pool_captions: list[str]

    @classmethod
    def build(cls, cfg: PretrainConfig, source: FrameSource) -> EvalSet:
        images, _, shapes, colors, motions = source(cfg.eval_frames, stream_seed(cfg.seed, 1, 0), True, 0.0, 0.0)
        pool_images, pool_captions, *_ = source(cfg.retrieval_pool, stream_seed(cfg.seed, 1, 1), False, 0.0, 0.0)
        return cls(images, shapes, colors, motions, pool_images, pool_captions)


def evaluate(model: TinyCLIP, data: EvalSet, prompts: Prompts = synthvid_prompts,
             bf16: bool = True) -> dict[str, float]:
    """Held-out zero-shot shape/colour accuracy (single-object stills), caption R@1 and, with
    SynthVid's prompts, what stills and texts tell of motion (:func:`motion_metrics`,
    :func:`event_text_metrics`)."""
    was_training = model.training
    model.eval()
    res = {"zero_shot_shape_acc": zero_shot_accuracy(model, data.images, data.shapes, prompts("shape"), bf16),
           "zero_shot_color_acc": zero_shot_accuracy(model, data.images, data.colors, prompts("color"), bf16),
           f"caption_r1_among_{len(data.pool_captions)}":
               caption_recall_at_1(model, data.pool_images, data.pool_captions, bf16)}
    if prompts is synthvid_prompts:
        if data.motions is not None:
            res.update(motion_metrics(model, data.images, data.motions, bf16))
        res.update(event_text_metrics(model, bf16))
    model.train(was_training)
    return res


def _render_batch(source: FrameSource, cfg: PretrainConfig, step: int) -> tuple[np.ndarray, list[str]]:
    """Training batch ``step``: single-object stills first, then stills with 1..3 objects."""
    n_single = int(round(cfg.batch_size * cfg.single_object_fraction))
    parts = [source(n, stream_seed(cfg.seed, 0, 2 * step + k), k == 0, cfg.partial, cfg.event_focus)
             for k, n in ((0, n_single), (1, cfg.batch_size - n_single)) if n > 0]
    return np.concatenate([p[0] for p in parts]), [c for p in parts for c in p[1]]


def n_steps(cfg: PretrainConfig) -> int:
    return min(cfg.steps, cfg.stop_after) if cfg.stop_after else cfg.steps


def training_batches(cfg: PretrainConfig, source: FrameSource) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Batch ``i`` of the stream depends only on (seed, i), whether rendered here or in workers.

    Workers (spawned, not forked, so they never inherit torch's thread pools) render up to
    ``prefetch`` batches ahead while the model trains on the current one.
    """
    if cfg.workers <= 0:
        for step in range(n_steps(cfg)):
            yield _render_batch(source, cfg, step)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # an executor, not mp.Pool: a worker that dies raises here instead of being respawned forever
    with ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn")) as pool:
        pending: deque = deque()
        submitted = 0
        for _ in range(n_steps(cfg)):
            while submitted < n_steps(cfg) and len(pending) < max(1, cfg.prefetch):
                pending.append(pool.submit(_render_batch, source, cfg, submitted))
                submitted += 1
            yield pending.popleft().result()


def pretrain(cfg: PretrainConfig, *, model_config: TinyCLIPConfig | None = None,
             source: FrameSource = synthvid_frames,
             prompts: Prompts | None = synthvid_prompts,
             progress: bool = True, log: Callable[[str], None] = print,
             on_step: Callable[[int, float], None] | None = None) -> tuple[TinyCLIP, dict]:
    """Train a TinyCLIP from scratch; return it and the metrics record for ``metrics.json``.

    ``prompts=None`` skips the zero-shot evaluation (smoke runs on sources without labels);
    ``on_step(step, loss)`` sees every training loss.
    """
    from tqdm import tqdm

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # only effective before OpenMP starts
    with pretraining_torch(cfg.threads):
        torch.manual_seed(cfg.seed)
        if cfg.init:
            from i2vbench.methods.backbones.checkpoint import load_tinyclip

            model = load_tinyclip(resolve_init(cfg.init))
        else:
            model = TinyCLIP(model_config or TinyCLIPConfig())
        model.train()
        opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98),
                                eps=1e-6, fused=False, foreach=True)
        eval_set = EvalSet.build(cfg, source) if prompts is not None else None
        history: list[dict] = []
        losses: list[float] = []
        t0 = time.perf_counter()
        t_eval = 0.0
        bar = tqdm(training_batches(cfg, source), total=n_steps(cfg), desc="pretrain tinyclip",
                   disable=not progress, mininterval=2.0)
        for step, (images, captions) in enumerate(bar):
            x = model.preprocess(torch.from_numpy(images))
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            with autocast(cfg.bf16):
                logits_i, logits_t = model(x, captions)
            loss = contrastive_loss(logits_i, logits_t, captions)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(step, losses[-1])
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
            last = step + 1 == n_steps(cfg)
            if eval_set is not None and (last or (cfg.eval_every and (step + 1) % cfg.eval_every == 0)):
                te = time.perf_counter()
                m = evaluate(model, eval_set, prompts, cfg.bf16)
                t_eval += time.perf_counter() - te
                history.append({"step": step + 1, "loss": float(np.mean(losses[-50:])),
                                "elapsed_s": round(time.perf_counter() - t0, 1), **m})
                msg = " ".join(f"{k}={v:.4f}" for k, v in history[-1].items() if k != "step")
                (bar.write if progress else log)(f"step {step + 1}: {msg}")
                if cfg.snapshot_dir:
                    from i2vbench.methods.backbones.checkpoint import save_tinyclip

                    save_tinyclip(model, cfg.snapshot_dir, {"step": step + 1, "config": asdict(cfg), **history[-1]})
                    model.train()
        wall = time.perf_counter() - t0
        model.eval()
        metrics = {
            **({k: v for k, v in history[-1].items() if k not in {"step", "loss", "elapsed_s"}} if history else {}),
            "final_loss": float(np.mean(losses[-50:])) if losses else None,
            "steps": n_steps(cfg),
            "schedule_steps": cfg.steps,
            "train_frames": n_steps(cfg) * cfg.batch_size,
            "wall_time_s": round(wall, 1),
            "eval_time_s": round(t_eval, 1),
            "seed": cfg.seed,
            "init": _describe_init(cfg.init),
            "config": asdict(cfg),
            "eval": {"frames": cfg.eval_frames, "single_object": True, "retrieval_pool": cfg.retrieval_pool,
                     "seeds": [stream_seed(cfg.seed, 1, 0), stream_seed(cfg.seed, 1, 1)]},
            "history": history,
            **environment(cfg.threads),
        }
        return model, metrics


def resolve_init(init: str) -> Path:
    """A checkpoint directory or file, or the name of a shipped checkpoint (``tinyclip-v1``)."""
    from i2vbench.paths import ASSETS

    shipped = ASSETS / init
    return shipped if "/" not in init and shipped.is_dir() else Path(init)


def _describe_init(init: str | None) -> dict | None:
    """Provenance of a continued run: where it started from and that checkpoint's own record."""
    if not init:
        return None
    from i2vbench.methods.backbones import file_sha256
    from i2vbench.methods.backbones.checkpoint import METRICS_FILE, WEIGHTS_FILE

    path = resolve_init(init)
    d = path if path.is_dir() else path.parent
    prev = {}
    if (d / METRICS_FILE).is_file():
        import json

        prev = json.loads((d / METRICS_FILE).read_text(encoding="utf-8"))
    return {"path": str(init), "sha256": file_sha256(d / WEIGHTS_FILE),
            "command": prev.get("command"), "steps": prev.get("steps"),
            "wall_time_s": prev.get("wall_time_s")}


def stream_seed(seed: int, stream: int, index: int) -> int:
    """Seed of item ``index`` of stream 0 (training batches) or 1 (held-out eval sets).

    Derived through ``numpy.random.SeedSequence`` so that training and evaluation frames come
    from unrelated generator states for every run seed.
    """
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])


def contrastive_loss(logits_i: torch.Tensor, logits_t: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """Symmetric InfoNCE where frames with the very same caption count as positives of each other.

    Identical captions are common in a procedural world; treating them as negatives would push
    apart embeddings that should coincide, so the target is spread uniformly over all matches.
    """
    index = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    ids = torch.tensor([index[c] for c in captions])
    same = (ids[:, None] == ids[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    li = -(target * logits_i.float().log_softmax(1)).sum(1).mean()
    lt = -(target * logits_t.float().log_softmax(1)).sum(1).mean()
    return 0.5 * (li + lt)


def default_out_dir() -> Path:
    from i2vbench.methods.backbones import TINYCLIP_DIR

    return TINYCLIP_DIR
