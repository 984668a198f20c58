"""Frozen-feature extraction: workers give the same features as one process, and the cache holds."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from i2vbench.datasets.synthvid import build_tvg

    data = build_tvg(tmp_path_factory.mktemp("synthvid") / "tvg", seed=3, n_train=16, n_test=4, progress=False)
    return {p.stem: p for p in sorted((data.root / "videos").glob("*.mp4"))}


def test_workers_extract_the_features_one_process_does(videos, tmp_path, monkeypatch):
    import torch

    from i2vbench.datasets.features import Sampling, extract_video_features
    from i2vbench.methods.backbones import load_backbone

    backbone = load_backbone("tinyclip")
    got, threads = {}, torch.get_num_threads()
    try:
        for jobs in (1, 2):
            monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path / f"jobs{jobs}"))
            torch.set_num_threads(1)
            got[jobs] = extract_video_features(backbone, backbone.backbone_id, videos, Sampling(),
                                               progress=False, jobs=jobs)
            assert list(got[jobs]) == list(videos)  # in the order asked for
            assert len(list((tmp_path / f"jobs{jobs}").rglob("*.npz"))) == len(videos)
    finally:
        torch.set_num_threads(threads)
    for vid in videos:
        one, two = got[1][vid], got[2][vid]
        assert one.duration == two.duration
        np.testing.assert_array_equal(one.frames, two.frames)
        np.testing.assert_allclose(one.pooled, two.pooled, atol=1e-5)
        np.testing.assert_allclose(one.layers.astype(np.float32), two.layers.astype(np.float32), atol=1e-2)
    # a second call reads the cache written by the workers, unchanged
    again = extract_video_features(backbone, backbone.backbone_id, videos, Sampling(), progress=False, jobs=2)
    for vid in videos:
        np.testing.assert_array_equal(again[vid].pooled, got[2][vid].pooled)


def test_perf_features_quick_prints_both_timings(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path))
    from i2vbench.perf.__main__ import main

    assert main(["features", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "one process, 2 threads (s)" in out and "2 workers, 1 thread each (s)" in out and "speed-up" in out


def test_feature_cache_is_keyed_by_weights_hash_or_init_seed():
    import pytest

    from i2vbench.datasets.features import cache_id
    from i2vbench.errors import BenchError

    assert cache_id("tinyclip-3f2a9c1b7d04", init_seed=5) == "tinyclip-3f2a9c1b7d04"  # weights pin it
    assert cache_id("open_clip_ViT-B-32-random", init_seed=5) == "open_clip_ViT-B-32-random-seed5"
    with pytest.raises(BenchError, match="seed"):
        cache_id("open_clip_ViT-B-32-random")


def test_hostile_video_ids_stay_inside_the_feature_cache(videos, tmp_path, monkeypatch):
    """An id from an annotation file (``../../x``, an absolute path) names a cache file, never a path."""
    from i2vbench.datasets.features import Sampling, extract_video_features
    from i2vbench.methods.backbones import load_backbone

    backbone = load_backbone("tinyclip")
    cache = tmp_path / "cache"
    monkeypatch.setenv("I2VBENCH_CACHE", str(cache))
    first = next(iter(videos.values()))
    hostile = {"../../escaped": first, "/abs/escaped": first, "ok-id": first}
    got = extract_video_features(backbone, backbone.backbone_id, hostile, Sampling(), progress=False)
    assert list(got) == list(hostile)
    written = list(tmp_path.rglob("*.npz"))
    assert len(written) == 3 and all(cache in p.parents for p in written)
    assert not list(tmp_path.rglob("escaped*"))


def test_released_feature_layouts_refuse_path_ids(tmp_path):
    from i2vbench.datasets.features import load_univtg_features, load_univtg_text
    from i2vbench.errors import BenchError

    with pytest.raises(BenchError, match=r"video id '\.\./x' is not a plain file name"):
        load_univtg_features(tmp_path, ["../x"], {"../x": 1.0})
    with pytest.raises(BenchError, match="query id '/etc/passwd' is not a plain file name"):
        load_univtg_text(tmp_path, ["/etc/passwd"])


def test_npz_headers_are_checked_before_reading(tmp_path):
    """A released-features .npz whose member claims terabytes is refused before numpy allocates."""
    import io
    import zipfile

    from i2vbench.datasets.features import load_univtg_features
    from i2vbench.errors import BenchError

    (tmp_path / "vid_clip").mkdir()
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(tmp_path / "vid_clip" / "V1.npz", "w") as z:
        z.writestr("features.npy", buf.getvalue() + b"\x00" * 64)
    with pytest.raises(BenchError, match=r"V1.npz \[features.npy\]: header claims shape \(1000000, 1000000\)"):
        load_univtg_features(tmp_path, ["V1"], {"V1": 10.0})
    np.savez(tmp_path / "vid_clip" / "V1.npz", features=np.ones((4, 8), np.float32))
    assert load_univtg_features(tmp_path, ["V1"], {"V1": 10.0})["V1"].pooled.shape == (4, 8)
