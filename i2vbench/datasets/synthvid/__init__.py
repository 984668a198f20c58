"""SynthVid: the deterministic procedural video world that is the suite's embedded default data.

Short videos of coloured shapes that move, appear, disappear, grow and shrink, with full ground
truth (per-frame boxes, tracks, timed events) and sentences from a small grammar; writers put
that ground truth into each real dataset's own format (Charades-STA for TVG), so the real
loaders read it. :func:`frame_caption_set` gives single frames with frame-level captions for
pretraining the embedded image-language model.
"""

from __future__ import annotations

from i2vbench.datasets.synthvid.frames import FrameCaptionSet, frame_caption_set
from i2vbench.datasets.synthvid.text import (
    POSITIONS,
    VOCABULARY,
    event_sentence,
    tokenize,
    zero_shot_prompts,
)
from i2vbench.datasets.synthvid.world import (
    COLORS,
    MOTIONS,
    NOVEL_SHAPES,
    SHAPES,
    SIZES,
    Event,
    Scene,
    SceneConfig,
    SceneObject,
    sample_scene,
    scene_from_json,
)

__all__ = [
    "COLORS", "MOTIONS", "NOVEL_SHAPES", "POSITIONS", "SHAPES", "SIZES", "VOCABULARY",
    "Event", "FrameCaptionSet", "Scene", "SceneConfig", "SceneObject",
    "event_sentence", "frame_caption_set", "sample_scene", "scene_from_json", "tokenize",
    "zero_shot_prompts",
]

from i2vbench.datasets.registry import register_dataset  # noqa: E402
from i2vbench.datasets.synthvid.tvg import SynthVidTVG, TVGConfig, build_tvg  # noqa: E402

__all__ += ["SynthVidTVG", "TVGConfig", "build_tvg"]

register_dataset(
    "synthvid", ("tvg",),
    "SynthVid: deterministic procedural videos of moving shapes (embedded default); TVG in "
    "Charades-STA format (mp4 + charades_sta_*.txt + Charades_v1_*.csv)",
    load=build_tvg,
)
