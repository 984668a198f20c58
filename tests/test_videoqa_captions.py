"""The pieces that let Tem-Adapter read event order on SynthVid-NExT-QA: the training videos' timed
captions (from the writer's scene annotations), their frame masks per question, the caption
alignment objective, and the patch-grid reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch


def _scene(vid: str, split: str) -> dict:
    return {"vid": vid, "split": split,
            "objects": [{"shape": "circle", "color": "red"}, {"shape": "square", "color": "blue"}],
            "events": [{"object": 1, "motion": "grow", "start": 6.0, "end": 8.0},
                       {"object": 0, "motion": "move left", "start": 1.0, "end": 3.5}]}


def test_event_captions_are_the_training_videos_events_in_order_and_their_reversals(tmp_path):
    from i2vbench.datasets.synthvid.videoqa import event_captions, question_events

    path = tmp_path / "scenes.jsonl"
    scenes = [_scene(v, s) for v, s in (("1", "train"), ("2", "val"), ("3", "test"))]
    scenes[0]["qa"] = [{"question": "what is next after the red circle slides to the left?"},
                       {"question": "what is the last thing before the blue square gets bigger?"},
                       {"question": "what is the first thing in the video?"}]
    path.write_text("\n".join(json.dumps(s) for s in scenes))
    assert question_events(path, "train") == {
        ("1", "what is next after the red circle slides to the left?"): (1.0, 3.5),
        ("1", "what is the last thing before the blue square gets bigger?"): (6.0, 8.0)}
    assert question_events(path, "val") == {}
    caps = event_captions(path, "train")
    assert list(caps) == ["1"]  # val and test videos are never captioned
    timed, never = caps["1"]
    assert timed == [("the red circle moves to the left", 1.0, 3.5), ("the blue square grows", 6.0, 8.0)]
    assert never == ["the red circle moves to the right", "the blue square shrinks"]


def _split(captions, named=None):  # noqa: ANN001, ANN202
    from i2vbench.datasets.features import VideoFeatures
    from i2vbench.datasets.qa import QAItem
    from i2vbench.methods.videoqa.base import TextTable, make_split, split_strings

    items = [QAItem(key="v_1", video="v", question="what is first?", options=("a", "b"), answer=0, qtype="TC"),
             QAItem(key="v_2", video="v", question="what is in it?", options=("a", "b"), answer=1, qtype="TC",
                    span=(0.0, 2.0))]
    strings = list(dict.fromkeys(split_strings(items, None) + split_strings([], None, captions)))
    text = TextTable({s: i for i, s in enumerate(strings)}, np.eye(len(strings), dtype=np.float32),
                     np.zeros((len(strings), 2), np.float32))
    video = VideoFeatures(pooled=np.random.rand(20, 4).astype(np.float32), duration=10.0,
                          layers=np.random.rand(20, 3, 5, 6).astype(np.float16))
    return make_split(items, ["TC", "TC"], {"v": video}, 2.0, 10, text, None, grids=True, captions=captions,
                      question_events=named)


def test_a_split_marks_the_frames_each_caption_spans_and_leaves_segments_uncaptioned():
    caps = {"v": ([("x moves", 1.0, 3.0), ("y grows", 6.0, 7.5)], ["x moves back"])}
    sp = _split(caps)
    assert sp.grids.shape == (2, 10, 4, 6)  # the last block's grid, class token dropped
    rows = sp.caption_rows[0]
    assert [sp.text.rows[s] for s in ("x moves", "y grows", "x moves back")] == rows.tolist()
    times = (np.arange(10) * 2 + 1) / 2.0  # 10 of 20 frames at 2 fps: frames 1, 3, ... → t = 0.5, 1.5, ...
    assert sp.caption_frames[0, 0].tolist() == ((times >= 1.0) & (times <= 3.0)).tolist()
    assert sp.caption_frames[0, 1].tolist() == ((times >= 6.0) & (times <= 7.5)).tolist()
    assert not sp.caption_frames[0, 2].any()  # the reversed event holds at no frame
    assert (sp.caption_rows[1] == -1).all()  # a segment question's frames are not the video's timeline
    assert _split(None).caption_rows is None


def test_caption_alignment_is_low_only_when_each_caption_is_read_at_its_own_frames():
    from i2vbench.methods.videoqa.base import caption_alignment

    frames = torch.zeros(1, 3, 6, dtype=torch.bool)
    frames[0, 0, :2] = True
    frames[0, 1, 3:5] = True  # caption 2 is a sentence the video never shows
    mask = torch.tensor([[True, True, True]])
    right = torch.full((1, 3, 6), -5.0)
    right[0, 0, :2] = 5.0
    right[0, 1, 3:5] = 5.0
    wrong = right.clone()
    wrong[0, [0, 2]] = wrong[0, [2, 0]]  # the never-shown sentence takes the first event's frames
    floor = np.log(2)  # each event spans 2 frames: a uniform target's entropy is the least the frames term can be
    assert floor <= caption_alignment(right, mask, frames) < floor + 0.05
    assert caption_alignment(wrong, mask, frames) > floor + 5
    # a padded caption slot cannot be chosen, whatever its logits
    padded = right.clone()
    padded[0, 2] = 50.0
    assert caption_alignment(padded, torch.tensor([[True, True, False]]), frames) < floor + 0.05
    assert caption_alignment(right, mask, torch.zeros_like(frames)) == 0


def test_span_attention_wants_the_named_events_frames():
    from i2vbench.methods.videoqa.base import span_attention

    frames = torch.tensor([[False, True, False, False], [False, False, False, False]])
    on = torch.tensor([[-9.0, 9.0, -9.0, -9.0], [0.0, 0.0, 0.0, 0.0]])
    assert span_attention(on, frames) < 1e-3 < 5 < span_attention(on.flip(1), frames)
    assert span_attention(on, torch.zeros_like(frames)) == 0


def test_the_patch_grid_reader_reads_where_things_are_and_where_they_go():
    from i2vbench.methods.paradigms.common import PatchGridMotion

    torch.manual_seed(0)
    reader = PatchGridMotion(width=6, cells=4, out=8, cell_dim=3).eval()
    grid = torch.randn(2, 5, 4, 6)
    out = reader(grid)
    assert out.shape == (2, 5, 8)
    assert not torch.allclose(reader(grid[:, :, [1, 0, 2, 3]]), out)  # cells keep their place
    assert not torch.allclose(reader(grid.flip(1)).flip(1), out)  # and the direction of change counts


@pytest.mark.parametrize("captioned", [True, False])
def test_tem_adapter_trains_with_and_without_captions(captioned):
    from i2vbench.methods.trainable import TrainConfig
    from i2vbench.methods.videoqa.tem_adapter import TemAdapter, TemAdapterConfig

    named = {("v", "what is first?"): (1.0, 3.0), ("v", "what is in it?"): (1.0, 3.0)}
    sp = _split({"v": ([("x moves", 1.0, 3.0)], ["x moves back"])} if captioned else None, named if captioned else None)
    if captioned:  # the whole-video question gets its event's frames, the segment question none
        assert sp.question_frames[0].tolist() == sp.caption_frames[0, 0].tolist() and not sp.question_frames[1].any()
    m = TemAdapter(4, sp.text.width, (4, 6), TemAdapterConfig(hidden=16, train=TrainConfig(epochs=1, batch_size=2)))
    m.start_fit(sp)
    losses = m.loss(m.batch(sp, np.arange(2)))
    assert ("captions" in losses) == ("question_event" in losses) == captioned
    sum(losses.values()).backward()
    assert m.predict(sp).shape == (2, 2)


def test_a_hard_frame_selection_reads_only_the_kept_frames():
    from i2vbench.methods.videoqa.base import WhenReader, top_frames

    torch.manual_seed(0)
    logits = torch.tensor([[[0.1, 3.0, -1.0, 2.0, 0.5]]])
    assert top_frames(logits, 2).tolist() == [[[False, True, False, True, False]]]
    assert top_frames(logits, 9).all()  # more than there are: every frame
    reader = WhenReader(8, match=True)
    q, cands, states = torch.randn(1, 8), torch.randn(1, 2, 8), torch.randn(1, 5, 8)
    times = torch.linspace(0, 1, 5)[None]
    keep = torch.tensor([[[True, True, False, False, False], [False, False, True, True, False]]])
    question_keep = torch.tensor([[True, False, False, True, False]])
    out = reader(q, cands, states, times, keep, question_keep)
    moved = states.clone()
    moved[0, 4] += 5.0  # a frame no one keeps
    assert torch.allclose(reader(q, cands, moved, times, keep, question_keep), out)
    moved[0, 1] += 5.0  # a frame the first candidate and the question keep
    changed = reader(q, cands, moved, times, keep, question_keep)
    assert not torch.allclose(changed[0, 0], out[0, 0])
    assert not torch.allclose(reader(q, cands, states, times), out)  # without a selection every frame counts


@pytest.mark.parametrize("method", ["videodistill", "vitis"])
@pytest.mark.parametrize("captioned", [True, False])
def test_videodistill_and_vitis_read_the_grid_and_learn_from_captions(method, captioned):
    from i2vbench.methods.trainable import TrainConfig

    named = {("v", "what is first?"): (1.0, 3.0), ("v", "what is in it?"): (1.0, 3.0)}
    sp = _split({"v": ([("x moves", 1.0, 3.0)], ["x moves back"])} if captioned else None, named if captioned else None)
    from i2vbench.methods.videoqa.base import TextTable

    rng = np.random.default_rng(0)  # text in the frames' joint space (the ILFM teacher compares them)
    sp.text = TextTable(sp.text.rows, rng.random((len(sp.text.rows), 4), dtype=np.float32), sp.text.words)
    train = TrainConfig(epochs=1, batch_size=2)
    if method == "videodistill":
        from i2vbench.methods.videoqa.videodistill import VideoDistill, VideoDistillConfig

        m = VideoDistill(4, sp.text.width, (4, 6), VideoDistillConfig(hidden=16, keep=3, train=train))
    else:
        from i2vbench.methods.backbones import load_backbone
        from i2vbench.methods.videoqa.vitis import ViTiS, ViTiSConfig

        m = ViTiS(load_backbone("tinyclip"), 4, sp.text.width, (4, 6), ViTiSConfig(hidden=16, train=train))
    m.start_fit(sp)
    b = m.batch(sp, np.arange(2))
    assert b.grid is not None and b.grid.shape == (2, 10, 4, 6)
    losses = m.loss(b)
    assert ("captions" in losses) == ("question_event" in losses) == captioned
    assert ("distill" in losses) == (method == "videodistill")
    sum(losses.values()).backward()
    grid_grads = [p.grad for p in m.parameters() if p.requires_grad and p.grad is not None]
    assert grid_grads and m.predict(sp).shape == (2, 2)
    m.eval()
    with torch.no_grad():
        flipped = m(replace_grid(b, b.grid.flip(2)))  # the patch grid is read: where things are counts
        assert not torch.allclose(flipped, m(b))


def replace_grid(b, grid):  # noqa: ANN001, ANN201
    from dataclasses import replace

    return replace(b, grid=grid)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_channel_stats_equal_numpys_float64_mean_and_std(dtype):
    """The chunked statistics the QA methods standardise by are numpy's whole-array float64 ones
    (what start_fit computed before it went chunk by chunk), over chunk boundaries too."""
    from i2vbench.methods.videoqa.base import channel_stats

    x = (np.random.default_rng(0).normal(0.3, 2.0, (37, 5, 4, 6))).astype(dtype)
    f = x.reshape(-1, 6).astype(np.float64)
    mean, std = channel_stats(x, chunk=64)  # 740 rows: 12 chunks, the last partial
    assert mean.dtype == std.dtype == np.float32
    np.testing.assert_array_equal(mean, f.mean(0).astype(np.float32))
    np.testing.assert_allclose(std, (f.std(0) + 1e-6).astype(np.float32), rtol=1e-6)


def test_the_training_inputs_taken_once_equal_those_of_each_batch():
    """start_fit standardises the training split's frames and grid and takes their motion channels
    once; a batch then reads them (not recomputed per batch, as other splits are): equal to the bit,
    and dropped when fit ends."""
    from i2vbench.methods.paradigms.common import temporal_differences
    from i2vbench.methods.trainable import TrainConfig
    from i2vbench.methods.videoqa.tem_adapter import TemAdapter, TemAdapterConfig

    np.random.seed(1)
    sp = _split(None)
    m = TemAdapter(4, sp.text.width, (4, 6), TemAdapterConfig(hidden=16, train=TrainConfig(epochs=1, batch_size=2)))
    m.start_fit(sp)
    assert m._train_inputs is not None and m._train_inputs.split is sp
    idx = np.array([1, 0])
    once = m.batch(sp, idx)
    prepared, m._train_inputs = m._train_inputs, None
    each = m.batch(sp, idx)
    assert once.motion is not None and each.motion is None
    assert torch.equal(once.frames, each.frames) and torch.equal(once.grid, each.grid)
    assert torch.equal(once.motion, temporal_differences(each.frames))
    m._train_inputs = prepared
    m.fit(sp, progress=False)
    assert m._train_inputs is None
