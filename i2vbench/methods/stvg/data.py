"""STVG splits as methods see them: queries with their target tubes, and per-frame patch tokens
of the grounding ILFM's image tower (encoded once by the feature layer, shared by all methods)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class STVGQuery:
    qid: str
    vid: str
    caption: str
    qtype: str
    n_frames: int  # frames of the used segment (all sampled: SynthVid's rate is TubeDETR's 5 fps)
    tube: tuple[int, int]  # GT [start, end) frame numbers


@dataclass
class STVGSplit:
    queries: list[STVGQuery]
    tokens: dict[str, np.ndarray]  # vid → (T, N, W) float16 image-tower patch tokens per frame
    boxes: np.ndarray  # (Q, T_max, 4) float32 xyxy pixels of the target (nan where it has none)
    image_size: int

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def max_frames(self) -> int:
        return self.boxes.shape[1]
