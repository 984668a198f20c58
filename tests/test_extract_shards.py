"""`bench extract`: shards 0/3, 1/3, 2/3 + `--merge` give byte for byte the unsharded run's
feature files; a missing or partial shard is named; the split is by a stable hash of the id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from i2vbench.datasets.shards import parse_shard, shard_of
from i2vbench.errors import BenchError

SMALL = "synthvid: {n_train: 10, n_val: 3, n_test: 3}\n"


@pytest.fixture
def small_extract(tmp_path, monkeypatch) -> tuple[Path, tuple[str, ...]]:
    """A fresh cache (``I2VBENCH_CACHE``) and the ``bench extract`` arguments of a small TVG set."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    cfg = tmp_path / "small.yaml"
    cfg.write_text(SMALL)
    return cache, ("extract", "--task", "tvg", "--config", str(cfg), "--no-progress")


def _feature_files(cache: Path) -> dict[str, bytes]:
    """Every cached feature file (relative path → bytes), without shard manifests and indexes."""
    root = cache / "features"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.npz"))}


def _index(cache: Path) -> dict:
    (path,) = (cache / "features").rglob("index.json")
    return json.loads(path.read_text())["videos"]


def test_shards_and_merge_equal_the_unsharded_extraction(bench, tmp_path, small_extract):
    cache, args = small_extract

    for i in (0, 1):
        code, out, err = bench(*args, "--shard", f"{i}/3")
        assert code == 0, err
        assert f"shard {i}/3" in out
    code, _, err = bench(*args, "--merge")  # shard 2 has not run
    assert code == 2 and "shard 2/3 is missing" in err and "--shard 2/3" in err
    assert not list((cache / "features").rglob("index.json"))  # nothing indexed from an incomplete set

    code, _, err = bench(*args, "--shard", "2/3")
    assert code == 0, err
    code, out, err = bench(*args, "--merge")
    assert code == 0, err
    assert "3 shard(s) complete" in out
    sharded, index = _feature_files(cache), _index(cache)
    assert len(index) == 16 and len(sharded) == 16

    # the same run unsharded, into a fresh feature cache (the generated videos stay where they are)
    shutil.move(cache / "features", tmp_path / "sharded-features")
    code, out, err = bench(*args)
    assert code == 0, err
    assert "16 videos; index" in out
    assert _feature_files(cache) == sharded  # same files, same bytes
    assert _index(cache) == index

    # a shard whose file changed after it finished is named too
    shutil.rmtree(cache / "features")
    shutil.move(tmp_path / "sharded-features", cache / "features")
    victim = next((cache / "features").rglob("*.npz"))
    victim.write_bytes(victim.read_bytes()[:-8] + b"\0" * 8)
    code, _, err = bench(*args, "--merge")
    assert code == 2 and "has other bytes than" in err and str(victim) in err


def test_partial_shard_is_named(bench, small_extract):
    """A shard that wrote some features but died before its manifest is reported as partial."""
    cache, args = small_extract
    for i in (0, 1):
        assert bench(*args, "--shard", f"{i}/2")[0] == 0
    (manifest,) = (cache / "features").rglob("shard-1-of-2.json")
    manifest.unlink()  # as if shard 1 was killed after writing its features
    code, _, err = bench(*args, "--merge")
    assert code == 2 and "shard 1/2 is partial" in err


@given(st.text(min_size=1, max_size=40), st.integers(1, 64))
def test_shard_of_is_a_function_of_the_id(vid, n):
    s = shard_of(vid, n)
    assert 0 <= s < n and s == shard_of(vid, n)


def test_shard_split_is_balanced_and_order_free():
    ids = [f"video{i:05d}" for i in range(3000)]
    counts = [sum(shard_of(v, 3) == k for v in ids) for k in range(3)]
    assert min(counts) > 900  # ~1000 each
    assert [shard_of(v, 3) for v in reversed(ids)] == [shard_of(v, 3) for v in ids][::-1]


@pytest.mark.parametrize("bad", ["3/3", "-1/2", "1", "a/b", "1/0", ""])
def test_bad_shard_spec(bad):
    with pytest.raises(BenchError, match="--shard expects I/N"):
        parse_shard(bad)


def test_the_index_finds_features_by_id_when_videos_moved(tmp_path):
    """Shards on other machines mount the videos elsewhere: a merged index entry (same video
    size) names the file; a stale entry (other size) or one that is not a plain file name is not
    used."""
    from i2vbench.datasets.features import cache_file

    video = tmp_path / "elsewhere" / "v1.mp4"
    video.parent.mkdir()
    video.write_bytes(b"0" * 100)
    root = tmp_path / "root"
    default = cache_file(root, "v1", video)
    assert default.parent == root and default.name.startswith("v1-")
    assert cache_file(root, "v1", video, {"v1": {"file": "v1-abc.npz", "video_size": 100}}) == root / "v1-abc.npz"
    assert cache_file(root, "v1", video, {"v1": {"file": "v1-abc.npz", "video_size": 99}}) == default
    assert cache_file(root, "v1", video, {"v1": {"file": "../x.npz", "video_size": 100}}) == default


@pytest.mark.parametrize("task", ["vtr", "captioning"])
def test_a_run_on_the_msrvtt_pool_reads_what_bench_extract_wrote(task, bench, tmp_path, monkeypatch):
    """VTR and captioning share the MSR-VTT pool's plan: after `bench extract --task T` the run
    encodes no frame (the encoder is made to fail) and finds every video in the index."""
    import i2vbench.datasets.features as features

    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "small.yaml"
    cfg.write_text("synthvid: {n_train: 8, n_val: 3, n_test: 3}\n")
    code, out, err = bench("extract", "--task", task, "--config", str(cfg), "--no-progress")
    assert code == 0, err
    assert len(_index(tmp_path / "cache")) == 14

    def no_encoding(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a frame was encoded after bench extract")

    monkeypatch.setattr(features, "encode_frames", no_encoding)
    method = {"vtr": "zero_shot", "captioning": "nearest_caption"}[task]
    code, out, err = bench("run", "--task", task, "--config", str(cfg), "--methods", method, "--no-progress",
                           "--out", str(tmp_path / "runs"))
    assert code == 0, err
