"""What every OV-MOT method shares: the per-video detections it reads, the training stills, the
online tracker, and the TAO results it writes.

A method is a tracking-by-detection pipeline on a frozen open-vocabulary detector (see
:mod:`.detector`), differing in what it learns and uses, as Table II's rows do:

- :meth:`OVMOTMethod.class_probs`: each detection's distribution over the category names
  (base and novel: the vocabulary is given at test time);
- :meth:`OVMOTMethod.embeddings`: an appearance embedding per detection for association, or
  ``None`` (IoU only);
- :meth:`OVMOTMethod.extra_similarity`: any other track-to-detection affinity (NetTrack's point
  votes).

:class:`Tracker` is the one online association loop (the QDTrack/OVTrack loop in miniature):
per frame, a track x detection similarity (weighted IoU + embedding cosine + extra), a
Hungarian match accepted above ``match_thresh``, new tracks from confident unmatched
detections, tracks ended after ``max_age`` frames unseen. A track's category is decided once
for the whole track from its detections' mean class distribution (OVTrack's track-level class
vote), and the track is reported on the labelled frames in TAO's results format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from i2vbench.methods.trainable import TrainableMethod


@dataclass
class VideoDetections:
    """One video's detections on every frame, with what the methods read (all cached).

    Rows are detections, sorted by frame. ``crop`` are the ILFM's (L2-normalised) embeddings of
    the detections' crops, the teacher/zero-shot signal; ``gray`` the frames (T, H, W) for
    methods that follow points.
    """

    name: str
    video_id: int
    n_frames: int
    frame: np.ndarray  # (N,) frame index
    boxes: np.ndarray  # (N, 4) xyxy pixels
    scores: np.ndarray  # (N, C) detector matching score per category name
    region: np.ndarray  # (N, D) detector region embeddings
    crop: np.ndarray  # (N, E) ILFM crop embeddings (normalised)
    images: dict[int, int]  # labelled frame index -> TAO image id
    gray: np.ndarray | None = None  # (T, H, W) uint8

    @property
    def det_score(self) -> np.ndarray:
        return self.scores.max(1) if len(self.scores) else np.zeros(0, np.float32)


@dataclass
class Stills:
    """Training stills (labelled frames of the training videos), each seen twice: as it is
    (view 0) and under a random affine + photometric augmentation (view 1).

    Rows are detections of either view. ``obj`` is the GT object a detection covers (IoU >=
    0.5 with its box, mapped through the augmentation), unique per still, -1 for none;
    ``label`` its category index if that category is labelled in the training file (base),
    else -1 (background or an unlabelled novel object).
    """

    still: np.ndarray  # (N,) still index
    view: np.ndarray  # (N,) 0 or 1
    region: np.ndarray  # (N, D)
    crop: np.ndarray  # (N, E) ILFM crop embeddings (normalised)
    scores: np.ndarray  # (N, C)
    obj: np.ndarray  # (N,) object id, unique across stills; -1 none
    label: np.ndarray  # (N,) category index, -1 none
    # the GT object each detection overlaps most (any labelled object, as ``obj``'s ids; -1 none)
    # and that IoU: QDTrack's sampling, where every box on an object is a sample of it
    near: np.ndarray | None = None  # (N,)
    near_iou: np.ndarray | None = None  # (N,)

    def __len__(self) -> int:
        return int(self.still.max()) + 1 if len(self.still) else 0


@dataclass
class OVMOTSplit:
    """What a method sees of a split: the category names (index = position), which of them are
    base (labelled in training), their ILFM text embeddings, the videos, and (training split
    only) the stills."""

    categories: list[dict]  # TAO categories (id, name, frequency)
    base: np.ndarray  # (C,) bool
    text: np.ndarray  # (C, E) ILFM text embeddings of the category prompts (normalised)
    logit_scale: float
    videos: list[VideoDetections]
    stills: Stills | None = None

    def __len__(self) -> int:
        return len(self.stills) if self.stills is not None else len(self.videos)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-6)


@dataclass
class TrackerConfig:
    """The association loop's settings (chosen on val; see each method's config)."""

    # tinyground's matching scores are low (median 0.20, 99th percentile 0.42 on val: python -m
    # i2vbench.experiments.ovmot_classes). Baseline on val (seed 0), measured on the detections
    # of detector id tinyground-4d97bf2ed0fe (record 20261201-145339), det / new threshold: 0.10 / 0.15 TETA 34.7, 0.10 / 0.20 29.0, 0.10 / 0.25
    # 17.2, 0.12 / 0.15 33.8, 0.15 / 0.15 29.2; match_thresh 0.3 vs 0.1: 34.7 vs 34.0.
    det_thresh: float = 0.1  # detections below are ignored
    new_thresh: float = 0.15  # an unmatched detection above starts a track
    # a track-detection pair is matched at or above this similarity. Re-chosen for the baseline on
    # the TAO world v2 (faster moves, scripted crossings), val TETA 0.3 / 0.2 / 0.1 / 0.05: 32.05 /
    # 32.11 / 32.03 / 32.32 (AssocA 37.62 / 38.36 / 37.50 / 37.86): within 0.3, kept
    # (tools/sweeps/ovmot/fast_baseline_match_*.yaml; records 20261202-010044, -010104, -010133)
    match_thresh: float = 0.3
    iou_weight: float = 1.0
    emb_weight: float = 0.0
    extra_weight: float = 0.0
    # how embeddings score a track-detection pair: "cosine", or MASA's TAO tracker's
    # "bisoftmax_cosine", the mean of the bi-softmax (softmax over the tracks and over the
    # detections of the similarities / ``emb_temperature``, averaged) and the cosine
    emb_match: str = "cosine"
    emb_temperature: float = 0.1
    max_age: int = 8  # frames a track may go unseen before it ends (2 s at 4 fps)
    momentum: float = 0.7  # a track's embedding: momentum * old + (1 - momentum) * new
    # QDTrack's / OVTrack's / MASA's distractor removal (their trackers' ``remove_distractor``): a
    # detection scoring below ``distractor_score`` that overlaps a higher-scored one at IoU >
    # ``distractor_iou`` is dropped before association; 0: off. tinyground's scores all lie below
    # 0.5, so it acts as a class-agnostic NMS on top of the cache's (0.7), for every method alike.
    # Baseline val TETA (seed 0): off 37.82 (LocA 37.18), 0.3: 41.07, 0.5: 41.62 (LocA 50.07):
    # tinyground leaves overlapping duplicates that count as false positives.
    distractor_iou: float = 0.5
    distractor_score: float = 0.5


@dataclass
class _Track:
    tid: int
    box: np.ndarray
    emb: np.ndarray | None
    last: int
    rows: list[int] = field(default_factory=list)


def distractors(boxes: np.ndarray, scores: np.ndarray, cfg: TrackerConfig) -> np.ndarray:
    """(K,) True for a low-scoring detection overlapping a higher-scoring one (QDTrack's
    ``remove_distractor``: inter-class, in descending score order)."""
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes[order], boxes[order])
    out = np.zeros(len(boxes), bool)
    for i in range(1, len(order)):
        if scores[order[i]] < cfg.distractor_score and (iou[i, :i] > cfg.distractor_iou).any():
            out[order[i]] = True
    return out


def embedding_match(cos: np.ndarray, cfg: TrackerConfig) -> np.ndarray:
    """(tracks, detections) match scores from the embeddings' cosine (see ``emb_match``)."""
    if cfg.emb_match == "cosine":
        return cos
    if cfg.emb_match != "bisoftmax_cosine":
        raise ValueError(f"emb_match {cfg.emb_match!r}: cosine or bisoftmax_cosine")
    z = cos / cfg.emb_temperature
    a, b = np.exp(z - z.max(1, keepdims=True)), np.exp(z - z.max(0, keepdims=True))
    bisoftmax = (a / a.sum(1, keepdims=True) + b / b.sum(0, keepdims=True)) / 2
    return (bisoftmax + cos) / 2


