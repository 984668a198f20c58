"""OVTrack (Li et al., CVPR 2023) in miniature: knowledge distillation from the ILFM.

The mechanism kept: two heads on the detector's region features, as OVTrack's ViLD-style
detection head: a **text head** trained with a classification loss against the **base**
category names' ILFM text embeddings, and an **image head** distilled (L1) towards the ILFM's
(CLIP's) embedding of each box's crop. At test both are compared with the embeddings of
**every** category name (novel included) and combined by ViLD's / OVTrack's ensemble: a
geometric mean weighted towards the text head for base names and towards the distilled image
head for novel names (``ensemble``, 2/3), so novel names classify through the ILFM. Association embeddings are learned from pairs hallucinated from stills by
augmentation (OVTrack makes them with random affine views and a diffusion model; here random
affine + brightness views of each labelled training frame), with QDTrack's contrastive
objective, and association combines their cosine with IoU.

The heads read a RoI feature of each box (:func:`~.base.roi_features`): the frozen detector's
region embedding with the ILFM's crop embedding beside it. OVTrack's RoI features come from a
detector trained with its heads and carry the class; tinyground's region embeddings carry almost
none, and on them the text head names 16 % of val's base boxes right (zero-shot crops 34 %). With
the crop embedding beside them the ensemble names 57 % of the base and 30 % of the novel boxes
(zero-shot 12 %), and val TETA rises from 32.85 to 43.19 (seed 0; baseline 37.82).

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
    roi_features,
    still_batch,
    two_view_contrastive,
)
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig


@dataclass
class OVTrackConfig(TrackerConfig):
    hidden: int = 256
    assoc_dim: int = 64
    ensemble: float = 2 / 3  # weight of the text head on base names, of the image head on novel ones
    distill_weight: float = 1.0
    cls_weight: float = 1.0
    assoc_weight: float = 1.0
    temperature: float = 0.1  # of the association contrast
    with_crop: bool = True  # the heads read the ILFM crop embedding beside the region embedding (roi_features)
    # Val TETA (seed 0, with_crop, before the tracker's distractor removal): embeddings 1.0 + IoU 0.5, match 0.5: 43.19 (AssocA 64.75);
    # IoU 1.0 + embeddings 0 / 0.25 / 0.5, match 0.3: 42.49 (AssocA 62.28) / 42.97 / 42.75;
    # QDTrack's bi-softmax for the cosine, 0.25 / 0.5: 42.41 / 42.29.
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
        d_in = region_dim + embed_dim * c.with_crop
        self.text_head = mlp(d_in, c.hidden, embed_dim)
        self.image_head = mlp(d_in, c.hidden, embed_dim)
        self.assoc = mlp(d_in, c.hidden, c.assoc_dim)
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
        roi = roi_features(b.region, b.crop, c.with_crop)
        img = F.normalize(self.image_head(roi), dim=-1)
        out = {"distill": c.distill_weight * (img - b.crop).abs().sum(-1).mean()}
        lab = b.label >= 0
        if lab.any():
            logits = self._scale * F.normalize(self.text_head(roi[lab]), dim=-1) @ self._text.T
            out["cls"] = c.cls_weight * F.cross_entropy(logits, self._base_index[b.label[lab]])
        e = F.normalize(self.assoc(roi), dim=-1)
        out["assoc"] = c.assoc_weight * two_view_contrastive(e, b, c.temperature)
        return out

    @torch.no_grad()
    def class_probs(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        r, text = roi_features(v.region, v.crop, self.config.with_crop), torch.as_tensor(split.text).float()
        p_text = torch.softmax(split.logit_scale * F.normalize(self.text_head(r), dim=-1) @ text.T, -1)
        p_img = torch.softmax(split.logit_scale * F.normalize(self.image_head(r), dim=-1) @ text.T, -1)
        w = torch.where(torch.as_tensor(split.base), self.config.ensemble, 1 - self.config.ensemble)
        p = p_text.clamp_min(1e-8) ** w * p_img.clamp_min(1e-8) ** (1 - w)
        return (p / p.sum(-1, keepdim=True)).numpy()

    @torch.no_grad()
    def embeddings(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        return F.normalize(self.assoc(roi_features(v.region, v.crop, self.config.with_crop)), dim=-1).numpy()
