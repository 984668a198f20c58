"""SpaceVLLM-style STVG: per-frame queries interleaved in the LM sequence, boxes decoded from the
LM's states at exactly those queries, the span decoded from the text answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from i2vbench.methods.backbones.tinyground import box_cxcywh_to_xyxy
from i2vbench.methods.stvg.data import STVGQuery, STVGSplit
from i2vbench.methods.stvg.spacevllm import (
    SpaceVLLM,
    SpaceVLLMConfig,
    box_iou_each,
    query_positions,
)

T, N, W, SIZE = 6, 64, 128, 64


@pytest.fixture(scope="module")
def method() -> SpaceVLLM:
    from i2vbench.methods.backbones import load_backbone

    torch.manual_seed(0)
    return SpaceVLLM(load_backbone("tinyground"), SpaceVLLMConfig(num_beams=2))


def _split(n: int = 4) -> STVGSplit:
    rng = np.random.default_rng(0)
    captions = ["the red circle moves to the left.", "which blue shape grows?", "the big star.", "a square moves up."]
    qs = [STVGQuery(str(i), f"v{i % 2}", captions[i % 4], "declarative", T - i % 2, (1, 4)) for i in range(n)]
    tokens = {f"v{k}": rng.standard_normal((T - k, N, W)).astype(np.float16) for k in range(2)}
    boxes = np.full((n, T, 4), np.nan, np.float32)
    boxes[:, 1:4] = [8, 8, 30, 40]
    return STVGSplit(qs, tokens, boxes, SIZE)


def test_query_states_are_read_at_the_query_tokens(method):
    """The positions the space decoder reads are where the interleaved queries were placed: the
    embedded sequence holds q_t (learned query + <t_t>) there, frame tokens just before."""
    split = _split()
    b = method.batch(split, np.arange(4))
    embeds, mask, _ = method.mllm.build_inputs(b.frames, b.tube.frame_mask.repeat_interleave(2, 1),
                                               [[] for _ in range(4)], prefixes=b.sentences)
    vision = method.mllm.projector(b.frames)  # (B, 2T, W): f_0 q_0 f_1 q_1 ...
    pos = query_positions([len(s) for s in b.sentences], T)
    for i in range(4):
        n = split.queries[i].n_frames
        for t in range(n):
            torch.testing.assert_close(embeds[i, pos[i, t]], vision[i, 2 * t + 1])
            torch.testing.assert_close(embeds[i, pos[i, t] - 1], vision[i, 2 * t])
        assert bool(mask[i, pos[i, n - 1]])
    # a query carries its frame's time token: two frames' queries differ by <t_i> - <t_j>
    q = vision[0, 1::2]
    e = method.mllm.embed(torch.tensor(method.span.times[:T]))
    torch.testing.assert_close(q[1] - q[0], e[1] - e[0])


def test_boxes_depend_on_the_query_state_of_their_own_frame(method):
    """Changing frame 4's tokens (after the tube) cannot move the boxes of frames 0..3 (causal LM:
    the queries before it never see it), but does move the LM state the decoder reads at frame 4."""
    split = _split(2)
    b = method.batch(split, np.arange(2))
    every = torch.ones(2, T, dtype=torch.bool)
    with torch.no_grad():
        _, s0, q0, _, _ = method.forward_batch(b, None, every)
        pooled = b.frames.clone()
        pooled[:, 4] += 1.0
        _, s1, q1, _, _ = method.forward_batch(b._replace(frames=pooled), None, every)
    q0, q1 = q0.view(2, T, -1), q1.view(2, T, -1)
    torch.testing.assert_close(q0[:, :4], q1[:, :4])
    assert (q0[:, 4] - q1[:, 4]).abs().max() > 1e-4


def test_untrained_decoder_returns_the_picked_proposal_and_spans_are_well_formed(method):
    """At init the refinement delta is zero, so each frame's box is exactly the proposal the query
    scores highest; moments are [s, e) inside the video with s < e, from the grammar-bound answer."""
    split = _split()
    preds = method.predict(split)
    b = method.batch(split, np.arange(4))
    with torch.no_grad():
        _, scores, _, _, props = method.forward_batch(b, None, torch.ones(4, T, dtype=torch.bool))
    pick = props[torch.arange(len(props)), scores.argmax(-1)].view(4, T, 4)
    for i, q in enumerate(split.queries):
        (s, e), boxes = preds[q.qid]
        assert 0 <= s < e <= q.n_frames and boxes.shape == (q.n_frames, 4)
        want = (box_cxcywh_to_xyxy(pick[i, :q.n_frames]).clamp(0, 1) * SIZE).numpy()
        np.testing.assert_allclose(boxes, want, atol=1e-4)


def test_untrained_boxes_are_the_framewise_baselines(method):
    """The space decoder's score starts as tinyground's phrase-match logit (its learned part is
    zero, its refinement delta too): before training SpaceVLLM boxes every frame exactly where the
    frame-wise baseline does, so what training changes is measured against that baseline."""
    from i2vbench.methods.stvg.base import ground_frames

    split = _split()
    preds = method.predict(split)
    for vid in ("v0", "v1"):
        idx = [i for i, q in enumerate(split.queries) if q.vid == vid]
        want, _ = ground_frames(method.grounder, split.tokens[vid], [split.queries[i].caption for i in idx], SIZE)
        for k, i in enumerate(idx):
            np.testing.assert_allclose(preds[split.queries[i].qid][1], want[k], atol=0.5)


def test_span_answer_round_trips(method):
    span = method.span
    for s, e in [(0, 0), (1, 4), (3, 31)]:
        ids = span.ids(s, e)
        assert span.parse(ids) == (s, e)
        assert method.mllm.lm.decode(ids) == f"from <t{s}> to <t{e}>."
    assert span.parse(span.ids(4, 4)[:2]) is None
    allowed = span.constraint(torch.tensor([[span.word["from"], span.times[5], span.word["to"]]]))
    assert not allowed[0, span.times[4]] and allowed[0, span.times[5]] and allowed[0, span.times[31]]


def test_box_iou_each_matches_a_brute_force_reference():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (50, 4))
    b = rng.uniform(0, 1, (50, 4))
    a[:, 2:] += a[:, :2]
    b[:, 2:] += b[:, :2]
    got = box_iou_each(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    for (x0, y0, x1, y1), (u0, v0, u1, v1), g in zip(a, b, got, strict=True):
        iw, ih = max(0.0, min(x1, u1) - max(x0, u0)), max(0.0, min(y1, v1) - max(y0, v0))
        inter = iw * ih
        assert g == pytest.approx(inter / ((x1 - x0) * (y1 - y0) + (u1 - u0) * (v1 - v0) - inter))
