"""OVTrack (Li et al., CVPR 2023) in miniature: knowledge distillation from the ILFM.

The mechanism kept: the detector's region features get a head distilled towards the ILFM's
(CLIP's) embedding of each box's crop (OVTrack's L1 distillation, ViLD-style), trained with a
text classification loss against the **base** category names only; at test the same head is
compared with the embeddings of **every** category name, so novel names classify through the
ILFM's text space. Association embeddings are learned from pairs hallucinated from stills by
augmentation (OVTrack makes them with random affine views and a diffusion model; here random
affine + brightness views of each labelled training frame), with QDTrack's contrastive
objective, and association combines their cosine with IoU.

What it drops: the diffusion-generated pairs, the RPN/RoI detector trained on LVIS (the frozen
tinyground plays it), OVTrack's background text embedding and its class-frequency sampling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from i2vbench.methods.ovmot.base import (
    OVMOTMethod,
    OVMOTSplit,
    StillBatch,
    TrackerConfig,
    VideoDetections,
    mlp,
    still_batch,
    two_view_contrastive,
)
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig


@dataclass
class OVTrackConfig(TrackerConfig):
    hidden: int = 256
    assoc_dim: int = 64
    distill_weight: float = 1.0
    cls_weight: float = 1.0
    assoc_weight: float = 1.0
    temperature: float = 0.1  # of the association contrast
    emb_weight: float = 1.0  # association: cosine of the learned embeddings ...
    iou_weight: float = 0.5  # ... plus IoU
    match_thresh: float = 0.5
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=64, lr=2e-3,
                                                                   grad_clip=1.0))


@register_method("ovtrack", task="ovmot", paradigm="knowledge_distillation", display="OVTrack",
                 survey_row="OVTrack", ref=27, paper="OVTrack: Open-vocabulary multiple object tracking")
class OVTrack(OVMOTMethod):
    """Region features distilled to the ILFM's crop embeddings, classified against category-name
    embeddings (novel names too); association embeddings from augmented still pairs."""

    config_class = OVTrackConfig

    def __init__(self, region_dim: int, embed_dim: int, config: OVTrackConfig | None = None) -> None:
        super().__init__()
        self.tracker = self.config = c = config or OVTrackConfig()
        self.train_config = c.train
        self.student = mlp(region_dim, c.hidden, embed_dim)
        self.assoc = mlp(region_dim, c.hidden, c.assoc_dim)
        self._text: torch.Tensor | None = None

    def start_fit(self, train: OVMOTSplit) -> None:
        self._text = torch.as_tensor(train.text[train.base]).float()
        self._scale = train.logit_scale
        base_index = np.cumsum(train.base) - 1
        self._base_index = torch.as_tensor(np.where(train.base, base_index, -1))

    def batch(self, split: OVMOTSplit, idx: np.ndarray) -> StillBatch:
        return still_batch(split, idx)

    def loss(self, b: StillBatch) -> dict[str, torch.Tensor]:
        c = self.config
        s = F.normalize(self.student(b.region), dim=-1)
        out = {"distill": c.distill_weight * (s - b.crop).abs().sum(-1).mean()}
        lab = b.label >= 0
        if lab.any():
            logits = self._scale * s[lab] @ self._text.T
            out["cls"] = c.cls_weight * F.cross_entropy(logits, self._base_index[b.label[lab]])
        e = F.normalize(self.assoc(b.region), dim=-1)
        out["assoc"] = c.assoc_weight * two_view_contrastive(e, b, c.temperature)
        return out

    @torch.no_grad()
    def class_probs(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        s = F.normalize(self.student(torch.as_tensor(v.region).float()), dim=-1)
        return torch.softmax(split.logit_scale * s @ torch.as_tensor(split.text).float().T, -1).numpy()

    @torch.no_grad()
    def embeddings(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        return F.normalize(self.assoc(torch.as_tensor(v.region).float()), dim=-1).numpy()
