"""The SynthVid temporal video grounding (TVG) benchmark, written in Charades-STA's own format.

A built benchmark is a folder that the real Charades-STA loader reads as it is::

    videos/<vid>.mp4                 H.264 (libx264, yuv420p) at ``fps``, ``image_size`` square
    charades_sta_{train,test}.txt    ``VID start end##sentence`` (one-decimal times, LF, final newline)
    Charades_v1_{train,test}.csv     the columns of the real Charades_v1 csv; ``length`` = duration (s)
    scenes.jsonl                     full ground truth per video (objects, events, boxes, queries)
    meta.json                        generator version, seed, config, counts, sha256 of annotations

Every video is a pure function of (seed, split, index), so the same seed and config give
byte-identical annotation files, whatever the worker count.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from i2vbench.datasets.synthvid.codec import CRF, PRESET, X264_PARAMS, encode
from i2vbench.datasets.synthvid.text import event_sentence
from i2vbench.datasets.synthvid.world import (
    MOTIONS,
    Scene,
    SceneConfig,
    sample_scene,
    scene_from_json,
)
from i2vbench.errors import BenchError
from i2vbench.io import atomic_dir, atomic_write_bytes, atomic_write_text, dump_json, read_json
from i2vbench.paths import cache_dir

GENERATOR_VERSION = "2"  # bump whenever any output byte can change
SPLITS = ("train", "test")
CSV_HEADER = ("id", "subject", "scene", "quality", "relevance", "verified", "script", "objects",
              "descriptions", "actions", "length")
# Charades-style action codes for the motions in the csv ``actions`` column ("c000 2.30 5.80").
ACTION_CODES = {m: f"c{i:03d}" for i, m in enumerate(MOTIONS)}


@dataclass(frozen=True)
class TVGConfig:
    """Everything that determines the generated benchmark (together with the seed)."""

    scene: SceneConfig = field(default_factory=SceneConfig)
    n_train: int = 600
    n_test: int = 250
    min_queries: int = 2
    max_queries: int = 4
    size_prob: float = 0.3  # chance that a sentence also names the object's size
    crf: int = CRF


@dataclass(frozen=True)
class SynthVidTVG:
    """A built SynthVid TVG benchmark (see the module docstring for the layout)."""

    root: Path
    videos_dir: Path
    train_txt: Path
    test_txt: Path
    train_durations_csv: Path
    test_durations_csv: Path
    scenes_jsonl: Path
    meta_json: Path
    fps: float
    image_size: int
    seed: int
    counts: dict

    def txt(self, split: str) -> Path:
        return {"train": self.train_txt, "test": self.test_txt}[split]

    def durations_csv(self, split: str) -> Path:
        return {"train": self.train_durations_csv, "test": self.test_durations_csv}[split]

    def video(self, vid: str) -> Path:
        return self.videos_dir / f"{vid}.mp4"

    def scenes(self, split: str | None = None) -> Iterator[tuple[str, str, Scene, list[dict]]]:
        """(vid, split, scene, queries) for every video, from ``scenes.jsonl``."""
        with self.scenes_jsonl.open(encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                if split is None or d["split"] == split:
                    yield d["vid"], d["split"], scene_from_json(d), d["queries"]


def video_id(split: str, index: int) -> str:
    return f"sv{split[:2]}{index:05d}"


def _video(seed: int, split: str, index: int, cfg: TVGConfig) -> tuple[Scene, list[dict]]:
    """One video's scene and its queries: a pure function of (seed, split, index, cfg)."""
    rng = np.random.default_rng([seed, SPLITS.index(split), index, 0x7B6])
    for _ in range(20):
        scene = sample_scene(rng, cfg.scene)
        if len(scene.events) >= cfg.min_queries:
            break
    else:  # pragma: no cover - the sampler always finds room for >= 2 events
        raise RuntimeError("could not sample a scene with enough events")
    k = int(rng.integers(cfg.min_queries, min(cfg.max_queries, len(scene.events)) + 1))
    chosen = sorted(rng.choice(len(scene.events), size=k, replace=False).tolist())
    queries = []
    for e_idx in chosen:
        e = scene.events[e_idx]
        o = scene.objects[e.obj]
        size = e.size if rng.random() < cfg.size_prob else None
        queries.append({"event": e_idx, "start": e.start, "end": e.end,
                        "sentence": event_sentence(rng, e.motion, o.color, o.shape, size)})
    return scene, queries


def _make_video(args: tuple[int, str, int, TVGConfig, str]) -> tuple[str, dict]:
    """Worker: sample, render and encode one video; return its id and scenes.jsonl record."""
    seed, split, index, cfg, videos_dir = args
    scene, queries = _video(seed, split, index, cfg)
    vid = video_id(split, index)
    encode(scene.render(), scene.fps, Path(videos_dir) / f"{vid}.mp4", crf=cfg.crf)
    return vid, {"vid": vid, "split": split, **scene.to_json(), "queries": queries}


def _txt(records: list[dict]) -> str:
    lines = [f"{r['vid']} {q['start']:.1f} {q['end']:.1f}##{q['sentence']}"
             for r in records for q in r["queries"]]
    return "".join(line + "\n" for line in lines)


