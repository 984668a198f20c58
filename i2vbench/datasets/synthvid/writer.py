"""The one SynthVid writer: a pool of scenes, rendered once per task folder, plus a task's files.

Every SynthVid task (TVG now; VTR, VAR, VideoQA, captioning, STVG, OV-MOT next) writes the
same kind of folder::

    videos/<vid>.mp4     H.264 (libx264, yuv420p), one per (split, index)
    <task files>         the real dataset's own annotation format, from the task's writer
    scenes.jsonl         full ground truth per video (scene + the task's annotations)
    meta.json            task, versions, seed, config, counts, codec, sha256 of every file

Why one framework: so that the tasks can never disagree about what happened in a video. The
scene of a video is a pure function of (seed, split, index, scene config) — :func:`video_scene`,
on its own random stream — so video ``svtr00012`` of seed 0 shows the same thing (byte for byte)
in the TVG folder, the captioning folder and the tracking folder, whatever their sizes. A task
adds only its annotations, drawn from its own stream (:func:`task_rng`, keyed by the task's
name as well), so adding or changing a task never moves another task's scenes or labels.

A task writer is a :class:`TaskWriter`: a name, a version, an ``annotate`` function (scene +
its rng → JSON-able annotations of that video) and a ``files`` function (the per-split records →
``{file name: contents}``); its config is a :class:`WriterConfig` subclass. :func:`build_task`
does the rest: the cache folder keyed by a hash of (versions, task, seed, config), reuse only
when that matches and every file's sha256 is intact, the atomic build (an interrupted build
leaves nothing), and rendering/encoding in spawned worker processes (the output does not depend
on their number: every video is encoded single-threaded from its own scene).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar

import numpy as np

from i2vbench.datasets.synthvid.codec import CRF, PRESET, X264_PARAMS, encode
from i2vbench.datasets.synthvid.world import Scene, SceneConfig, sample_scene, scene_from_json
from i2vbench.errors import BenchError
from i2vbench.io import atomic_dir, atomic_write_bytes, atomic_write_text, dump_json, read_json
from i2vbench.paths import cache_dir

# Bump whenever the scene pool, the videos or the folder layout can change (a task's own
# annotation changes bump its TaskWriter.version instead, so other tasks' caches stay valid).
GENERATOR_VERSION = "3"
SPLITS: tuple[str, ...] = ("train", "val", "test")
# Random-stream key of each split. Not SPLITS.index: keys must never move when a split is
# added (val came after train/test and got 2, so train/test scenes stayed those of version 2).
_SPLIT_KEY = {"train": 0, "test": 1, "val": 2}
_SCENE_STREAM = 0x7B6  # the scene pool's stream tag (a task's tag is derived from its name)
RESERVED = ("videos", "scenes.jsonl", "meta.json")  # names a task's files may not take
C = TypeVar("C", bound="WriterConfig")
H = TypeVar("H", bound="TaskFolder")
Records = dict[str, list[dict]]  # split -> scenes.jsonl records of its videos, in index order


@dataclass(frozen=True)
class WriterConfig:
    """What every SynthVid task folder has: the scene look, videos per split, the codec quality.

    Task configs subclass it with their own fields; the whole dataclass (with the seed and the
    versions) is the folder's identity.
    """

    scene: SceneConfig = field(default_factory=SceneConfig)
    n_train: int = 600
    n_val: int = 100
    n_test: int = 250
    crf: int = CRF

    def count(self, split: str) -> int:
        """Number of videos in ``split``."""
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[check_split(split)]

    def with_counts(self: C, n_train: int | None = None, n_val: int | None = None,
                    n_test: int | None = None) -> C:
        """A copy with the given per-split video counts (``None`` keeps the current one)."""
        given = {"n_train": n_train, "n_val": n_val, "n_test": n_test}
        return replace(self, **{k: v for k, v in given.items() if v is not None})


def _no_counts(records: list[dict]) -> dict[str, int]:
    return {}


@dataclass(frozen=True)
class TaskWriter(Generic[C]):
    """What a task adds to the scene pool (its config is a :class:`WriterConfig` subclass).

    Both functions run in the main process (only rendering goes to the workers). ``version``
    is part of the folder's identity: bump it whenever the task's output bytes can change.
    ``annotate(scene, rng, cfg)`` returns the video's annotations as a JSON-able dict; its keys
    are added to the video's ``scenes.jsonl`` record (so they must not be scene keys), and the
    record is what ``files`` and ``counts`` see. ``files(records, cfg)`` returns every
    annotation file of the folder (``str`` is written as UTF-8; give ``bytes`` to control the
    encoding). ``counts(split_records)`` adds per-split counts to the folder's ``videos`` and
    ``events``; ``meta`` adds static entries to ``meta.json`` (e.g. a label map).

    Two optional hooks, for formats whose videos are not one pool scene each under SynthVid's
    own ids: ``scene(seed, split, index, cfg)`` gives the video's scene instead of
    :func:`video_scene` (a task-specific script, or a pool scene played backwards), and
    ``vid(split, index, annotations, cfg)`` gives its id (file stem and record ``vid``)
    instead of :func:`video_id` (e.g. MSR-VTT's ``video7010``, Kinetics' ``<yid>_<start>_<end>``).
    A task using them gives up the shared-pool guarantee above for its own videos, nothing else.

    ``videos_from(cfg) -> (writer, config)`` makes a task that annotates another task's folder
    instead of rendering its own: that folder is built (or reused) first, this one's ``videos``
    is a link to its videos, and each record is that folder's record (scene and its task's
    annotations, e.g. MSR-VTT's captions) plus this task's ``annotate`` of the same scene.
    Question sets of one video pool (MSRVTT-MC and MSVD-QA on the MSR-VTT pool) share videos
    and cached features this way, as the real datasets share videos.
    """

    task: str
    version: str
    annotate: Callable[[Scene, np.random.Generator, C], dict]
    files: Callable[[Records, C], dict[str, str | bytes]]
    counts: Callable[[list[dict]], dict[str, int]] = _no_counts
    meta: Mapping[str, Any] = field(default_factory=dict)
    scene: Callable[[int, str, int, C], Scene] | None = None
    vid: Callable[[str, int, dict, C], str] | None = None
    videos_from: Callable[[C], tuple[TaskWriter, WriterConfig]] | None = None

    def video(self, seed: int, split: str, index: int, cfg: C) -> tuple[Scene, dict]:
        """One video's scene and this task's annotations of it, exactly as a build writes them."""
        scene = (self.scene(seed, split, index, cfg) if self.scene is not None
                 else video_scene(seed, split, index, cfg.scene))
        return scene, self.annotate(scene, task_rng(seed, split, index, self.task), cfg)

    def video_name(self, split: str, index: int, annotations: dict, cfg: C) -> str:
        """The id of video (split, index): the ``vid`` hook's, else :func:`video_id`."""
        return self.vid(split, index, annotations, cfg) if self.vid is not None else video_id(split, index)


