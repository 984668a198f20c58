"""The SynthVid writer framework: one scene pool for every task, cache reuse checks, atomic builds.

A toy task ("how many objects does each video have", one csv per split) is defined here in a few
lines, as a new task's writer would be, and must see exactly the videos TVG sees.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.datasets.synthvid import (
    SPLITS,
    TaskWriter,
    WriterConfig,
    build_task,
    task_rng,
    video_scene,
)
from i2vbench.datasets.synthvid.tvg import TVG, TVGConfig
from i2vbench.datasets.synthvid.world import Scene
from i2vbench.datasets.synthvid.writer import _plan, default_root
from i2vbench.errors import BenchError

SEED = 3
SIZES = {"n_train": 3, "n_val": 1, "n_test": 2}


# -- the toy task: everything a new task has to write ---------------------------------------
def count_objects(scene: Scene, rng: np.random.Generator, cfg: WriterConfig) -> dict:
    return {"n_objects": len(scene.objects), "guess": int(rng.integers(1000))}


def count_csv(records: dict[str, list[dict]], cfg: WriterConfig) -> dict[str, str | bytes]:
    return {f"counts_{s}.csv": "".join(f"{r['vid']},{r['n_objects']}\n" for r in records[s]) for s in SPLITS}


COUNT = TaskWriter("count", "1", count_objects, count_csv)
# -------------------------------------------------------------------------------------------


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _records(root: Path) -> dict[str, dict]:
    return {r["vid"]: r for r in map(json.loads, (root / "scenes.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The toy task and TVG on the same seed and sizes (TVG with a different n_train)."""
    base = tmp_path_factory.mktemp("writer")
    count = build_task(COUNT, WriterConfig(**SIZES), base / "count", seed=SEED, progress=False, workers=1)
    tvg = build_task(TVG, TVGConfig(**{**SIZES, "n_train": 2}), base / "tvg", seed=SEED, progress=False,
                     workers=2)
    return {"count": count.root, "tvg": tvg.root}


def test_toy_task_gets_its_files_and_the_shared_layout(built):
    root = built["count"]
    meta = json.loads((root / "meta.json").read_text())
    assert meta["task"] == "count" and meta["task_version"] == "1" and meta["seed"] == SEED
    assert {s: meta["counts"][s]["videos"] for s in SPLITS} == {"train": 3, "val": 1, "test": 2}
    assert sorted(p.name for p in root.iterdir()) == [
        "counts_test.csv", "counts_train.csv", "counts_val.csv", "meta.json", "scenes.jsonl", "videos"]
    # every file is covered by a sha256, the videos included
    assert set(meta["sha256"]) == {p.relative_to(root).as_posix() for p in root.rglob("*")
                                    if p.is_file() and p.name != "meta.json"}
    lines = (root / "counts_val.csv").read_text().splitlines()
    assert lines == [f"svva00000,{len(video_scene(SEED, 'val', 0).objects)}"]


def test_every_task_sees_the_same_videos(built):
    """Same (seed, split, index) → same scene record and byte-identical mp4, whatever the task,
    its other split sizes or its worker count; the task keys are the only difference."""
    count, tvg = _records(built["count"]), _records(built["tvg"])
    common = count.keys() & tvg.keys()
    assert sorted(common) == ["svte00000", "svte00001", "svtr00000", "svtr00001", "svva00000"]
    for vid in common:
        a = {k: v for k, v in count[vid].items() if k not in ("n_objects", "guess")}
        b = {k: v for k, v in tvg[vid].items() if k != "queries"}
        assert a == b, vid
        assert _sha(built["count"] / "videos" / f"{vid}.mp4") == _sha(built["tvg"] / "videos" / f"{vid}.mp4")
        split = b["split"]
        assert b == {"vid": vid, "split": split,
                     **json.loads(json.dumps(video_scene(SEED, split, int(vid[4:])).to_json()))}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), split=st.sampled_from(SPLITS), index=st.integers(0, 5),
       extra=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)))
def test_a_video_depends_only_on_seed_split_index(seed, split, index, extra):
    """The records a build plans for (split, index) do not depend on the other videos, the split
    sizes or the task; each task's annotations come from its own stream."""
    def plan(writer, cfg, more):
        counts = {f"n_{s}": (index + 1 if s == split else 0) + m for s, m in zip(SPLITS, more, strict=True)}
        records, scenes = _plan(writer, seed, replace(cfg, **counts))
        return records[split][index], dict(scenes)[records[split][index]["vid"]]

    rec, scene = plan(TVG, TVGConfig(), (0, 0, 0))
    again, _ = plan(TVG, TVGConfig(), extra)
    toy, _ = plan(COUNT, WriterConfig(), extra[::-1])
    assert rec == again
    assert scene.to_json() == video_scene(seed, split, index).to_json()
    assert {k: v for k, v in rec.items() if k != "queries"} == {
        k: v for k, v in toy.items() if k not in ("n_objects", "guess")}
    assert rec["vid"] == f"sv{split[:2]}{index:05d}" and rec["split"] == split
    # the task's stream is its own: not the scene's, not another task's, not another video's
    draws = {name: task_rng(seed, split, index, name).integers(2**62) for name in ("tvg", "count", "vtr")}
    assert len(set(draws.values())) == 3
    assert toy["guess"] == task_rng(seed, split, index, "count").integers(1000)