def _csv(records: list[dict]) -> str:
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
    return buf.getvalue()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_hash(seed: int, cfg: TVGConfig) -> str:
    blob = json.dumps({"version": GENERATOR_VERSION, "seed": seed, "config": asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _handle(root: Path, meta: dict) -> SynthVidTVG:
    return SynthVidTVG(
        root=root, videos_dir=root / "videos",
        train_txt=root / "charades_sta_train.txt", test_txt=root / "charades_sta_test.txt",
        train_durations_csv=root / "Charades_v1_train.csv", test_durations_csv=root / "Charades_v1_test.csv",
        scenes_jsonl=root / "scenes.jsonl", meta_json=root / "meta.json",
        fps=meta["config"]["scene"]["fps"], image_size=meta["config"]["scene"]["image_size"],
        seed=meta["seed"], counts=meta["counts"],
    )


def _check_existing(root: Path, seed: int, cfg: TVGConfig) -> SynthVidTVG:
    """Reuse a built benchmark only if it was built with this version, seed and config, intact."""
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise BenchError(f"{root} exists but is not a SynthVid benchmark (no meta.json); "
                         "choose another directory or pass force=True / --force")
    meta = read_json(meta_path, "SynthVid meta.json")
    want = {"version": GENERATOR_VERSION, "seed": seed, "config": json.loads(json.dumps(asdict(cfg)))}
    got = {k: meta.get(k) for k in want}
    if got != want:
        raise BenchError(f"{meta_path}: built with a different generator version, seed or config "
                         f"(have version {got['version']}, seed {got['seed']}); rebuild with force")
    for name, digest in meta["sha256"].items():
        if not (root / name).is_file() or _sha256(root / name) != digest:
            raise BenchError(f"{root / name}: missing or changed since it was generated; rebuild with force")
    return _handle(root, meta)


def build_tvg(root: Path | str | None = None, *, seed: int = 0, n_train: int | None = None,
              n_test: int | None = None, force: bool = False, progress: bool = True,
              config: TVGConfig | None = None, workers: int | None = None) -> SynthVidTVG:
    """Generate (or reuse) the SynthVid TVG benchmark; returns its paths.

    Default root: ``cache_dir()/synthvid/tvg-<hash of version, seed and config>``. An existing
    complete build with the same version/seed/config is reused; ``force`` rebuilds it. The
    folder is built in a temporary sibling and moved into place at the end, so an interrupted
    build leaves nothing behind. ``workers`` processes render and encode videos (default: up to
    2); the output does not depend on it.
    """
    cfg = config or TVGConfig()
    if n_train is not None or n_test is not None:
        cfg = replace(cfg, n_train=cfg.n_train if n_train is None else n_train,
                      n_test=cfg.n_test if n_test is None else n_test)
    if cfg.n_train < 0 or cfg.n_test < 0:
        raise BenchError(f"n_train and n_test must be >= 0 (got {cfg.n_train}, {cfg.n_test})")
    root = Path(root) if root is not None else cache_dir() / "synthvid" / f"tvg-{config_hash(seed, cfg)}"
    if root.exists():
        if not force:
            return _check_existing(root, seed, cfg)
        if not (root / "meta.json").is_file() and any(root.iterdir()):
            raise BenchError(f"{root} is not a SynthVid benchmark; refusing to delete it with force")
        shutil.rmtree(root)

    jobs = [(seed, split, i, cfg) for split, n in (("train", cfg.n_train), ("test", cfg.n_test))
            for i in range(n)]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1, max(1, len(jobs) // 64))
    with atomic_dir(root) as tmp:
        videos = tmp / "videos"
        videos.mkdir()
        args = [(*j, str(videos)) for j in jobs]
        records: dict[str, list[dict]] = {s: [] for s in SPLITS}
        bar = _progress(len(args), "SynthVid TVG videos", progress)
        try:
            if workers > 1:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor

                with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
                    for _, rec in ex.map(_make_video, args, chunksize=16):
                        records[rec["split"]].append(rec)
                        bar.update(1)
            else:
                for a in args:
                    _, rec = _make_video(a)
                    records[rec["split"]].append(rec)
                    bar.update(1)
        finally:
            bar.close()
        files = {}
        for split in SPLITS:
            files[f"charades_sta_{split}.txt"] = _txt(records[split])
            files[f"Charades_v1_{split}.csv"] = _csv(records[split])
        files["scenes.jsonl"] = "".join(json.dumps(r, separators=(",", ":")) + "\n"
                                        for s in SPLITS for r in records[s])
        for name, text in files.items():
            atomic_write_bytes(tmp / name, text.encode("utf-8"))  # bytes: the csv keeps its CRLF
        counts = {s: {"videos": len(records[s]), "queries": sum(len(r["queries"]) for r in records[s]),
                      "events": sum(len(r["events"]) for r in records[s])} for s in SPLITS}
        meta = {
            "generator": "i2vbench.datasets.synthvid", "task": "tvg", "version": GENERATOR_VERSION,
            "seed": seed, "config": asdict(cfg), "counts": counts,
            "codec": {"codec": "libx264", "pix_fmt": "yuv420p", "crf": cfg.crf, "preset": PRESET,
                      "x264_params": X264_PARAMS, "threads": 1},
            "actions": ACTION_CODES,
            "sha256": {name: _sha256(tmp / name) for name in files},
        }
        atomic_write_text(tmp / "meta.json", dump_json(meta))
    return _handle(root, meta)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="video", leave=False)
