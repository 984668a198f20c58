"""VTimeLLM-style grounding: answers as frame-index time tokens, decoded back to windows."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tvg_methods import _toy_split

from i2vbench.methods.tvg.vtimellm import VTimeLLM, VTimeLLMConfig


def _method(**kw) -> VTimeLLM:
    torch.manual_seed(0)
    return VTimeLLM(video_dim=128, config=VTimeLLMConfig(**kw))


METHOD = _method(frames=16)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_answer_names_the_frames_the_window_covers(a, b):
    """``from <t_s> to <t_e> .``: frames s..e cover the window, each end within one frame."""
    s, e = min(a, b), max(a, b)
    ids = METHOD.answer(s, e)
    f, t0 = 16, METHOD.times[0]
    assert METHOD.mllm.lm.decode(ids).startswith("from <t") and ids[2] == METHOD.word["to"]
    lo, hi = (ids[1] - t0) / f, (ids[3] - t0 + 1) / f
    assert 0 <= lo <= hi <= 1 and lo <= s + 1e-9 and lo > s - 1 / f - 1e-9
    assert hi >= min(e, 1 - 1e-9) - 1e-9 or hi == 1.0
    assert hi <= e + 1 / f + 1e-9


def test_predictions_follow_the_answer_grammar():
    """Even untrained, beam search only produces well-formed answers: end >= start, ranked."""
    split = _toy_split(4, 0)
    m = _method(frames=16, num_beams=4, frame_time_tokens=True)
    m.start_fit(split)
    preds = m.predict(split)
    for q in split.queries:
        w = preds[q.qid]
        assert w.shape == (4, 3) and np.all(np.diff(w[:, 2]) <= 0)
        assert np.all(w[:, 0] < w[:, 1]) and np.all(w[:, 0] >= 0) and np.all(w[:, 1] <= q.duration + 1e-6)
        # ends fall on the frame grid of the 16 sampled frames
        grid = w[:, :2] / q.duration * 16
        np.testing.assert_allclose(grid, np.round(grid), atol=1e-6)
