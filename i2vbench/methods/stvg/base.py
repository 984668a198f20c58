"""The STVG method interface, and the baseline: frame-wise grounding by the frozen grounding ILFM
with the training span prior.

A method predicts, for every query, a moment ``[start, end)`` in frame numbers and one box per
frame (xyxy pixels); the runner writes them in the format ``bench eval --task stvg`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from i2vbench.devices import autocast
from i2vbench.methods.registry import register_method
from i2vbench.methods.stvg.data import STVGQuery, STVGSplit
from i2vbench.methods.trainable import TrainableMethod, TrainingFree
from i2vbench.parallel import map_in_workers

# qid → (moment [start, end) in frames, (T, 4) boxes xyxy in pixels, one per frame)
Predictions = dict[str, tuple[tuple[int, int], np.ndarray]]


class STVGMethod(TrainableMethod):
    """An STVG method: ``fit`` on a training split, then ``predict`` a tube for every query
    (by default batch by batch: each method's ``decode`` of its own batches)."""

    def decode(self, b, split: STVGSplit, idx: np.ndarray) -> Predictions:  # noqa: ANN001
        """The tubes of the queries ``idx`` of ``split`` from their batch ``b``."""
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, split: STVGSplit, batch_size: int = 32) -> Predictions:
        self.eval()
        out: Predictions = {}
        for a in range(0, len(split), batch_size):
            idx = np.arange(a, min(a + batch_size, len(split)))
            out.update(self.decode(self.batch(split, idx), split, idx))
        return out

    def epoch_order(self, train: STVGSplit, rng: np.random.Generator) -> np.ndarray:
        """Videos in random order, each with all its queries together (a video's other sentences,
        about the same objects at other times, are its hardest negatives)."""
        by_video: dict[str, list[int]] = {}
        for i, q in enumerate(train.queries):
            by_video.setdefault(q.vid, []).append(i)
        groups = list(by_video.values())
        return np.concatenate([rng.permutation(groups[j]) for j in rng.permutation(len(groups))])


def span_prior(train: STVGSplit) -> tuple[float, float]:
    """Mean normalised [start, end) of the training tubes."""
    rel = np.array([(q.tube[0] / q.n_frames, q.tube[1] / q.n_frames) for q in train.queries])
    return float(rel[:, 0].mean()), float(rel[:, 1].mean())


def prior_moment(prior: tuple[float, float], n_frames: int) -> tuple[int, int]:
    s = int(np.clip(round(prior[0] * n_frames), 0, n_frames - 1))
    return s, int(np.clip(round(prior[1] * n_frames), s + 1, n_frames))


@torch.no_grad()
def ground_frames(model: torch.nn.Module, tokens: np.ndarray, captions: list[str], image_size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The grounding ILFM on every frame of one video for every caption: its best box per
    (caption, frame), ``(C, T, 4)`` xyxy pixels, and that box's phrase score ``(C, T)``."""
    from i2vbench.methods.backbones.tinyground import box_cxcywh_to_xyxy

    T, C = len(tokens), len(captions)
    with autocast():
        img = model.img_in(torch.from_numpy(tokens.astype(np.float32)))  # (T, N, W)
        # each caption encoded once, not once per frame: the same to the bit (test), 14 % of the
        # grounding's CPU time
        out = model.ground(img, captions, torch.arange(T).repeat(C), torch.arange(C).repeat_interleave(T))
    score, best = out.match[-1].float().view(C, T, -1).max(-1)
    boxes = out.boxes[-1].float().view(C, T, -1, 4)
    top = torch.gather(boxes, 2, best[..., None, None].expand(-1, -1, 1, 4)).squeeze(2)
    return (box_cxcywh_to_xyxy(top).clamp(0, 1) * image_size).numpy(), score.sigmoid().numpy()


def anchor_boxes(grounder: torch.nn.Module, split: STVGSplit, queries: Iterable[STVGQuery] | None = None,
                 jobs: int = 1) -> dict[tuple[str, str], np.ndarray]:
    """The frozen grounding ILFM's box on every frame for each (video, sentence) of ``queries``
    (default: all of ``split``'s), ``(T, 4)`` xyxy in [0, 1]: ``anchor: true``'s reference boxes,
    the frame-wise baseline's boxes.

    ``jobs`` forked workers of one thread each share the videos out: a box does not depend on
    which sentences it is grounded with nor on the thread count, to the bit (tests), and two
    one-thread processes ground 2,100 sentences in about half the time one process with two
    threads takes (81 s idle before), with no core left idle."""
    todo: dict[str, list[str]] = {}
    for q in split.queries if queries is None else queries:
        captions = todo.setdefault(q.vid, [])
        if q.caption not in captions:
            captions.append(q.caption)
    grounder.eval()

    def one_video(item: tuple[str, list[str]]) -> dict[tuple[str, str], np.ndarray]:
        vid, captions = item
        xyxy, _ = ground_frames(grounder, split.tokens[vid], captions, 1)
        return {(vid, c): b for c, b in zip(captions, xyxy, strict=True)}

    out: dict[tuple[str, str], np.ndarray] = {}
    for part in map_in_workers(one_video, list(todo.items()), jobs, 1):
        out.update(part)
    return out


class AnchorBoxes:
    """The frozen grounding ILFM's frame-wise boxes per (video, sentence), ``(T, 4)`` xyxy in [0,
    1]: the frame-wise baseline's boxes and TubeDETR's / CG-STVG's anchors. They do not change
    while a method trains, so a run grounds them once for every method and seed and hands them
    over (``known``); a method used on its own grounds the rest on first ask."""

    def __init__(self, grounder: torch.nn.Module | None,
                 known: dict[tuple[str, str], np.ndarray] | None = None) -> None:
        self.grounder = grounder
        self.boxes: dict[tuple[str, str], np.ndarray] = dict(known or {})

    def __call__(self, split: STVGSplit, queries: list[STVGQuery]) -> list[np.ndarray]:
        missing = [q for q in queries if (q.vid, q.caption) not in self.boxes]
        if missing:
            self.boxes.update(anchor_boxes(self.grounder, split, missing))
        return [self.boxes[(q.vid, q.caption)] for q in queries]


@dataclass
class FramewiseConfig:
    pass


@register_method("framewise", task="stvg", paradigm=None, display="Frame-wise grounding + span prior")
class FramewiseGrounding(TrainingFree, STVGMethod):
    """Baseline: the frozen grounding ILFM on every frame + the training tubes' mean span.

    The sentence is boxed on every frame on its own and the moment is the training tubes' mean
    span. Nothing is trained: it shows what an image grounding model gives without video transfer."""

    config_class = FramewiseConfig

    def __init__(self, grounder: torch.nn.Module, config: FramewiseConfig | None = None,
                 anchors: dict[tuple[str, str], np.ndarray] | None = None) -> None:
        super().__init__()
        self.config = config or FramewiseConfig()
        self.model = grounder.freeze()
        self.prior = (0.0, 1.0)
        # its boxes are the anchors TubeDETR and CG-STVG start from (53 s of evaluation saved)
        self.anchors = AnchorBoxes(self.model, anchors)

    def start_fit(self, train: STVGSplit) -> None:
        self.prior = span_prior(train)

    def predict(self, split: STVGSplit) -> Predictions:
        boxes = self.anchors(split, split.queries)
        return {q.qid: (prior_moment(self.prior, q.n_frames), b * split.image_size)
                for q, b in zip(split.queries, boxes, strict=True)}
