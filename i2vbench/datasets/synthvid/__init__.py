"""SynthVid: the deterministic procedural video world that is the suite's embedded default data.

Short videos of coloured shapes that move, appear, disappear, grow and shrink, with full ground
truth (per-frame boxes, tracks, timed events) and sentences from a small grammar. One scene pool
(:func:`video_scene`: the scene of (seed, split, index), the same for every task) is written by
:func:`build_task` with a task's :class:`TaskWriter`, which puts that ground truth into the real
dataset's own format (Charades-STA for TVG), so the real loaders read it.
:func:`frame_caption_set` gives single frames with frame-level captions for pretraining the
embedded image-language model.
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
from i2vbench.datasets.synthvid.writer import (  # noqa: E402
    SPLITS,
    TaskWriter,
    WriterConfig,
    build_task,
    task_rng,
    video_id,
    video_scene,
)

__all__ += ["SPLITS", "SynthVidTVG", "TVGConfig", "TaskWriter", "WriterConfig", "build_task",
            "build_tvg", "task_rng", "video_id", "video_scene"]

register_dataset(
    "synthvid", ("tvg",),
    "SynthVid: deterministic procedural videos of moving shapes (embedded default); TVG in "
    "Charades-STA format (mp4 + charades_sta_*.txt + Charades_v1_*.csv)",
    load=build_tvg,
)


from i2vbench.datasets.synthvid.kinetics import build_kinetics  # noqa: E402
from i2vbench.datasets.synthvid.ssv2 import build_ssv2  # noqa: E402

__all__ += ["build_kinetics", "build_ssv2"]

register_dataset(
    "synthvid-kinetics400", ("var",),
    "SynthVid Kinetics-400-like: 16 appearance classes (main object's colour x shape; one frame "
    "suffices), in Kinetics-400 format (mp4 + kinetics-400_*.csv + label_map_k400.txt)",
    load=build_kinetics,
)
register_dataset(
    "synthvid-ssv2", ("var",),
    "SynthVid SSv2-like: 18 motion templates closed under time reversal (a bag of frames is at "
    "chance between a class and its reverse), in SSv2 format (mp4 + something-something-v2-*.json)",
    load=build_ssv2,
)

from i2vbench.datasets.synthvid.tao import build_tao  # noqa: E402

__all__ += ["build_tao"]

register_dataset(
    "synthvid-tao", ("ovmot",),
    "SynthVid TAO-like: open-vocabulary tracking of shapes (6 base, 2 novel categories by LVIS "
    "frequency; training file boxes base only), in TAO format (JPEG frame folders + TAO GT json, "
    "labelled at 1 fps)",
    load=build_tao,
)
