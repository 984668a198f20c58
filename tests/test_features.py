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


def test_a_videos_features_do_not_depend_on_its_batch_or_the_thread_count(videos):
    """The cache is keyed by video, weights and sampling only: so a video's features must not
    depend on which other videos share its forward pass, nor on the intra-op threads."""
    import torch

    from i2vbench.datasets.features import Sampling, encode_frames
    from i2vbench.datasets.video import decode_frames
    from i2vbench.methods.backbones import load_backbone

    backbone = load_backbone("tinyclip")
    frames = [decode_frames(path, 2.0, size=backbone.image_size)[0] for path in list(videos.values())[:6]]
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            runs.append([encode_frames(backbone, f, Sampling()) for f in frames])  # one video per pass
            both = encode_frames(backbone, np.concatenate(frames[2:]), Sampling())  # four per pass
            cut = np.cumsum([len(f) for f in frames[2:]])[:-1]
            for k, (pooled, layers) in enumerate(zip(np.split(both[0], cut), np.split(both[1], cut), strict=True)):
                np.testing.assert_array_equal(pooled, runs[-1][k + 2][0])
                np.testing.assert_array_equal(layers, runs[-1][k + 2][1])
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(*runs, strict=True):
        np.testing.assert_array_equal(one[0], two[0])
        np.testing.assert_array_equal(one[1], two[1])


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


def _vid(root, name: str, shape: tuple) -> None:
    (root / "vid_clip").mkdir(exist_ok=True)
    np.savez(root / "vid_clip" / f"{name}.npz", features=np.zeros(shape, np.float32))


def _txt(root, name: str, tokens: tuple, pooled: tuple) -> None:
    (root / "txt_clip").mkdir(exist_ok=True)
    np.savez(root / "txt_clip" / f"{name}.npz", last_hidden_state=np.zeros(tokens, np.float32),
             pooler_output=np.zeros(pooled, np.float32))


@pytest.mark.parametrize("shapes, message", [
    ([(10, 6), (10, 8), (10, 8)], r"widths differ: .*V0.npz is 6 wide, but 2 of 3 videos are 8 wide \(e.g. .*V1.npz\)"),
    ([(10, 8), (80,)], r"V1.npz: 'features' must be \(T, D\) with T >= 1 clips, got shape \(80,\)"),
    ([(0, 8)], r"V0.npz: 'features' must be \(T, D\)"),
])
def test_released_video_features_are_shape_checked_naming_the_file(tmp_path, shapes, message):
    from i2vbench.datasets.features import load_univtg_features
    from i2vbench.errors import BenchError

    for i, shape in enumerate(shapes):
        _vid(tmp_path, f"V{i}", shape)
    vids = [f"V{i}" for i in range(len(shapes))]
    with pytest.raises(BenchError, match=message):
        load_univtg_features(tmp_path, vids, dict.fromkeys(vids, 10.0))


def test_released_text_features_are_shape_checked_naming_the_file(tmp_path):
    from i2vbench.datasets.features import load_univtg_text
    from i2vbench.errors import BenchError

    _txt(tmp_path, "0", (5, 16), (8,))
    _txt(tmp_path, "1", (3, 16), (1, 8))  # (1, D) pooled is read as (D)
    text = load_univtg_text(tmp_path, ["0", "1"])
    assert text.tokens.shape == (2, 5, 16) and text.pooled.shape == (2, 8)
    with pytest.raises(BenchError, match=r"differ: .*1.npz has \(16, 8\), but the other splits' queries "
                                         r"have \(16, 4\)"):
        load_univtg_text(tmp_path, ["1"], widths=(16, 4))
    _txt(tmp_path, "2", (3, 12), (8,))
    with pytest.raises(BenchError, match=r"differ: .*2.npz has \(12, 8\), but 2 of 3 queries \(e.g. .*0.npz\) "
                                         r"have \(16, 8\)"):
        load_univtg_text(tmp_path, ["2", "0", "1"])
    _txt(tmp_path, "3", (16,), (8,))
    with pytest.raises(BenchError, match=r"3.npz: 'last_hidden_state' must be \(L, W\)"):
        load_univtg_text(tmp_path, ["3"])
    _txt(tmp_path, "4", (3, 16), (2, 8))
    with pytest.raises(BenchError, match=r"4.npz: 'pooler_output' must be \(D\), got shape \(2, 8\)"):
        load_univtg_text(tmp_path, ["4"])


def test_clip_counts_are_checked_against_durations_at_the_clip_length(tmp_path):
    """1-second clips (the UniVTG / lighthouse Charades-STA releases) read at 0.5 s are refused with
    the rate the files suggest; a few videos off (real duration tables are) are a warning naming
    them; within one clip passes."""
    import warnings

    from i2vbench.datasets.features import load_univtg_features
    from i2vbench.errors import BenchError

    durations = {f"V{i}": 30.6 + i for i in range(4)}
    for vid, d in durations.items():
        _vid(tmp_path, vid, (round(d), 8))  # 1 s clips, last one rounded
    vids = sorted(durations)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_univtg_features(tmp_path, vids, durations, clip_len=1.0)) == 4
    with pytest.raises(BenchError, match=r"4 of 4 videos .* at clip_len 0.5 s \(e.g. .*V0.npz: 31 clips × 0.5 s "
                                         r"= 15.5 s, duration 30.6 s\): the clip rate is wrong; these features "
                                         r"look like 0.988 s clips .* pass --clip-len 1 \(clip_len: 1 in the run config\)"):
        load_univtg_features(tmp_path, vids, durations, clip_len=0.5)
    _vid(tmp_path, "V3", (20, 8))  # 33.6 s of video in 20 clips
    with pytest.warns(UserWarning, match=r"1 of 4 videos .*; those files: .*V3.npz$"):
        load_univtg_features(tmp_path, vids, durations, clip_len=1.0)


def test_tvg_clip_len_and_fps_are_one_rate_recorded_in_the_config():
    from pydantic import ValidationError

    from i2vbench.benchmarks.tvg import TVGRunConfig

    assert TVGRunConfig().clip_len == 0.5
    cfg = TVGRunConfig(clip_len=1.0)
    assert (cfg.fps, cfg.model_dump()["clip_len"]) == (1.0, 1.0)
    assert TVGRunConfig(fps=1.0, clip_len=1.0).fps == 1.0
    assert TVGRunConfig.model_validate(TVGRunConfig(fps=3.0).model_dump()).clip_len == pytest.approx(1 / 3)
    with pytest.raises(ValidationError, match="fps 2 and clip_len 1 s disagree"):
        TVGRunConfig(fps=2.0, clip_len=1.0)
