"""The MLLM pattern (vision tokens → projector → causal LM): masks, decoding, option scoring."""

from __future__ import annotations

import pytest
import torch

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.tinylm import TinyLM, TinyLMConfig
from i2vbench.methods.mllm import IGNORE, MLLM, trainable_summary


def _mllm(tuning: str = "full", seed: int = 0, **kw) -> MLLM:
    torch.manual_seed(seed)
    lm = TinyLM(TinyLMConfig(width=32, depth=2, heads=2, context_length=48, n_time_tokens=6))
    return MLLM(lm, vision_dim=8, tuning=tuning, **kw)


def test_inputs_layout_masks_and_labels():
    m = _mllm()
    vision = torch.randn(2, 4, 8)
    vmask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    prompts = [m.lm.encode("what color?"), m.lm.encode("what shape is it?")]
    targets = [m.lm.encode("red."), m.lm.encode("a circle.")]
    for side in ("left", "right"):
        embeds, mask, labels = m.build_inputs(vision, vmask, prompts, targets, side=side)
        lengths = [1 + 3 + len(prompts[0]) + 1 + len(targets[0]), 1 + 4 + len(prompts[1]) + 1 + len(targets[1])]
        assert mask.sum(1).tolist() == lengths and embeds.shape[:2] == mask.shape
        assert (labels != IGNORE).sum(1).tolist() == [len(t) for t in targets]
        got = [labels[i][labels[i] != IGNORE].tolist() for i in range(2)]
        assert got == targets
        assert not mask[0, :mask.shape[1] - lengths[0]].any() if side == "left" else not mask[0, lengths[0]:].any()
    with pytest.raises(BenchError, match="context"):
        m.build_inputs(torch.randn(1, 60, 8), None, [[]])


def test_padding_and_batching_do_not_change_scores():
    """A padded video equals the same video without its padding; an item's log-probs are the
    same alone and in a batch (right-padded), and left-padded generation agrees."""
    m = _mllm().eval()
    v = torch.randn(2, 5, 8)
    prompts = [m.lm.encode("what does the red circle do?"), m.lm.encode("how many?")]
    targets = [m.lm.encode("it grows."), m.lm.encode("three objects.")]
    vmask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    with torch.no_grad():
        lp, keep = m.token_log_probs(v, vmask, prompts, targets)
        for i in range(2):
            n = int(vmask[i].sum())
            alone, k1 = m.token_log_probs(v[i:i + 1, :n], None, prompts[i:i + 1], targets[i:i + 1])
            torch.testing.assert_close(lp[i][keep[i]], alone[0][k1[0]], atol=1e-5, rtol=1e-5)
    batch = m.generate(v, vmask, prompts, max_new_tokens=6)
    for i in range(2):
        n = int(vmask[i].sum())
        assert m.generate(v[i:i + 1, :n], None, prompts[i:i + 1], max_new_tokens=6)[0][0][0] == batch[i][0][0]


def test_beam_width_one_is_greedy_and_beam_scores_are_log_likelihoods():
    m = _mllm(seed=3).eval()
    v = torch.randn(3, 4, 8)
    prompts = [m.lm.encode("what color is the star?"), m.lm.encode("where?"), m.lm.encode("what?")]
    greedy = m.generate(v, None, prompts, max_new_tokens=5, num_beams=1)
    # greedy written out: argmax at every step
    for b in range(3):
        seq = []
        for _ in range(5):
            embeds, mask, _ = m.build_inputs(v[b:b + 1], None, prompts[b:b + 1], [seq])
            nxt = int(m._run(embeds, mask)[0, -1].argmax())
            if nxt == m.lm.eos_id:
                break
            seq.append(nxt)
        assert greedy[b][0][0] == seq
    beams = m.generate(v, None, prompts, max_new_tokens=5, num_beams=4)
    for b in range(3):
        scores = [s for _, s in beams[b]]
        assert len(beams[b]) == 4 and scores == sorted(scores, reverse=True)
        assert len({tuple(ids) for ids, _ in beams[b]}) == 4
        # beam search need not beat greedy ...
        for ids, s in beams[b]:  # ... but every beam's score is its sequence's log-likelihood
            full = ids + ([m.lm.eos_id] if len(ids) < 5 else [])
            lp, keep = m.token_log_probs(v[b:b + 1], None, prompts[b:b + 1], [full])
            assert abs(lp.sum().item() - s) < 1e-3


