"""The baseline: frozen detections, IoU association, the ILFM's zero-shot class of each crop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i2vbench.methods.ovmot.base import (
    OVMOTMethod,
    OVMOTSplit,
    TrackerConfig,
    VideoDetections,
    zero_shot_probs,
)
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainingFree


@dataclass
class BaselineConfig(TrackerConfig):
    pass


@register_method("baseline", task="ovmot", paradigm=None, display="Detector + IoU + zero-shot ILFM")
class Baseline(TrainingFree, OVMOTMethod):
    """Frozen detector boxes linked frame to frame by IoU alone (SORT without motion), each track
    labelled by the ILFM's zero-shot class of its crops (CLIP on the box, category prompts)."""

    config_class = BaselineConfig

    def __init__(self, config: BaselineConfig | None = None) -> None:
        super().__init__()
        self.tracker = self.config = config or BaselineConfig()

    def class_probs(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        return zero_shot_probs(split, v.crop)