class Tracker:
    """The online association loop (see the module docstring)."""

    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg

    def run(self, v: VideoDetections, emb: np.ndarray | None,
            extra: Any = None) -> list[list[int]]:
        """Detection rows of each track. ``extra(t, tracks, rows)`` gives an extra
        (tracks x detections) similarity at frame t (``tracks``: their last rows)."""
        from scipy.optimize import linear_sum_assignment

        cfg = self.cfg
        keep = v.det_score >= cfg.det_thresh
        starts = np.searchsorted(v.frame, np.arange(v.n_frames + 1))
        alive: list[_Track] = []
        done: list[_Track] = []
        next_id = 0
        for t in range(v.n_frames):
            rows = np.arange(starts[t], starts[t + 1])
            rows = rows[keep[rows]]
            if cfg.distractor_iou > 0 and len(rows) > 1:
                rows = rows[~distractors(v.boxes[rows], v.det_score[rows], cfg)]
            matched_det = np.zeros(len(rows), bool)
            if alive and len(rows):
                sim = cfg.iou_weight * box_iou(np.stack([k.box for k in alive]), v.boxes[rows])
                if emb is not None and cfg.emb_weight:
                    te = np.stack([k.emb for k in alive])
                    sim = sim + cfg.emb_weight * embedding_match(te @ emb[rows].T, cfg)
                if extra is not None and cfg.extra_weight:
                    sim = sim + cfg.extra_weight * extra(t, [k.rows[-1] for k in alive], rows)
                ti, di = linear_sum_assignment(-sim)
                for a, b in zip(ti.tolist(), di.tolist(), strict=True):
                    if sim[a, b] < cfg.match_thresh:
                        continue
                    k, r = alive[a], int(rows[b])
                    k.box, k.last = v.boxes[r], t
                    k.rows.append(r)
                    if emb is not None:
                        e = cfg.momentum * k.emb + (1 - cfg.momentum) * emb[r]
                        k.emb = e / max(float(np.linalg.norm(e)), 1e-6)
                    matched_det[b] = True
            for b in np.flatnonzero(~matched_det).tolist():
                r = int(rows[b])
                if v.det_score[r] >= cfg.new_thresh:
                    alive.append(_Track(next_id, v.boxes[r], None if emb is None else emb[r], t, [r]))
                    next_id += 1
            still_alive = []
            for k in alive:
                (still_alive if t - k.last <= cfg.max_age else done).append(k)
            alive = still_alive
        done += alive
        return [k.rows for k in sorted(done, key=lambda k: k.tid)]