def test_reuse_and_its_checks(built, tmp_path: Path):
    root = built["count"]
    assert build_task(COUNT, WriterConfig(**SIZES), root, seed=SEED, progress=False).root == root
    with pytest.raises(BenchError, match="different seed"):
        build_task(COUNT, WriterConfig(**SIZES), root, seed=SEED + 1, progress=False)
    with pytest.raises(BenchError, match="different config"):
        build_task(COUNT, WriterConfig(**{**SIZES, "crf": 20}), root, seed=SEED, progress=False)
    with pytest.raises(BenchError, match="different task, config"):
        build_task(TVG, TVGConfig(**SIZES), root, seed=SEED, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    for force in (False, True):
        with pytest.raises(BenchError, match="not a SynthVid benchmark"):
            build_task(COUNT, WriterConfig(**SIZES), tmp_path / "junk", seed=SEED, progress=False, force=force)


@pytest.mark.parametrize("damage", ["edit annotation", "edit video", "delete video"])
def test_a_changed_file_is_detected_on_reuse(tmp_path: Path, damage: str):
    cfg = WriterConfig(n_train=1, n_val=1, n_test=0)
    root = build_task(COUNT, cfg, tmp_path / "x", seed=SEED, progress=False, workers=1).root
    video = root / "videos" / "svva00000.mp4"
    if damage == "edit annotation":
        (root / "counts_train.csv").write_text("svtr00000,9\n")
    elif damage == "edit video":
        data = bytearray(video.read_bytes())
        data[len(data) // 2] ^= 1
        video.write_bytes(bytes(data))
    else:
        video.unlink()
    with pytest.raises(BenchError, match="missing or changed since it was generated"):
        build_task(COUNT, cfg, root, seed=SEED, progress=False)
    rebuilt = build_task(COUNT, cfg, root, seed=SEED, progress=False, force=True, workers=1)
    assert build_task(COUNT, cfg, rebuilt.root, seed=SEED, progress=False).meta == rebuilt.meta


def _interrupt(records, cfg):
    raise KeyboardInterrupt


def test_interrupted_build_leaves_nothing(tmp_path: Path):
    with pytest.raises(KeyboardInterrupt):
        build_task(replace(COUNT, files=_interrupt), WriterConfig(n_train=2, n_val=1, n_test=1),
                   tmp_path / "d", seed=SEED, progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_a_concurrent_build_of_the_same_folder_is_reused(tmp_path: Path):
    cfg, root = WriterConfig(n_train=1, n_val=1, n_test=0), tmp_path / "r"

    def files_after_a_rival_build(records, c):
        """As if another process finished the same build while this one was rendering."""
        build_task(COUNT, c, root, seed=SEED, progress=False, workers=1)
        return count_csv(records, c)

    got = build_task(replace(COUNT, files=files_after_a_rival_build), cfg, root, seed=SEED, progress=False,
                     workers=1)
    assert got.root == root and [p.name for p in tmp_path.iterdir()] == ["r"]


def _bad_files(records, cfg):
    return {"scenes.jsonl": ""}


def _bad_annotations(scene, rng, cfg):
    return {"events": []}


def test_task_writer_mistakes_and_bad_sizes(tmp_path: Path):
    cfg = WriterConfig(n_train=1, n_val=0, n_test=0)
    with pytest.raises(ValueError, match="reserved"):
        build_task(replace(COUNT, files=_bad_files), cfg, tmp_path / "a", progress=False, workers=1)
    with pytest.raises(ValueError, match="may not reuse scene keys"):
        build_task(replace(COUNT, annotate=_bad_annotations), cfg, tmp_path / "b", progress=False)
    with pytest.raises(BenchError, match="n_val must be >= 0"):
        build_task(COUNT, replace(cfg, n_val=-1), tmp_path / "c", progress=False)
    with pytest.raises(BenchError, match="unknown split 'dev'"):
        video_scene(0, "dev", 0)
    assert list(tmp_path.iterdir()) == []


def test_default_root_is_keyed_by_task_seed_and_config(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path))
    cfg = WriterConfig(n_train=1, n_val=0, n_test=0)
    root = default_root(COUNT, 0, cfg)
    assert root.parent == tmp_path / "synthvid" and root.name.startswith("count-")
    others = {default_root(COUNT, 1, cfg), default_root(COUNT, 0, replace(cfg, n_val=1)),
              default_root(replace(COUNT, version="2"), 0, cfg)}
    assert root not in others and len(others) == 3
    assert build_task(COUNT, cfg, seed=0, progress=False).root == root
