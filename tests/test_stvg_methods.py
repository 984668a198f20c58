"""STVG methods' parts: TubeDETR's start / end loss against a reference written from its formula,
and CG-STVG's switch for the extra video model."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_kl_sted_loss_is_tubedetrs_kl_to_the_smoothed_target() -> None:
    from i2vbench.methods.stvg.tubedetr import sted_loss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, generator=g) * 2
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 5:] = False
    pos = torch.tensor([0, 3, 6])
    got = sted_loss(logits, pos, mask, sigma=1.0, kind="kl")
    want = []
    for b in range(3):
        n = int(mask[b].sum())
        t = np.arange(n)
        q = np.exp(-((t - int(pos[b])) ** 2) / 2.0) + 1e-6
        q = q / q.sum()
        x = logits[b, :n].double().numpy()
        p = np.exp(x - x.max())
        p = p / p.sum()
        want.append(float((p * (np.log(p + 1e-6) - np.log(q))).sum()))
    assert float(got) == pytest.approx(np.mean(want), rel=1e-4)
    # the cross-entropy form: -sum q log p, minimal (= the target's entropy) at p = q
    q = torch.softmax(-0.5 * (torch.arange(7.0) - 3) ** 2, 0)[None]
    at_target = sted_loss(q.log(), torch.tensor([3]), torch.ones(1, 7, dtype=torch.bool), 1.0, "ce")
    assert float(at_target) == pytest.approx(float(-(q * q.log()).sum()), rel=1e-4)


@pytest.fixture(scope="module")
def grounder():
    from i2vbench.methods.backbones import load_backbone

    return load_backbone("tinyground", None)


def _batch(T: int = 6):
    from i2vbench.methods.stvg.tubedetr import TubeBatch

    g = torch.Generator().manual_seed(1)
    return TubeBatch(torch.randn(2, T, 64, 128, generator=g), torch.tensor([0, 0, 1]), ["v0", "v1"],
                     ["the red circle moves to the left.", "which red shape moves to the left?",
                      "the blue square grows."], torch.ones(3, T, dtype=torch.bool),
                     torch.rand(3, T, 4, generator=g) * 0.5 + 0.25, torch.ones(3, T, dtype=torch.bool),
                     torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.rand(3, T, 4, generator=g) * 0.5 + 0.25)


@pytest.mark.parametrize("use_video_model", [True, False])
def test_cgstvg_reads_the_video_model_only_when_switched_on(grounder, use_video_model: bool) -> None:
    from i2vbench.methods.stvg.cgstvg import CGSTVG, CGSTVGConfig

    torch.manual_seed(0)
    feats = {v: np.random.default_rng(i).normal(size=(6, 128)).astype(np.float32) for i, v in enumerate(["v0", "v1"])}
    m = CGSTVG(grounder, feats, CGSTVGConfig(use_video_model=use_video_model)).eval()
    with torch.no_grad():  # the zero-initialised projections learn: make them non-zero, as after training
        for lin in (m.net.motion_in[1], m.net.motion_q[1]):
            lin.weight.normal_(0, 0.1)
    b = _batch()
    with torch.no_grad():
        a = m.outputs(b)
        m.video_features = {v: f + 1.0 for v, f in feats.items()}
        c = m.outputs(b)
    changed = not torch.allclose(a.sted[-1], c.sted[-1])
    assert changed == use_video_model
    loss = m.loss(b)
    assert set(loss) == {"l1", "giou", "sted", "inside"} and all(torch.isfinite(v) for v in loss.values())


def _split(T: int = 6):
    from i2vbench.methods.stvg.data import STVGQuery, STVGSplit

    rng = np.random.default_rng(0)
    tokens = {v: rng.normal(size=(T, 64, 128)).astype(np.float16) for v in ("v0", "v1")}
    caps = [("v0", "the red circle moves to the left."), ("v0", "which red shape moves to the left?"),
            ("v1", "the blue square grows.")]
    queries = [STVGQuery(f"q{i}", v, c, "declarative", T, (1, 4)) for i, (v, c) in enumerate(caps)]
    boxes = np.tile(np.array([10, 10, 30, 30], np.float32), (len(caps), T, 1))
    return STVGSplit(queries, tokens, boxes, 64)


def test_anchored_tubedetr_starts_boxing_as_the_frozen_grounder(grounder) -> None:
    """With ``anchor``, the untrained TubeDETR's box on every frame is the frozen ILFM's
    frame-wise box (the baseline's), whatever the motion inputs; training then moves it."""
    from i2vbench.methods.stvg.base import ground_frames
    from i2vbench.methods.stvg.tubedetr import TubeDETR, TubeDETRConfig

    torch.manual_seed(0)
    split = _split()
    m = TubeDETR(grounder, TubeDETRConfig(anchor=True, motion="both"))
    preds = m.predict(split)
    for q in split.queries:
        want = ground_frames(grounder, split.tokens[q.vid], [q.caption], split.image_size)[0][0]
        np.testing.assert_allclose(preds[q.qid][1], want, atol=0.05)
    with torch.no_grad():  # a trained refinement head moves the boxes off the anchors
        m.net.box_delta[-1].bias.fill_(0.5)
    moved = m.predict(split)
    assert not np.allclose(moved["q0"][1], preds["q0"][1], atol=0.5)


def test_anchors_computed_once_for_a_run_are_those_a_method_grounds_itself(grounder) -> None:
    """The runner grounds every (video, sentence) once for all methods and seeds; a method given
    them predicts exactly as one that grounds each batch's sentences itself."""
    from i2vbench.methods.stvg.base import anchor_boxes
    from i2vbench.methods.stvg.tubedetr import TubeDETR, TubeDETRConfig

    split = _split()
    given = anchor_boxes(grounder, split)
    assert set(given) == {(q.vid, q.caption) for q in split.queries}
    one_by_one = {}
    for q in split.queries:  # another batching: one sentence at a time
        one_by_one.update(anchor_boxes(grounder, split, [q]))
    for key, boxes in given.items():
        np.testing.assert_array_equal(boxes, one_by_one[key])
    preds = []
    for anchors in (given, None):
        torch.manual_seed(0)
        preds.append(TubeDETR(grounder, TubeDETRConfig(anchor=True), anchors).predict(split))
    for qid, (span, boxes) in preds[0].items():
        assert preds[1][qid][0] == span
        np.testing.assert_array_equal(preds[1][qid][1], boxes)


def test_framewise_reads_the_shared_anchors_to_the_bit(grounder) -> None:
    """The baseline's boxes are the run's anchors (grounded once, in two one-thread workers):
    given them it predicts, to the bit, what grounding each video's sentences itself gives."""
    from i2vbench.methods.stvg.base import FramewiseGrounding, anchor_boxes, ground_frames

    split = _split()
    two_workers = anchor_boxes(grounder, split, jobs=2)
    inline = anchor_boxes(grounder, split)
    assert set(two_workers) == set(inline)
    for key, boxes in inline.items():
        np.testing.assert_array_equal(two_workers[key], boxes)
    given = FramewiseGrounding(grounder, anchors=two_workers).predict(split)
    alone = FramewiseGrounding(grounder).predict(split)
    for q in split.queries:  # the previous form: the split's sentences of a video at once
        same_video = [p.caption for p in split.queries if p.vid == q.vid]
        want = ground_frames(grounder, split.tokens[q.vid], same_video, split.image_size)[0][same_video.index(q.caption)]
        for preds in (given, alone):
            assert preds[q.qid][0] == (0, q.n_frames)
            np.testing.assert_array_equal(preds[q.qid][1], want)


def test_grounding_each_caption_encoded_once_equals_it_encoded_per_frame_to_the_bit(grounder) -> None:
    """The anchors encode each sentence once and repeat it over the frames: the boxes and scores
    are, to the bit, those of the grounder encoding the sentence again for every frame."""
    from i2vbench.devices import autocast
    from i2vbench.methods.backbones.tinyground import box_cxcywh_to_xyxy
    from i2vbench.methods.stvg.base import ground_frames

    tokens = _split(T=9).tokens["v0"]
    caps = ["the red circle moves to the left.", "which red shape moves to the left?", "the blue square grows."]
    boxes, scores = ground_frames(grounder, tokens, caps, 64)
    with torch.no_grad(), autocast():
        out = grounder.ground(grounder.img_in(torch.from_numpy(tokens.astype(np.float32))),
                              [c for c in caps for _ in range(9)], torch.arange(9).repeat(3))
    score, best = out.match[-1].float().view(3, 9, -1).max(-1)
    top = torch.gather(out.boxes[-1].float().view(3, 9, -1, 4), 2, best[..., None, None].expand(-1, -1, 1, 4))
    np.testing.assert_array_equal(boxes, (box_cxcywh_to_xyxy(top.squeeze(2)).clamp(0, 1) * 64).numpy())
    np.testing.assert_array_equal(scores, score.sigmoid().numpy())


@pytest.mark.parametrize("motion", ["box", "grid"])
def test_motion_inputs_reach_the_start_end_loss(grounder, motion: str) -> None:
    from i2vbench.methods.stvg.tubedetr import TubeDETR, TubeDETRConfig

    torch.manual_seed(0)
    split = _split()
    m = TubeDETR(grounder, TubeDETRConfig(anchor=True, motion=motion, motion_text=motion == "box")).train()
    m.loss(m.batch(split, np.arange(3)))["sted"].backward()
    last = (m.net.box_motion if motion == "box" else m.net.grid_motion.mlp)[-1]
    assert last.weight.grad is not None and last.weight.grad.abs().sum() > 0
    other = m.net.grid_motion if motion == "box" else m.net.box_motion
    assert other is None


def test_sted_prior_peaks_where_the_training_tubes_start_and_end(grounder) -> None:
    """``sted_prior``: the log-prior added to the start / end logits is the training tubes'
    relative start and last frames, smoothed; with a flat head the decoded span is the prior's."""
    from i2vbench.methods.stvg.tubedetr import TubeDETR, TubeDETRConfig

    torch.manual_seed(0)
    split = _split(T=12)  # every tube is frames [1, 4) of 12
    m = TubeDETR(grounder, TubeDETRConfig(anchor=True, sted_prior=True))
    m.start_fit(split)
    prior = m.sted_log_prior(torch.tensor([12, 24]), 24)
    assert prior[0, :12, 0].argmax() == 1 and prior[0, :12, 1].argmax() == 3
    assert prior[1, :, 0].argmax() == 2 and prior[1, :, 1].argmax() == 6  # relative: twice as long, twice as late
    with torch.no_grad():  # a head that says nothing: the span is the prior's
        m.net.sted[-1].weight.zero_()
        m.net.sted[-1].bias.zero_()
    assert {span for span, _ in m.predict(split).values()} == {(1, 4)}
    m.config.sted_prior = False
    assert {span for span, _ in m.predict(split).values()} != {(1, 4)}


def test_sted_prior_kept_per_clip_length_equals_it_computed_per_batch_to_the_bit(grounder) -> None:
    """The prior is fixed once the training tubes are known: the rows kept by (clip length, padded
    length) are, to the bit, what computing it over every training tube for the batch gives."""
    from i2vbench.methods.stvg.data import STVGQuery, STVGSplit
    from i2vbench.methods.stvg.tubedetr import TubeDETR, TubeDETRConfig

    rng = np.random.default_rng(0)
    queries = [STVGQuery(str(i), "v", "c", "declarative", n, (s, s + 3))
               for i, (n, s) in enumerate(zip(rng.integers(8, 25, 300), rng.integers(0, 5, 300), strict=True))]
    m = TubeDETR(grounder, TubeDETRConfig(anchor=True, sted_prior=True))
    m.start_fit(STVGSplit(queries, {}, np.zeros((300, 24, 4), np.float32), 64))
    for lengths in ([24] * 16, [24] * 5, [12, 24, 20, 24, 7], [9]):
        n = torch.tensor(lengths)
        for _ in range(2):  # computed, then read back
            assert torch.equal(m.sted_log_prior(n, 25), m._log_prior_rows(n, 25))
    assert m.sted_log_prior(torch.tensor([12]), 12).shape == (1, 12, 2)  # another padded length: its own rows


def test_box_motion_input_reads_where_the_anchor_goes_and_when_it_starts() -> None:
    from i2vbench.methods.stvg.tubedetr import box_motion_input

    T = 10
    cx = torch.tensor([0.2] * 3 + [0.2 + 0.05 * k for k in range(1, 5)] + [0.4] * 3)  # moves right on frames 3-6
    box = torch.stack([cx, torch.full((T,), 0.5), torch.full((T,), 0.2), torch.full((T,), 0.2)], -1)[None]
    pad = torch.zeros(1, T, dtype=torch.bool)
    x = box_motion_input(box, pad)
    assert x.shape == (1, T, 28)
    assert x[..., :4].abs().max() <= 1.0  # the position, centred
    fwd1, bwd1 = x[0, :, 4], x[0, :, 16]  # cx over one frame, forward and backward
    assert fwd1[2] > 0 and bwd1[2] == 0  # the move's first step: ahead, not behind
    assert fwd1[6] == 0 and bwd1[6] > 0  # its last: behind, not ahead
    assert 0.25 <= float(fwd1[3]) <= 1.0  # the motion is on the position's scale
    assert (x[0, :, 5:8] == 0).all()  # cy, w, h do not move
    padded = box_motion_input(torch.cat([box, box[:, -1:].expand(1, 2, 4) * 0 + 0.9], 1),
                              torch.cat([pad, torch.ones(1, 2, dtype=torch.bool)], 1))
    assert torch.equal(padded[:, :T], x)  # padding frames never leak into a difference


def test_motion_text_lets_the_sentence_reach_the_motion_encoder(grounder) -> None:
    from i2vbench.methods.stvg.tubedetr import TubeDETR, TubeDETRConfig

    torch.manual_seed(0)
    split = _split()
    m = TubeDETR(grounder, TubeDETRConfig(anchor=True, motion="box", motion_text=True, time_lr_scale=10.0)).train()
    m.loss(m.batch(split, np.arange(3)))["sted"].backward()
    assert m.net.box_motion[-1].weight.grad.abs().sum() > 0
    with torch.no_grad():  # once the encoder's output layer has learned, the sentence changes it
        m.net.box_motion[-1].weight.normal_(0, 0.1)
    m.zero_grad()
    m.loss(m.batch(split, np.arange(3)))["sted"].backward()
    assert m.net.motion_text[-1].weight.grad.abs().sum() > 0
    groups = m.param_groups()
    assert [g.get("lr_scale", 1.0) for g in groups] == [1.0, m.config.grounder_lr_scale, 10.0]
    assert {id(p) for p in groups[2]["params"]} == {id(p) for p in m.net.time_parameters()}
    with pytest.raises(ValueError, match="motion_text"):
        TubeDETR(grounder, TubeDETRConfig(anchor=True, motion="none", motion_text=True))
