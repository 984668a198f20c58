"""MASA (Li et al., CVPR 2024) in miniature: a tracking adapter on the frozen grounding detector.

The mechanism kept: the open-world detection pipeline stays frozen and keeps doing detection and
classification (here tinyground's boxes with the ILFM's zero-shot class of each crop, the
baseline's labels, chosen on val over tinyground's own names: see ``frozen_labels``); a small adapter
on its region features learns instance embeddings for association from **two augmentations of
one still** (MASA's self-supervised pairs: the same object in two random views is a positive,
every other object a negative), with a contrastive loss, so no video or track labels are used.
The adapter is residual and zero-initialised: it starts as the detector's own region embedding.
Its appearance similarity is combined with the boxes' IoU, as MASA's tracker combines its
similarity with the detector's boxes (a distance mask there, the IoU term here).

What it drops: SAM's masks as the source of instances (the still's GT boxes play them, matched
through the known augmentation), the multi-scale feature pyramid the adapter reads (here the
region embedding of each box), and MASA's detection-distillation branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from i2vbench.methods.ovmot.base import (
    OVMOTMethod,
    OVMOTSplit,
    StillBatch,
    TrackerConfig,
    VideoDetections,
    frozen_labels,
    still_batch,
    two_view_contrastive,
)
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig


@dataclass
class MASAConfig(TrackerConfig):
    bottleneck: int = 64
    temperature: float = 0.1
    labels: str = "zero_shot"  # the frozen pipeline's class (frozen_labels): zero_shot or detector
    # Val TETA (seed 0, zero-shot labels, before the tracker's distractor removal), IoU 1.0 +
    # embeddings w, match 0.3: w 0: 37.82 (IoU
    # alone, = the baseline), 0.25: 38.45 (AssocA 62.49 vs 62.28), 0.5: 37.55 (AssocA 59.07);
    # QDTrack's bi-softmax instead of the cosine, w 0.5: 38.21; MASA's soft distance mask on the
    # cosine (1 box diagonal per frame), w 0.5: 37.51. With the distractor removal (0.5), w 0.25:
    # 42.10 (AssocA 62.64) vs IoU alone 41.62 (60.91).
    emb_weight: float = 0.25
    iou_weight: float = 1.0
    match_thresh: float = 0.3
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=64, lr=2e-3,
                                                                   grad_clip=1.0))


class ResidualAdapter(nn.Module):
    """x + up(GELU(down(x))), ``up`` zero-initialised: the identity at the start."""

    def __init__(self, width: int, bottleneck: int) -> None:
        super().__init__()
        self.down, self.up = nn.Linear(width, bottleneck), nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(F.gelu(self.down(x)))


@register_method("masa", task="ovmot", paradigm="adapter", display="MASA", survey_row="MASA", ref=111,
                 paper="Matching anything by segmenting anything")
class MASA(OVMOTMethod):
    """A zero-init adapter on the frozen detector's region features, trained on two augmented
    views of each still; the frozen pipeline's labels."""

    config_class = MASAConfig

    def __init__(self, region_dim: int, config: MASAConfig | None = None) -> None:
        super().__init__()
        self.tracker = self.config = c = config or MASAConfig()
        self.train_config = c.train
        self.adapter = ResidualAdapter(region_dim, c.bottleneck)

    def batch(self, split: OVMOTSplit, idx: np.ndarray) -> StillBatch:
        return still_batch(split, idx)

    def loss(self, b: StillBatch) -> dict[str, torch.Tensor]:
        e = F.normalize(self.adapter(b.region), dim=-1)
        return {"contrast": two_view_contrastive(e, b, self.config.temperature)}

    def class_probs(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        return frozen_labels(split, v, self.config.labels)

    @torch.no_grad()
    def embeddings(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        return F.normalize(self.adapter(torch.as_tensor(v.region).float()), dim=-1).numpy()
