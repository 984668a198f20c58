"""`bench run --task vtr` end to end on a small SynthVid MSR-VTT pool, the real-layout path, and
the mechanisms its methods add (LoRA, deep prompts, uniform frame sampling, the twin-order score)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.metrics.evaluate import evaluate

METHODS = ("zero_shot", "teachclip", "clip4clip_meanp", "clip4clip_seqtransf", "discovla", "vop", "mv_adapter")
SMALL = """\
synthvid: {n_train: 24, n_val: 9, n_test: 9}
overrides: {teachclip: {epochs: 1, teacher_epochs: 1}, clip4clip_meanp: {epochs: 1}, clip4clip_seqtransf: {epochs: 1},
            discovla: {epochs: 1}, vop: {epochs: 1}, mv_adapter: {epochs: 1}}
"""
SYNTHVID = {"seed": 0, "n_train": 24, "n_val": 9, "n_test": 9}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    from conftest import quick_run

    return quick_run(tmp_path_factory.mktemp("vtr"), "vtr", SMALL)


def test_every_method_runs_and_its_similarity_matrix_scores_as_bench_eval_scores_it(run, monkeypatch):
    from i2vbench.datasets.synthvid.msrvtt import build_msrvtt

    assert run["task"] == "vtr"
    assert {(r["method"], r["split"]) for r in run["results"]} == {(m, s) for m in METHODS for s in ("val", "test")}
    assert {r["dataset"] for r in run["results"]} == {"synthvid-msrvtt"}
    monkeypatch.setenv("I2VBENCH_CACHE", run["cache"])
    data = build_msrvtt(progress=False, **SYNTHVID)
    run_dir = Path(run["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    paradigms = {r["method_id"]: r["paradigm"] for r in record["records"]}
    assert paradigms == {"zero_shot": "other", "teachclip": "knowledge_distillation",
                         "clip4clip_meanp": "full_fine_tuning", "clip4clip_seqtransf": "full_fine_tuning",
                         "discovla": "lora", "vop": "prompt_tuning", "mv_adapter": "adapter"}
    for r in record["records"]:
        (seed,) = r["per_seed"]
        assert seed["predictions"].endswith(".npy")
        sim = np.load(run_dir / seed["predictions"])
        assert sim.shape == (9, 9)
        got = evaluate("vtr", data.retrieval_csv(r["split"]), run_dir / seed["predictions"])
        for key, value in got.items():
            assert seed["metrics"][key] == pytest.approx(value, abs=1e-9)
        assert 0 <= seed["metrics"]["t2v/twin-order"] <= 100


def test_the_real_msrvtt_layout_runs_with_a_held_out_val(bench, run, tmp_path, monkeypatch):
    """MSR-VTT as CLIP4Clip's files lay it out (here SynthVid's, copied under the real names)."""
    from i2vbench.benchmarks.runner import held_out
    from i2vbench.datasets.msrvtt import load_video_list_csv
    from i2vbench.datasets.synthvid.msrvtt import build_msrvtt

    monkeypatch.setenv("I2VBENCH_CACHE", run["cache"])
    data = build_msrvtt(progress=False, **SYNTHVID)
    root = tmp_path / "msrvtt"
    root.mkdir()
    for src, name in [(data.data_json, "MSRVTT_data.json"), (data.train_csv, "MSRVTT_train.9k.csv"),
                      (data.test_csv, "MSRVTT_JSFUSION_test.csv")]:
        shutil.copy(src, root / name)
    code, stdout, stderr = bench("run", "--task", "vtr", "--dataset", "msrvtt", "--data-root", str(root), "--videos",
                                 str(data.videos_dir), "--methods", "zero_shot,mv_adapter", "--out",
                                 str(tmp_path / "runs"), "--json", "--no-progress")
    assert code == 0, stderr
    out = json.loads(stdout)
    assert [(r["dataset"], r["method"], r["split"]) for r in out["results"]] == \
        [("msrvtt", m, s) for m in ("zero_shot", "mv_adapter") for s in ("test", "val")]
    stats = out["datasets"][0]["stats"]
    val = held_out(load_video_list_csv(data.train_csv), 0.1)
    assert stats["n_val_videos"] == len(val) > 0 and stats["n_train_videos"] == 24 - len(val)


def test_missing_files_fail_cleanly(bench, tmp_path):
    code, _, stderr = bench("run", "--task", "vtr", "--dataset", "msrvtt", "--data-root", str(tmp_path),
                            "--out", str(tmp_path / "runs"), "--no-progress")
    assert code != 0 and "MSRVTT_data.json" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()


@settings(deadline=None)
@given(st.integers(1, 200), st.integers(1, 32))
def test_frames_are_spread_uniformly_over_the_video(n_clips, num_frames):
    from i2vbench.datasets.features import frame_indices

    idx = frame_indices(n_clips, num_frames)
    assert len(idx) == num_frames and idx.min() >= 0 and idx.max() < n_clips
    assert np.all(np.diff(idx) >= 0)
    if num_frames <= n_clips:
        assert len(set(idx.tolist())) == num_frames  # no frame twice when there are enough


@settings(deadline=None, max_examples=40)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=40), st.integers(1, 8), st.integers(1, 12),
       st.integers(0, 2**31))
def test_caption_rounds_visit_each_video_once_a_round_with_fresh_captions_and_no_video_twice_in_a_batch(
        n_captions, rounds, batch_size, seed):
    from types import SimpleNamespace

    from i2vbench.methods.vtr.base import caption_rounds_order

    text_video = np.repeat(np.arange(len(n_captions)), n_captions)
    split = SimpleNamespace(videos=list(range(len(n_captions))), text_video=text_video)
    order = caption_rounds_order(split, np.random.default_rng(seed), rounds, batch_size)
    videos = text_video[order]
    assert len(order) == len(n_captions) * rounds
    assert np.array_equal(np.bincount(videos, minlength=len(n_captions)), np.full(len(n_captions), rounds))
    for v, n in enumerate(n_captions):  # no caption again before all of the video's were used
        rows = order[videos == v]
        assert len(set(rows.tolist())) == min(n, rounds)
    if batch_size <= len(n_captions):  # a batch can then always hold distinct videos; only the last may not
        for start in range(0, len(order) - 2 * batch_size, batch_size):
            batch = videos[start:start + batch_size]
            assert len(set(batch.tolist())) == len(batch)


def test_twin_order_counts_both_queries_of_every_pair():
    from i2vbench.benchmarks.vtr import twin_order

    sim = np.array([[0.9, 0.5, 0.0], [0.8, 0.7, 0.0], [0.0, 0.0, 1.0]])  # a↔b twins; b's query prefers a
    assert twin_order(sim, ["a", "b", "c"], [("a", "b")]) == 50.0


def _tiny_backbone():
    from i2vbench.methods.backbones import load_backbone

    return load_backbone("tinyclip", None)


def test_lora_starts_as_the_frozen_model_and_trains_only_its_low_rank_factors():
    from i2vbench.methods.paradigms.common import freeze
    from i2vbench.methods.paradigms.lora import insert_lora

    torch.manual_seed(0)
    bb = freeze(_tiny_backbone())
    x = torch.rand(2, 3, 64, 64)
    before = bb.encode_frames(x).pooled
    deltas = insert_lora([*bb.visual_blocks, *bb.text_blocks], rank=2)
    assert torch.equal(bb.encode_frames(x).pooled, before)
    trainable = {n for n, p in bb.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith((".A", ".B")) for n in trainable)
    assert len(trainable) == 2 * len(deltas)
    bb.encode_frames(x).pooled.sum().backward()
    assert all(d.B.grad is not None and d.B.grad.abs().sum() > 0 for d in deltas[:4])


def test_prompts_keep_the_token_count_and_reach_the_output():
    from i2vbench.methods.paradigms.common import freeze, num_frames_context
    from i2vbench.methods.paradigms.prompt import (
        FramePositionPrompts,
        StaticPrompts,
        insert_prompts,
    )

    torch.manual_seed(0)
    bb = freeze(_tiny_backbone())
    x = torch.rand(4, 3, 64, 64)
    before = bb.encode_frames(x)
    prompts = insert_prompts(bb.visual_blocks, lambda i: FramePositionPrompts(2, bb.width))
    text_before = bb.encode_text(["a red circle"]).pooled
    insert_prompts(bb.text_blocks, lambda i: StaticPrompts(3, 128))
    with num_frames_context(2):
        after = bb.encode_frames(x)
    assert after.tokens.shape == before.tokens.shape
    assert not torch.allclose(after.pooled, before.pooled)  # the frames read the prompts
    assert not torch.allclose(bb.encode_text(["a red circle"]).pooled, text_before)
    assert {n for n, p in bb.named_parameters() if p.requires_grad} == \
        {f"_visual_blocks.{i}.prompts.tokens" for i in range(len(prompts))} | \
        {f"text_blocks.{i}.prompts.tokens" for i in range(len(bb.text_blocks))}


def test_video_ids_are_matched_by_listing_never_used_as_paths(tmp_path):
    from i2vbench.datasets.video import find_videos
    from i2vbench.errors import BenchError

    (tmp_path / "videos" / "label").mkdir(parents=True)
    (tmp_path / "videos" / "v1.mp4").write_bytes(b"x")
    (tmp_path / "videos" / "label" / "v2_000001_000011.webm").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    got = find_videos(tmp_path / "videos", ["v1", "v2"], stem_of=lambda s: s.split("_")[0])
    assert got == {"v1": tmp_path / "videos" / "v1.mp4", "v2": tmp_path / "videos" / "label" / "v2_000001_000011.webm"}
    with pytest.raises(BenchError, match=r"1 videos not found .* e.g. '../secret'"):
        find_videos(tmp_path / "videos", ["v1", "../secret"])
