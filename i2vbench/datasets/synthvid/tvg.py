"""The SynthVid temporal video grounding (TVG) benchmark, written in Charades-STA's own format.

A built benchmark is a folder that the real Charades-STA loader reads as it is::

    videos/<vid>.mp4                     H.264 (libx264, yuv420p) at ``fps``, ``image_size`` square
    charades_sta_{train,val,test}.txt    ``VID start end##sentence`` (one-decimal times, LF, final newline)
    Charades_v1_{train,val,test}.csv     the columns of the real Charades_v1 csv; ``length`` = duration (s)
    scenes.jsonl                         full ground truth per video (objects, events, boxes, queries)
    meta.json                            versions, seed, config, counts, sha256 of every file

The videos and scenes are SynthVid's shared scene pool (:mod:`.writer`); TVG adds only its
queries: for each video, some of its events, each described by one sentence. Same seed and
config give byte-identical files, whatever the worker count.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i2vbench.datasets.synthvid.text import event_sentence
from i2vbench.datasets.synthvid.world import MOTIONS, Scene
from i2vbench.datasets.synthvid.writer import (
    SPLITS,
    BuildOptions,
    Built,
    Records,
    TaskFolder,
    TaskWriter,
    WriterConfig,
    build,
    check_split,
)

if TYPE_CHECKING:
    from typing import Unpack

CSV_HEADER = ("id", "subject", "scene", "quality", "relevance", "verified", "script", "objects",
              "descriptions", "actions", "length")
# Charades-style action codes for the motions in the csv ``actions`` column ("c000 2.30 5.80").
ACTION_CODES = {m: f"c{i:03d}" for i, m in enumerate(MOTIONS)}


@dataclass(frozen=True)
class TVGConfig(WriterConfig):
    """Everything that determines the generated benchmark (together with the seed)."""

    min_queries: int = 2
    max_queries: int = 4
    size_prob: float = 0.3  # chance that a sentence also names the object's size


@dataclass(frozen=True)
class SynthVidTVG(TaskFolder):
    """A built SynthVid TVG benchmark (see the module docstring for the layout)."""

    train_txt: Path
    val_txt: Path
    test_txt: Path
    train_durations_csv: Path
    val_durations_csv: Path
    test_durations_csv: Path

    def txt(self, split: str) -> Path:
        """``charades_sta_<split>.txt`` of "train", "val" or "test"."""
        return {"train": self.train_txt, "val": self.val_txt, "test": self.test_txt}[check_split(split)]

    def durations_csv(self, split: str) -> Path:
        """``Charades_v1_<split>.csv`` of "train", "val" or "test"."""
        return {"train": self.train_durations_csv, "val": self.val_durations_csv,
                "test": self.test_durations_csv}[check_split(split)]

    def scenes(self, split: str | None = None) -> Iterator[tuple[str, str, Scene, list[dict]]]:
        """(vid, split, scene, queries) for every video, from ``scenes.jsonl``."""
        return self.scenes_with("queries", split)


def sample_queries(scene: Scene, rng: np.random.Generator, cfg: TVGConfig) -> dict:
    """TVG's annotations of one video: a sentence for each of a few of its events.

    Between ``min_queries`` and ``max_queries`` events (fewer only if the scene has fewer), each
    named by colour and shape (unique in the video) and motion, so each names one window.
    """
    n = len(scene.events)
    k = int(rng.integers(min(cfg.min_queries, n), min(cfg.max_queries, n) + 1))
    out = []
    for e_idx in sorted(rng.choice(n, size=k, replace=False).tolist()):
        e = scene.events[e_idx]
        o = scene.objects[e.obj]
        size = e.size if rng.random() < cfg.size_prob else None
        out.append({"event": e_idx, "start": e.start, "end": e.end,
                    "sentence": event_sentence(rng, e.motion, o.color, o.shape, size)})
    return {"queries": out}


def _txt(records: list[dict]) -> str:
    lines = [f"{r['vid']} {q['start']:.1f} {q['end']:.1f}##{q['sentence']}"
             for r in records for q in r["queries"]]
    return "".join(line + "\n" for line in lines)


def _csv(records: list[dict]) -> bytes:
    """Rows in the real Charades_v1 csv's columns (csv module defaults: CRLF, minimal quoting)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_HEADER)
    for r in records:
        objs = r["objects"]
        sentences = [q["sentence"] for q in sorted(r["queries"], key=lambda q: q["start"])]
        actions = ";".join(f"{ACTION_CODES[e['motion']]} {e['start']:.2f} {e['end']:.2f}"
                           for e in r["events"])
        w.writerow([r["vid"], "SYNTH", "Synthetic", 7, 7, "Yes", " ".join(sentences),
                    ";".join(f"{o['color']} {o['shape']}" for o in objs), " ".join(sentences),
                    actions, f"{r['duration']:.2f}"])
    return buf.getvalue().encode("utf-8")  # bytes, so the CRLF is written as is


def charades_sta_files(records: Records, cfg: TVGConfig) -> dict[str, str | bytes]:
    """The Charades-STA txt and Charades_v1 csv of every split."""
    files: dict[str, str | bytes] = {}
    for split in SPLITS:
        files[f"charades_sta_{split}.txt"] = _txt(records[split])
        files[f"Charades_v1_{split}.csv"] = _csv(records[split])
    return files


def _counts(records: list[dict]) -> dict[str, int]:
    return {"queries": sum(len(r["queries"]) for r in records)}


TVG = TaskWriter("tvg", "1", sample_queries, charades_sta_files, _counts, {"actions": ACTION_CODES})


def _handle(built: Built) -> SynthVidTVG:
    root = built.root
    return SynthVidTVG(
        **built.folder_fields(),
        train_txt=root / "charades_sta_train.txt", val_txt=root / "charades_sta_val.txt",
        test_txt=root / "charades_sta_test.txt",
        train_durations_csv=root / "Charades_v1_train.csv", val_durations_csv=root / "Charades_v1_val.csv",
        test_durations_csv=root / "Charades_v1_test.csv",
    )


def build_tvg(root: Path | str | None = None, *, config: TVGConfig | None = None,
              **options: Unpack[BuildOptions]) -> SynthVidTVG:
    """Generate (or reuse) the SynthVid TVG benchmark; returns its paths.

    ``n_train`` / ``n_val`` / ``n_test`` override the config's video counts. ``options``
    are those of :func:`.writer.build`.
    """
    return build(TVG, config or TVGConfig(), _handle, root, **options)