@dataclass(frozen=True)
class Built:
    """A built (or reused) task folder: where it is and its ``meta.json``."""

    root: Path
    meta: dict

    def folder_fields(self) -> dict[str, Any]:
        """The :class:`TaskFolder` fields every task's handle shares, read off this folder."""
        scene = self.meta["config"]["scene"]
        return {"root": self.root, "videos_dir": self.root / "videos", "scenes_jsonl": self.root / "scenes.jsonl",
                "meta_json": self.root / "meta.json", "fps": scene["fps"], "image_size": scene["image_size"],
                "seed": self.meta["seed"], "counts": self.meta["counts"]}


@dataclass(frozen=True)
class TaskFolder:
    """What every built SynthVid task folder has; a task's handle subclasses it with its own files."""

    root: Path
    videos_dir: Path
    scenes_jsonl: Path
    meta_json: Path
    fps: float
    image_size: int
    seed: int
    counts: dict

    @classmethod
    def of(cls: type[H], built: Built) -> H:
        """The handle of a built folder, for a task with no files of its own to point at."""
        return cls(**built.folder_fields())

    def video(self, vid: str) -> Path:
        """The video file of a video id (a record's ``vid``, a file stem under ``videos/``)."""
        return self.videos_dir / f"{vid}.mp4"

    def records(self, split: str | None = None) -> Iterator[dict]:
        """The ``scenes.jsonl`` records (scene + the task's annotations) of ``split``, or of all."""
        with self.scenes_jsonl.open(encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                if split is None or d["split"] == split:
                    yield d

    def scenes_with(self, key: str | None, split: str | None = None) -> Iterator[tuple[str, str, Scene, Any]]:
        """(vid, split, scene, the record's ``key`` annotation, or the whole record if ``key`` is
        None) for every video of ``split``: what each task's ``scenes()`` gives."""
        for d in self.records(split):
            yield d["vid"], d["split"], scene_from_json(d), d if key is None else d[key]


def check_split(split: str) -> str:
    """``split`` if it is one of SPLITS, else a BenchError that lists them."""
    if split not in SPLITS:
        raise BenchError(f"unknown split {split!r}; SynthVid splits are {', '.join(SPLITS)}")
    return split


def _stream_tag(name: str) -> int:
    """A stable 32-bit integer for a name (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def video_id(split: str, index: int) -> str:
    """``svtr00012``, ``svva00003``, ``svte00041``: the same id in every task's folder."""
    return f"sv{check_split(split)[:2]}{index:05d}"


def video_scene(seed: int, split: str, index: int, cfg: SceneConfig = SceneConfig()) -> Scene:
    """The scene of video (seed, split, index): a pure function, the same for every task."""
    return sample_scene(np.random.default_rng([seed, _SPLIT_KEY[check_split(split)], index, _SCENE_STREAM]), cfg)


def task_rng(seed: int, split: str, index: int, task: str) -> np.random.Generator:
    """The random stream of ``task``'s annotations of video (seed, split, index).

    Independent of the scene's stream and of every other task's, so one task drawing more or
    fewer numbers changes nothing elsewhere.
    """
    tag = _stream_tag(task)
    assert tag != _SCENE_STREAM, task
    return np.random.default_rng([seed, _SPLIT_KEY[check_split(split)], index, tag])


def config_hash(writer: TaskWriter, seed: int, cfg: WriterConfig) -> str:
    return hashlib.sha256(json.dumps(_identity(writer, seed, cfg), sort_keys=True).encode()).hexdigest()[:12]


def default_root(writer: TaskWriter, seed: int, cfg: WriterConfig) -> Path:
    """``cache_dir()/synthvid/<task>-<hash of versions, seed and config>``."""
    return cache_dir() / "synthvid" / f"{writer.task}-{config_hash(writer, seed, cfg)}"


def _identity(writer: TaskWriter, seed: int, cfg: WriterConfig) -> dict:
    """What meta.json must match for a folder to be reused (JSON-normalised, e.g. tuples → lists)."""
    return json.loads(json.dumps({"task": writer.task, "version": GENERATOR_VERSION,
                                  "task_version": writer.version, "seed": seed, "config": asdict(cfg)}))


_IDENTITY_WORDS = {"task": "task", "version": "generator version", "task_version": "task version",
                   "seed": "seed", "config": "config"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reuse(writer: TaskWriter, root: Path, seed: int, cfg: WriterConfig) -> Built:
    """An existing folder, only if built by this writer, versions, seed and config, and intact."""
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise BenchError(f"{root} exists but is not a SynthVid benchmark (no meta.json); "
                         "choose another directory or pass force=True / --force")
    meta = read_json(meta_path, "SynthVid meta.json")
    want = _identity(writer, seed, cfg)
    got = {k: meta.get(k) for k in want}
    if got != want:
        differ = ", ".join(_IDENTITY_WORDS[k] for k in want if got[k] != want[k])
        raise BenchError(f"{meta_path}: built with a different {differ} (task {got['task']}, generator "
                         f"version {got['version']}, task version {got['task_version']}, seed "
                         f"{got['seed']}); choose another directory or rebuild with force")
    for name, digest in meta["sha256"].items():
        if not (root / name).is_file() or _sha256(root / name) != digest:
            raise BenchError(f"{root / name}: missing or changed since it was generated; rebuild with force")
    if writer.videos_from is not None:  # the videos it annotates must still be those it was built on
        source_writer, source_config = writer.videos_from(cfg)
        source = build_task(source_writer, source_config, seed=seed, progress=False)
        if (root / "videos").resolve() != (source.root / "videos").resolve():
            raise BenchError(f"{root / 'videos'}: does not lead to the videos of {source.root}; rebuild with force")
    return Built(root, meta)


def _record(vid: str, split: str, scene: Scene, annotations: dict) -> dict:
    base = {"vid": vid, "split": split, **scene.to_json()}
    clash = base.keys() & annotations.keys()
    if clash:
        raise ValueError(f"task annotations may not reuse scene keys: {sorted(clash)}")
    return {**base, **annotations}


def _plan(writer: TaskWriter[C], seed: int, cfg: C) -> tuple[Records, list[tuple[str, Scene]]]:
    """Every video's record, by split, and the (video id, scene) pairs to render.

    Sampling and annotating are cheap (under 1 ms a video) and happen here, in index order;
    only rendering and encoding (~50 ms a video) go to the workers.
    """
    records: Records = {s: [] for s in SPLITS}
    scenes = []
    seen: set[str] = set()
    for split in SPLITS:
        for i in range(cfg.count(split)):
            scene, ann = writer.video(seed, split, i, cfg)
            vid = writer.video_name(split, i, ann, cfg)
            if vid in seen or "/" in vid:
                raise ValueError(f"task {writer.task!r} named two videos {vid!r} (or put a / in it)")
            seen.add(vid)
            records[split].append(_record(vid, split, scene, ann))
            scenes.append((vid, scene))
    return records, scenes


def _encode(job: tuple[Scene, str, int]) -> None:
    """Worker: render one scene and encode it (single-threaded x264: reproducible bytes)."""
    scene, path, crf = job
    encode(scene.render(), scene.fps, Path(path), crf=crf)


def _render_all(jobs: list[tuple[Scene, str, int]], workers: int, desc: str, progress: bool) -> None:
    bar = _progress(len(jobs), desc, progress)
    try:
        if workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
                for _ in ex.map(_encode, jobs, chunksize=16):
                    bar.update(1)
        else:
            for job in jobs:
                _encode(job)
                bar.update(1)
    finally:
        bar.close()


def build_task(writer: TaskWriter[C], config: C, root: Path | str | None = None, *, seed: int = 0,
               force: bool = False, progress: bool = True, workers: int | None = None) -> Built:
    """Generate (or reuse) ``writer``'s SynthVid folder for ``seed`` and ``config``.

    Default root: :func:`default_root`. An existing folder built with the same task, versions,
    seed and config is reused if every file still has its recorded sha256 (a clear
    :class:`BenchError` otherwise); ``force`` rebuilds it. The folder is built in a temporary
    sibling and moved into place at the end, so an interrupted build leaves nothing behind.
    ``workers`` processes render and encode videos (default: up to 2); the output does not
    depend on it.
    """
    for split in SPLITS:
        if config.count(split) < 0:
            raise BenchError(f"n_{split} must be >= 0 (got {config.count(split)})")
    root = Path(root) if root is not None else default_root(writer, seed, config)
    if root.exists():
        if not force:
            return _reuse(writer, root, seed, config)
        if not (root / "meta.json").is_file() and any(root.iterdir()):
            raise BenchError(f"{root} is not a SynthVid benchmark; refusing to delete it with force")
        shutil.rmtree(root)

    try:
        meta = _write(writer, config, root, seed, progress, workers)
    except OSError:
        if (root / "meta.json").is_file():  # another process built the same folder meanwhile
            return _reuse(writer, root, seed, config)
        raise
    return Built(root, meta)


class BuildOptions(TypedDict, total=False):
    """The options of every ``build_<task>`` (see :func:`build`)."""

    seed: int
    n_train: int | None
    n_val: int | None
    n_test: int | None
    force: bool
    progress: bool
    workers: int | None


def build(writer: TaskWriter[C], config: C, handle: Callable[[Built], H], root: Path | str | None = None, *,
          seed: int = 0, n_train: int | None = None, n_val: int | None = None, n_test: int | None = None,
          force: bool = False, progress: bool = True, workers: int | None = None) -> H:
    """The body of every ``build_<task>``: :func:`build_task` of ``config`` with the given
    per-split video counts (``None`` keeps the config's), returned as the task's handle."""
    cfg = config.with_counts(n_train, n_val, n_test)
    return handle(build_task(writer, cfg, root, seed=seed, force=force, progress=progress, workers=workers))


def _write_files(writer: TaskWriter[C], records: Records, config: C, tmp: Path) -> list[str]:
    """Write the task's files and ``scenes.jsonl`` into ``tmp``; returns their names."""
    files = writer.files(records, config)
    bad = [n for n in files if n.split("/")[0] in RESERVED]
    if bad:
        raise ValueError(f"task {writer.task!r} may not write {bad}: reserved by the writer")
    files["scenes.jsonl"] = "".join(json.dumps(r, separators=(",", ":")) + "\n"
                                    for s in SPLITS for r in records[s])
    for name, data in files.items():
        atomic_write_bytes(tmp / name, data.encode("utf-8") if isinstance(data, str) else data)
    return list(files)


def _counts(writer: TaskWriter, records: Records) -> dict[str, dict[str, int]]:
    """meta.json's ``counts``: videos and events per split, plus the task's own counts."""
    return {s: {"videos": len(records[s]), "events": sum(len(r["events"]) for r in records[s]),
                **writer.counts(records[s])} for s in SPLITS}


def _write(writer: TaskWriter[C], config: C, root: Path, seed: int, progress: bool,
           workers: int | None) -> dict:
    """Build the folder in a temporary sibling and move it to ``root``; returns its meta."""
    if writer.videos_from is not None:
        return _write_derived(writer, config, root, seed, progress, workers)
    records, scenes = _plan(writer, seed, config)
    if workers is None:
        workers = min(2, os.cpu_count() or 1, max(1, len(scenes) // 64))
    with atomic_dir(root) as tmp:
        videos = tmp / "videos"
        videos.mkdir()
        jobs = [(scene, str(videos / f"{vid}.mp4"), config.crf) for vid, scene in scenes]
        _render_all(jobs, workers, f"SynthVid {writer.task} videos", progress)
        files = _write_files(writer, records, config, tmp)
        names = [*files, *(f"videos/{vid}.mp4" for vid, _ in scenes)]
        counts = _counts(writer, records)
        meta = {
            **writer.meta,  # first, so that it can never shadow the writer's own entries
            "generator": "i2vbench.datasets.synthvid", **_identity(writer, seed, config),
            "counts": counts,
            "codec": {"codec": "libx264", "pix_fmt": "yuv420p", "crf": config.crf, "preset": PRESET,
                      "x264_params": X264_PARAMS, "threads": 1},
            "sha256": {name: _sha256(tmp / name) for name in names},
        }
        atomic_write_text(tmp / "meta.json", dump_json(meta))
    return meta


def _write_derived(writer: TaskWriter[C], config: C, root: Path, seed: int, progress: bool,
                   workers: int | None) -> dict:
    """A folder of annotations on another task's videos (see ``TaskWriter.videos_from``)."""
    source_writer, source_config = writer.videos_from(config)
    source = build_task(source_writer, source_config, seed=seed, progress=progress, workers=workers)
    records: Records = {s: [] for s in SPLITS}
    with (source.root / "scenes.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            records[rec["split"]].append(rec)
    for split in SPLITS:
        for i, rec in enumerate(records[split]):
            ann = writer.annotate(scene_from_json(rec), task_rng(seed, split, i, writer.task), config)
            clash = rec.keys() & ann.keys()
            if clash:
                raise ValueError(f"task {writer.task!r} may not reuse keys of {source_writer.task!r}'s "
                                 f"records: {sorted(clash)}")
            rec.update(ann)
    with atomic_dir(root) as tmp:
        os.symlink(source.root.resolve() / "videos", tmp / "videos", target_is_directory=True)
        files = _write_files(writer, records, config, tmp)
        counts = _counts(writer, records)
        meta = {
            **writer.meta, "generator": "i2vbench.datasets.synthvid", **_identity(writer, seed, config),
            "counts": counts, "videos_from": {"task": source_writer.task, "root": str(source.root)},
            "sha256": {name: _sha256(tmp / name) for name in files},
        }
        atomic_write_text(tmp / "meta.json", dump_json(meta))
    return meta


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