def tao_results(v: VideoDetections, tracks: list[list[int]], probs: np.ndarray,
                categories: list[dict], track_offset: int) -> list[dict]:
    """TAO result rows of ``v``'s tracks on its labelled frames: one category per track (the
    argmax of its detections' mean class distribution), the detection score as score."""
    out = []
    for k, rows in enumerate(tracks):
        cat = categories[int(probs[rows].mean(0).argmax())]["id"]
        for r in rows:
            image = v.images.get(int(v.frame[r]))
            if image is None:
                continue
            x0, y0, x1, y1 = (round(float(c), 2) for c in v.boxes[r])
            out.append({"image_id": image, "video_id": v.video_id, "category_id": int(cat),
                        "bbox": [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)],
                        "score": round(float(v.det_score[r]), 4), "track_id": track_offset + k})
    return out


class OVMOTMethod(TrainableMethod):
    """Tracking by detection on the frozen detector; subclasses say what they learn and use."""

    tracker: TrackerConfig

    def class_probs(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        """(N, C) distribution over the split's categories of each detection."""
        raise NotImplementedError

    def embeddings(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray | None:
        """(N, E) normalised association embeddings, or None (IoU only)."""
        return None

    def extra_similarity(self, split: OVMOTSplit, v: VideoDetections):  # noqa: ANN201
        """``f(t, track_rows, det_rows) -> (tracks, dets)`` extra affinity, or None."""
        return None

    @torch.no_grad()
    def predict(self, split: OVMOTSplit) -> list[dict]:
        """TAO results of every video of ``split`` (track ids unique over the file)."""
        self.eval()
        out: list[dict] = []
        offset = 1
        tracker = Tracker(self.tracker)
        for v in split.videos:
            tracks = tracker.run(v, self.embeddings(split, v), self.extra_similarity(split, v))
            out += tao_results(v, tracks, self.class_probs(split, v), split.categories, offset)
            offset += len(tracks)
        return out


def zero_shot_probs(split: OVMOTSplit, crop: np.ndarray) -> np.ndarray:
    """The ILFM's zero-shot distribution over the category names: softmax of its scaled cosine
    similarity between crop embeddings and category-prompt embeddings (CLIP's classifier)."""
    logits = split.logit_scale * (crop @ split.text.T)
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


@dataclass
class StillBatch:
    """The detections of a batch of stills (both views) as tensors."""

    still: torch.Tensor
    view: torch.Tensor
    region: torch.Tensor
    crop: torch.Tensor
    scores: torch.Tensor
    obj: torch.Tensor
    label: torch.Tensor
    near: torch.Tensor | None = None  # see Stills; needed by QDTrack's sampling only
    near_iou: torch.Tensor | None = None


def still_batch(train: OVMOTSplit, idx: np.ndarray) -> StillBatch:
    """Every detection of the stills ``idx`` (both views)."""
    st = train.stills
    assert st is not None, "the training split carries the stills"
    rows = np.flatnonzero(np.isin(st.still, idx))
    t = lambda a: torch.as_tensor(a[rows])  # noqa: E731
    # stills without overlaps (hand-built ones): each detection overlaps only its matched object
    near = st.near if st.near is not None else st.obj
    near_iou = st.near_iou if st.near_iou is not None else (st.obj >= 0).astype(np.float32)
    return StillBatch(t(st.still), t(st.view), t(st.region).float(), t(st.crop).float(), t(st.scores).float(),
                      t(st.obj), t(st.label), t(near), t(near_iou).float())


def two_view_contrastive(emb: torch.Tensor, b: StillBatch, temperature: float,
                         pos_iou: float | None = None, neg_iou: float = 0.3) -> torch.Tensor:
    """Instance contrast between the two views of each still (QDTrack's / MASA's objective on
    pairs made by augmentation): a detection of view 0 covering object o must pick the view-1
    detections covering o among every view-1 detection of the batch (other objects of the same
    still are the hard negatives), and vice versa. ``emb`` normalised (N, E).

    Which detections are samples of an object: ``pos_iou`` None, only the one matched to it
    one-to-one (``obj``), so every other box on it (tinyground leaves ~13 per still besides the
    ~3 matched ones: partial and duplicate boxes) is a negative of the object it lies on;
    ``pos_iou`` set, QDTrack's sampling (its RoI assigner, which MASA and OVTrack keep): every
    detection overlapping an object at IoU >= ``pos_iou`` is a sample of it, one overlapping it
    between ``neg_iou`` and ``pos_iou`` is left out, the rest are negatives."""
    if pos_iou is None:
        ident, usable = b.obj, torch.ones_like(b.obj, dtype=torch.bool)
    else:
        assert b.near is not None and b.near_iou is not None, "QDTrack's sampling needs the overlaps"
        ident = torch.where(b.near_iou >= pos_iou, b.near, torch.full_like(b.near, -1))
        usable = (b.near_iou >= pos_iou) | (b.near_iou < neg_iou)
    a = torch.flatten(torch.nonzero((b.view == 0) & (ident >= 0)))
    c = torch.flatten(torch.nonzero((b.view == 1) & usable))
    if len(a) == 0 or len(c) == 0:
        return emb.sum() * 0
    logits = emb[a] @ emb[c].T / temperature  # (A, C)
    pos = (ident[a][:, None] == ident[c][None, :]) & (ident[c][None, :] >= 0)
    has = pos.any(1)
    if not has.any():
        return emb.sum() * 0
    logits, pos = logits[has], pos[has]
    fwd = -(torch.logsumexp(logits.masked_fill(~pos, -1e4), 1) - torch.logsumexp(logits, 1)).mean()
    cols = pos.any(0)
    bwd = -(torch.logsumexp(logits.T[cols].masked_fill(~pos.T[cols], -1e4), 1)
            - torch.logsumexp(logits.T[cols], 1)).mean()
    return (fwd + bwd) / 2


def roi_features(region: np.ndarray | torch.Tensor, crop: np.ndarray | torch.Tensor,
                 with_crop: bool) -> torch.Tensor:
    """What a method's heads read of each detection: the frozen detector's region embedding, and
    (``with_crop``) the ILFM's embedding of the box's crop beside it.

    The papers' heads read RoI features of a detector trained with them (OVTrack's Faster R-CNN,
    OVTR's end-to-end decoder), which carry the object's class; the frozen tinyground's region
    embeddings carry almost none (a linear probe trained on the training stills' base boxes
    names 25 % of val's base boxes right, 70 % from tinyclip's crop embeddings; python -m
    i2vbench.experiments.ovmot_classes), so the crop embedding stands in for that content."""
    r = torch.as_tensor(region).float()
    return torch.cat([r, torch.as_tensor(crop).float()], -1) if with_crop else r


def mlp(d_in: int, hidden: int, d_out: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, d_out))


def detector_probs(v: VideoDetections) -> np.ndarray:
    """The detector's own category distribution: its per-name matching scores, normalised
    (Grounding DINO's label is the best-matching name)."""
    s = np.maximum(v.scores, 1e-6)
    return s / s.sum(1, keepdims=True)


def frozen_labels(split: OVMOTSplit, v: VideoDetections, source: str) -> np.ndarray:
    """The class distribution of the frozen detection pipeline, for methods that learn no
    classifier (MASA, NetTrack): ``"zero_shot"``, the ILFM's zero-shot class of each crop (the
    baseline's), or ``"detector"``, the grounder's best-matching name. On val (seed 0) tinyground's
    names are right for 10 % of the base boxes matched to GT and 24 % of the novel ones, the
    zero-shot crops for 34 % / 12 %; MASA's val TETA is 38.45 with the zero-shot labels, 36.76
    with the detector's."""
    if source == "zero_shot":
        return zero_shot_probs(split, v.crop)
    if source == "detector":
        return detector_probs(v)
    raise ValueError(f"labels {source!r}: zero_shot or detector")