def test_overfit_option_scoring_and_generation_pick_the_trained_answer():
    """Two videos, each trained to one answer: option scoring (sum and mean) and greedy/beam
    generation pick it; an untrained model does not tell them apart reliably."""
    # full tuning: a random frozen LM's tied token table (std 0.02) cannot give peaked logits
    m = _mllm(tuning="full", seed=1)
    torch.manual_seed(1)
    v = torch.randn(2, 3, 8)
    q = m.lm.encode("what color is the circle?")
    answers = [m.lm.encode("red."), m.lm.encode("blue.")]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    m.train()
    for _ in range(60):
        loss = m.loss(v, None, [q, q], answers)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    assert loss.item() < 0.05
    options = [[m.lm.encode("blue."), m.lm.encode("red."), m.lm.encode("green.")]] * 2
    for reduce in ("sum", "mean"):
        s = m.score_options(v, None, [q, q], options, reduce=reduce)
        assert s.shape == (2, 3) and s.argmax(1).tolist() == [1, 0]
    ragged = m.score_options(v, None, [q, q], [options[0][:2], options[1]])
    assert ragged[0, 2] == float("-inf") and ragged.argmax(1).tolist() == [1, 0]
    for beams in (1, 3):
        out = m.generate(v, None, [q, q], max_new_tokens=4, num_beams=beams)
        assert [m.lm.decode(o[0][0]) for o in out] == ["red.", "blue."]


def test_tuning_modes_and_tuned_token_rows():
    m = _mllm(tuning="frozen", tuned_token_ids=[])
    assert set(trainable_summary(m)) == {"projector"}
    lora = _mllm(tuning="lora", tuned_token_ids=m.lm.time_token_ids(6))
    parts = trainable_summary(lora)
    assert set(parts) == {"projector", "lm.lora", "token_delta"} and parts["token_delta"] == 6 * 32
    ref = _mllm(tuning="full")  # same seed: the same LM, untouched
    v, p = torch.randn(1, 2, 8), [lora.lm.encode("the red star")]
    e, mask, _ = lora.build_inputs(v, None, p)
    with torch.no_grad():
        ref.projector.load_state_dict(lora.projector.state_dict())
        e2, _, _ = ref.build_inputs(v, None, p)
        torch.testing.assert_close(lora._run(e, mask), ref._run(e2, mask))  # zero-init LoRA and rows
        lora.token_delta.add_(1.0)
        diff = (lora._run(e, mask) - ref._run(e2, mask)).abs().amax((0, 1))
    tuned = torch.zeros_like(diff, dtype=torch.bool)
    tuned[lora.lm.time_token_ids(6)] = True
    assert (diff[tuned] > 0).all() and (diff[~tuned] == 0).all()
    with pytest.raises(BenchError, match="tuning"):
        _mllm(tuning="prefix")


def test_constrained_generation():
    m = _mllm(seed=2).eval()
    times = torch.tensor(m.lm.time_token_ids(6))

    def two_times_then_eos(seqs: torch.Tensor) -> torch.Tensor:
        allowed = torch.zeros(len(seqs), m.lm.vocab_size, dtype=torch.bool)
        if seqs.shape[1] < 2:
            allowed[:, times] = True
        else:
            allowed[:, m.lm.eos_id] = True
        return allowed

    out = m.generate(torch.randn(2, 3, 8), None, [[], []], max_new_tokens=5, num_beams=3,
                     constraint=two_times_then_eos)
    for item in out:
        for ids, _ in item:
            assert len(ids) == 2 and all(i in times.tolist() for i in ids)


def test_the_pattern_runs_on_a_hugging_face_lm(tmp_path):
    """The same MLLM over an hf:<dir> GPT-2 with LoRA: loss falls, generation and scoring run."""
    from test_tinylm import _tiny_gpt2

    from i2vbench.methods.backbones.lm import load_lm

    _tiny_gpt2(tmp_path)
    lm = load_lm(f"hf:{tmp_path}")
    m = MLLM(lm, vision_dim=8, tuning="lora", tuned_token_ids=lm.time_token_ids(4))
    assert set(trainable_summary(m)) == {"projector", "lm.lora", "token_delta"}
    v, q = torch.randn(2, 3, 8), [lm.encode("what color"), lm.encode("what shape")]
    answers = [lm.encode("red"), lm.encode("circle")]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    first = None
    for _ in range(15):
        loss = m.loss(v, None, q, answers)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first
    out = m.generate(v, None, q, max_new_tokens=3, num_beams=2)
    assert len(out) == 2 and all(len(o) == 2 for o in out)
    assert m.score_options(v, None, q, [answers, answers]).shape == (2, 2)
