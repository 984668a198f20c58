"""`bench run --task captioning` end to end on a small SynthVid MSR-VTT pool and on the real
MSR-VTT layout; the shared caption decoder; the grammar parser behind ``twin-order``; the
batched (one Java session) scoring against the per-file evaluator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

METHODS = ("nearest_caption", "consensus_caption", "clip4caption", "mams", "mplug2", "swinbert", "vid2seq", "qadapter")
TRAINED = [m for m in METHODS if m not in ("nearest_caption", "consensus_caption")]
# every method by name: Vid2Seq and Q-Adapter are registered out of the default run
SMALL = f"methods: [{', '.join(METHODS)}]\nsynthvid: {{n_train: 24, n_val: 9, n_test: 9}}\noverrides: {{" + ", ".join(
    f"{m}: {{epochs: 1}}" for m in TRAINED) + "}\n"
SYNTHVID = {"seed": 0, "n_train": 24, "n_val": 9, "n_test": 9}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    from conftest import quick_run

    return quick_run(tmp_path_factory.mktemp("captioning"), "captioning", SMALL)


def test_every_method_runs_and_its_captions_score_as_bench_eval_scores_them(run, bench, monkeypatch):
    from i2vbench.datasets.synthvid.msrvtt import build_msrvtt

    assert run["task"] == "captioning"
    assert {(r["method"], r["split"]) for r in run["results"]} == {(m, s) for m in METHODS for s in ("val", "test")}
    assert {r["dataset"] for r in run["results"]} == {"synthvid-msrvtt"}
    for r in run["results"]:
        assert list(r["metrics"])[:7] == ["BLEU1", "BLEU2", "BLEU3", "BLEU4", "METEOR", "ROUGE-L", "CIDEr"]
        assert 0 <= r["metrics"]["twin-order"] <= 100 and 0 <= r["metrics"]["event-acc"] <= 100
    monkeypatch.setenv("I2VBENCH_CACHE", run["cache"])
    data = build_msrvtt(progress=False, **SYNTHVID)
    run_dir = Path(run["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert {r["method_id"]: r["paradigm"] for r in record["records"]} == {
        "nearest_caption": "other", "consensus_caption": "other", "clip4caption": "post_network_tuning",
        "mams": "side_tuning", "mplug2": "partial_tuning", "swinbert": "full_fine_tuning",
        "vid2seq": "extra_models", "qadapter": "adapter"}
    for r in record["records"]:
        (seed,) = r["per_seed"]
        rows = json.loads((run_dir / seed["predictions"]).read_text())
        assert [set(row) for row in rows] == [{"video_id", "caption"}] * 9
    # `bench eval` on a predictions file (its own Java session) gives the run's batched scores
    (r,) = [r for r in record["records"] if r["split"] == "test" and r["method_id"] == "clip4caption"]
    (seed,) = r["per_seed"]
    code, out, err = bench("eval", "--task", "captioning", "--gt", str(data.data_json), "--pred",
                           str(run_dir / seed["predictions"]), "--option", "split=test", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert set(got) == {"BLEU1", "BLEU2", "BLEU3", "BLEU4", "METEOR", "ROUGE-L", "CIDEr"}
    for key, value in got.items():
        assert seed["metrics"][key] == pytest.approx(value, abs=1e-6)


def test_the_real_msrvtt_layout_runs_from_its_split_field(bench, run, tmp_path, monkeypatch):
    """MSR-VTT's caption protocol: train/validate/test from ``split`` in MSRVTT_data.json."""
    from i2vbench.datasets.synthvid.msrvtt import build_msrvtt

    monkeypatch.setenv("I2VBENCH_CACHE", run["cache"])
    data = build_msrvtt(progress=False, **SYNTHVID)
    root = tmp_path / "msrvtt"
    root.mkdir()
    shutil.copy(data.data_json, root / "MSRVTT_data.json")
    (tmp_path / "c.yaml").write_text("overrides: {clip4caption: {epochs: 1}}\n")
    code, stdout, stderr = bench("run", "--task", "captioning", "--dataset", "msrvtt", "--data-root", str(root),
                                 "--videos", str(data.videos_dir), "--methods", "nearest_caption,clip4caption",
                                 "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "runs"), "--json",
                                 "--no-progress")
    assert code == 0, stderr
    out = json.loads(stdout)
    assert [(r["dataset"], r["method"], r["split"]) for r in out["results"]] == \
        [("msrvtt", m, s) for m in ("nearest_caption", "clip4caption") for s in ("test", "val")]
    stats = out["datasets"][0]["stats"]
    assert (stats["n_train_videos"], stats["n_val_videos"], stats["n_test_videos"]) == (24, 9, 9)
    assert all("twin-order" not in r["metrics"] for r in out["results"])  # real videos have no twins


def test_missing_files_fail_cleanly(bench, tmp_path):
    code, _, stderr = bench("run", "--task", "captioning", "--dataset", "msrvtt", "--data-root", str(tmp_path),
                            "--out", str(tmp_path / "runs"), "--no-progress")
    assert code != 0 and "MSRVTT_data.json" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()


# --- the shared decoder ------------------------------------------------------------------------

def _decoder(vocab_size: int = 12, seed: int = 0, max_len: int = 12):
    from i2vbench.methods.captioning.decoder import CaptionDecoder

    torch.manual_seed(seed)
    return CaptionDecoder(vocab_size, dim=32, layers=2, heads=4, max_len=max_len, dropout=0.0).eval()


@pytest.mark.parametrize("seed", range(4))
def test_beam_of_one_is_greedy(seed):
    dec = _decoder(seed=seed)
    torch.manual_seed(100 + seed)
    memory, pad = torch.randn(5, 3, 32), torch.tensor([[False, False, True]] * 5)
    greedy = dec.greedy(memory, pad, bos=1, eos=2)
    beam = dec.beam_search(memory, pad, bos=1, eos=2, beam_size=1)
    assert torch.equal(greedy, beam)


def _sequence_logp(dec, memory, ids, eos: int) -> torch.Tensor:  # noqa: ANN001
    """Sum of word log-probabilities of each row of ``ids`` up to and including its first <eos>."""
    logp = dec(ids[:, :-1], memory).log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
    keep = torch.cumsum((ids[:, :-1] == eos).long(), 1) == 0
    keep[:, 0] = True
    return (logp * keep).sum(1)


@pytest.mark.parametrize("seed", range(4))
def test_beam_search_returns_its_best_hypothesis_scored_by_the_model(seed):
    """The score beam search ranks by is the model's own log-probability of the returned words, and
    a wider beam never ends with a worse best hypothesis than a beam of one when all finish."""
    dec = _decoder(seed=seed)
    torch.manual_seed(200 + seed)
    memory = torch.randn(4, 3, 32)
    ids = {k: dec.beam_search(memory, None, bos=1, eos=2, beam_size=k, max_len=12) for k in (1, 4)}
    scores = {k: _sequence_logp(dec, memory, v, eos=2) for k, v in ids.items()}
    finished = [(v == 2).any(1) for v in ids.values()]
    both = finished[0] & finished[1]
    assert (scores[4][both] >= scores[1][both] - 1e-5).all()


def test_the_decoder_learns_captions_by_teacher_forcing_and_decodes_them_back():
    from i2vbench.methods.captioning.decoder import Vocabulary

    captions = ["the red circle moves left, then the blue square grows.", "a green star appears."]
    vocab = Vocabulary.from_captions(captions)
    dec = _decoder(len(vocab), max_len=24).train()
    memory = torch.randn(2, 3, 32)
    ids = vocab.encode(captions, 24)
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    for _ in range(150):
        loss = dec.loss(ids, memory, None, vocab.pad)
        opt.zero_grad()
        loss.backward()
        opt.step()
    dec.eval()
    for beam in (1, 3):
        out = dec.generate(memory, None, vocab.bos, vocab.eos, beam_size=beam)
        assert [vocab.decode(r[1:]) for r in out.tolist()] == captions


@settings(deadline=None, max_examples=50)
@given(st.lists(st.sampled_from(["the", "red", "circle", "moves", "left", ",", ".", "then", "a", "grows"]),
                min_size=1, max_size=20))
def test_vocabulary_round_trips_sentences_of_its_words(tokens):
    from i2vbench.methods.captioning.decoder import Vocabulary, words

    text = " ".join(tokens).replace(" ,", ",").replace(" .", ".")
    vocab = Vocabulary(["the", "red", "circle", "moves", "left", ",", ".", "then", "a", "grows"])
    assert words(vocab.decode(vocab.encode([text], 64)[0])) == words(text)


# --- the order score ---------------------------------------------------------------------------

@settings(deadline=None, max_examples=60)
@given(st.integers(0, 10_000))
def test_every_pool_caption_parses_back_to_a_stretch_of_its_videos_events(index):
    from i2vbench.datasets.synthvid.msrvtt import (
        MSRVTTConfig,
        event_sequence,
        msrvtt_scene,
        parse_caption,
        sample_captions,
    )

    cfg = MSRVTTConfig()
    scene = msrvtt_scene(0, "train", index % cfg.n_train, cfg)
    seq = event_sequence(scene)
    refs = sample_captions(scene, np.random.default_rng(index), cfg)["captions"]
    assert parse_caption(refs[0]) == seq  # reference 0 names every event
    for ref in refs:
        got = parse_caption(ref)
        assert got and any(seq[i:i + len(got)] == got for i in range(len(seq) - len(got) + 1))


def test_parse_reads_after_and_before_as_time_order_and_refuses_other_sentences():
    from i2vbench.datasets.synthvid.msrvtt import parse_caption

    a, b = ("red", "circle", "move left"), ("blue", "square", "grow")
    for text in ("the red circle moves left, then the blue square grows.",
                 "first the red circle goes left, then the large blue square gets bigger.",
                 "the blue square grows after the red circle slides to the left.",
                 "the small red circle moves to the left before the blue square becomes larger.",
                 "the red circle moves left, and after that the blue square grows."):
        assert parse_caption(text) == [a, b], text
    assert parse_caption("the red circle moves left then.") is None
    assert parse_caption("the red moves left.") is None


def test_twin_order_is_half_for_one_caption_for_both_twins_and_full_for_the_right_order():
    from i2vbench.benchmarks.captioning import order_scores

    a, b = ("red", "circle", "move left"), ("blue", "star", "grow")
    a_rev, b_rev = ("red", "circle", "move right"), ("blue", "star", "shrink")
    ev = {"v": [a, b], "w": [b_rev, a_rev], "x": [b]}
    right = {"v": "the red circle moves right, then the blue star grows.",  # motion wrong, order right
             "w": "the blue star moves up, then the red circle moves up.", "x": "a blue star grows."}
    assert order_scores(right, ev, [("v", "w")]) == {"event-acc": pytest.approx(100 / 3), "twin-order": 100.0}
    blind = {**right, "w": right["v"]}  # one caption for both twins: closer to exactly one of them
    assert order_scores(blind, ev, [("v", "w")])["twin-order"] == 50.0
    unreadable = {**right, "v": "red red red.", "w": "the blue star grows after the red circle goes left."}
    assert order_scores(unreadable, ev, [("v", "w")])["twin-order"] == 25.0  # a tie, and the wrong order


def test_consensus_prefers_the_caption_the_corpus_repeats():
    from i2vbench.methods.captioning.baselines import consensus_scores

    caps = ["a red circle grows.", "a red circle grows.", "a red circle shrinks.", "the blue star moves left."]
    scores = consensus_scores(caps, np.array([0, 1, 2, 3]))
    assert scores.argmax() in (0, 1) and scores[3] < scores[2] < scores[0]


def test_batched_scoring_equals_scoring_each_set_alone():
    from i2vbench.metrics.captioning import caption_metrics, caption_metrics_many

    refs = {"test": {"v1": ["a red circle moves left.", "the red circle goes left."],
                     "v2": ["a blue star grows, then it fades out.", "the blue star gets bigger."]},
            "val": {"v3": ["a green square falls.", "the green square moves down."]}}
    sets = {"a": ("test", {"v1": "a red circle moves to the left.", "v2": "the blue star grows."}),
            "b": ("test", {"v1": "a blue star.", "v2": ""}),
            "c": ("val", {"v3": "the green square goes down."})}
    # METEOR's shared session is checked end to end above (`bench eval` on one of a run's many
    # sets); here the tokenizer run shared by all sets and the per-set scorers, without METEOR
    metrics = ("BLEU1", "BLEU4", "ROUGE-L", "CIDEr")
    many = caption_metrics_many(refs, sets, metrics)
    assert many["b"]["CIDEr"] < many["a"]["CIDEr"]
    for key, (split, cands) in sets.items():
        assert many[key] == pytest.approx(caption_metrics(refs[split], cands, metrics), abs=1e-6)


# --- the mechanisms the methods add ------------------------------------------------------------

def test_mplug2_starts_as_the_image_model_and_tunes_only_its_last_blocks_and_temporal_modules():
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.captioning.decoder import Vocabulary
    from i2vbench.methods.captioning.mplug2 import MPLUG2, MPLUG2Config
    from i2vbench.methods.paradigms.common import num_frames_context

    torch.manual_seed(0)
    frozen = load_backbone("tinyclip", None)
    x = torch.rand(6, 3, 64, 64)
    before = frozen.encode_frames(x).tokens
    m = MPLUG2(Vocabulary(["a"]), load_backbone("tinyclip", None), MPLUG2Config(tuned_blocks=1))
    with num_frames_context(3):
        after = m.backbone.encode_frames(x).tokens
    torch.testing.assert_close(after, before)  # zero-initialised local temporal module
    last = len(m.backbone.visual_blocks) - 1
    tuned = {tuple(n.split(".")[1:3]) for n, p in m.backbone.named_parameters() if p.requires_grad}
    assert tuned == {(str(last), "block"), (str(last), "adapter")}
    scaled = {id(p) for p in m.param_groups()[0]["params"]}
    assert m.param_groups()[0]["lr_scale"] == m.config.backbone_lr_scale
    for n, p in m.backbone.named_parameters():  # the image model's own weights learn slower, new modules not
        assert (id(p) in scaled) == (".adapter." not in n)


def test_mams_significance_and_module_selection():
    from i2vbench.methods.captioning.mams import dynamics, token_significance

    tokens = torch.zeros(1, 3, 4)
    tokens[0, 0] = torch.tensor([1.0, 0, 0, 0])  # class token
    tokens[0, 1] = torch.tensor([3.0, 0, 0, 0])  # aligned with it and large: most significant
    tokens[0, 2] = torch.tensor([0.0, 1, 0, 0])
    sig = token_significance(tokens)
    assert sig[0, 1] > sig[0, 2] and sig[0, 0] == sig[0, 1:].max()
    steady, changing = torch.ones(1, 8), torch.tensor([[1.0, 1, 1, 1, 5, 5, 5, 5]])
    assert dynamics(steady) < dynamics(changing)


def test_swinbert_sparsity_regulariser_pulls_the_mask_down():
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.captioning.decoder import Vocabulary
    from i2vbench.methods.captioning.swinbert import SwinBERT, SwinBERTConfig

    m = SwinBERT(Vocabulary(["a"]), load_backbone("tinyclip", None), num_frames=2, config=SwinBERTConfig())
    reg = m.extra_losses(None, torch.zeros(1))["sparsity"]  # type: ignore[arg-type]
    reg.backward()
    assert m.mask.shape == (2 * 5, 2 * 5) and (m.mask.grad > 0).all()


# --- the LM captioners (Vid2Seq, Q-Adapter) ----------------------------------------------------

SPANS = [(("red", "circle", "move left"), 0.05, 0.30), (("blue", "star", "grow"), 0.40, 0.62),
         (("red", "circle", "disappear"), 0.70, 0.95)]


@pytest.mark.parametrize("caption, named", [
    ("first the red circle moves left, then the blue star grows, then the red circle fades out.", [0, 1, 2]),
    ("the blue star gets bigger after the red circle goes left.", [1, 0]),
    ("the blue star grows before the red circle vanishes.", [1, 2]),
    ("the blue star grows, and after that the red circle disappears.", [1, 2]),
    ("the red circle disappears.", [2]),
])
def test_vid2seq_puts_each_clauses_event_span_before_it_in_the_sentences_order(caption, named):
    from i2vbench.datasets.synthvid.text import tokenize
    from i2vbench.methods.captioning.vid2seq import Vid2Seq, Vid2SeqConfig
    from i2vbench.methods.mllm import time_bins

    m = Vid2Seq(16, {"v": SPANS}, Vid2SeqConfig(time_bins=20))
    ids = m.target("v", caption)
    times = [i for i in ids if i in m.times]
    want = [m.times[k] for j in named for k in time_bins(SPANS[j][1], SPANS[j][2], 20)]
    assert times == want
    # each pair sits right before a determiner that opens a clause, and dropping them gives the words back
    for k, i in enumerate(ids):
        if i in m.times and (k + 1 == len(ids) or ids[k + 1] not in m.times):
            assert m.lm.decode([ids[k + 1]]) in ("the", "a", "an")
    assert tokenize(m.text(ids)) == tokenize(caption)
    # a video without event times (real MSR-VTT), or a caption that names other events, is plain words
    assert m.target("w", caption) == m.lm.encode(caption)
    assert m.target("v", "the green square moves up.") == m.lm.encode("the green square moves up.")


def test_qadapter_starts_as_the_frozen_ilfm_and_trains_only_its_adapters_projector_and_lm_deltas():
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.captioning.base import CaptionBatch, frame_tokens
    from i2vbench.methods.captioning.qadapter import QAdapter, QAdapterConfig, QueryAdapter

    torch.manual_seed(0)
    frozen = load_backbone("tinyclip", None)
    frames = torch.randint(0, 255, (2, 3, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        want = frame_tokens(frozen.encode_frames(frozen.preprocess(frames.flatten(0, 1))).tokens.view(2, 3, 65, -1), 1)
    m = QAdapter(load_backbone("tinyclip", None), QAdapterConfig(adapted_blocks=2, tuning="lora"))
    b = CaptionBatch(["a", "b"], torch.zeros(2, 3, 1), None, frames, [], torch.zeros(0, dtype=torch.long), None)
    with torch.no_grad():
        got = m.vision(b)
    torch.testing.assert_close(got, m.norm(want.float()), atol=0.05, rtol=0.05)  # the frozen prefix is kept in bf16
    adapters = [mod for mod in m.backbone.modules() if isinstance(mod, QueryAdapter)]
    # open gates over zero up projections: the adapted ILFM is the frozen one (checked above) and up learns at once
    assert len(adapters) == 2 and all(float(a.gate.detach()) == 1.0 and not a.up.weight.any() for a in adapters)
    trainable = {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"mllm", "backbone", "norm"}
    assert all(".adapter." in n for n, p in m.backbone.named_parameters() if p.requires_grad)
    lm_tuned = [n for n, p in m.mllm.lm.named_parameters() if p.requires_grad]
    assert lm_tuned and all("parametrizations" in n for n in lm_tuned)  # LoRA deltas only


def test_query_adapter_mixes_frames_once_its_gate_opens():
    """The queries read the whole clip: with the gate open, a change in one frame reaches the others."""
    from i2vbench.methods.captioning.qadapter import QueryAdapter
    from i2vbench.methods.paradigms.common import num_frames_context

    torch.manual_seed(0)
    a = QueryAdapter(16, bottleneck=8, queries=4)
    x = torch.randn(4, 5, 16)  # one clip of 4 frames, 5 tokens each
    y = x.clone()
    y[0] += 1.0
    with num_frames_context(4), torch.no_grad():
        torch.testing.assert_close(a(x), x)  # closed gate: the identity
        a.gate.fill_(1.0)
        assert not torch.allclose(a(x)[3], a(y)[3])


def test_query_adapter_open_gate_init_starts_as_the_identity_and_trains_up_from_the_first_step():
    """Closed gate over a random up projection: ``up`` gets no gradient; open gate over a zero one: the
    identity all the same, and ``up`` learns at once (the gate then gets its gradient through ``up``)."""
    from i2vbench.methods.captioning.qadapter import QueryAdapter
    from i2vbench.methods.paradigms.common import num_frames_context

    torch.manual_seed(0)
    x = torch.randn(4, 5, 16)
    for gate_init, up_learns in ((0.0, False), (1.0, True)):
        a = QueryAdapter(16, bottleneck=8, queries=4, gate_init=gate_init)
        with num_frames_context(4):
            y = a(x)
            torch.testing.assert_close(y, x)
            (y * torch.randn_like(y)).sum().backward()
        assert (a.up.weight.grad.abs().sum() > 0) == up_learns
        assert (a.gate.grad.abs() > 0) != up_learns  # the closed gate learns first, the open one second


def test_lm_captioners_train_the_lm_at_lm_lr_scale_and_their_visual_path_at_the_lr():
    from i2vbench.methods.captioning.vid2seq import Vid2Seq, Vid2SeqConfig

    m = Vid2Seq(16, {}, Vid2SeqConfig(lm_lr_scale=0.1))
    lm_group, own_group = m.param_groups()
    assert lm_group["lr_scale"] == 0.1 and "lr_scale" not in own_group
    lm = {id(p) for p in m.lm.parameters()}
    assert lm_group["params"] and all(id(p) in lm for p in lm_group["params"])
    assert not any(id(p) in lm for p in own_group["params"])
    # every trainable parameter once: the LM's (fully tuned here), the encoder's and the projector's
    trainable = [p for p in m.parameters() if p.requires_grad]
    assert sorted(map(id, lm_group["params"] + own_group["params"])) == sorted(map(id, trainable))
    assert {id(p) for p in m.mllm.projector.parameters()} <= {id(p) for p in own_group["params"]}


def test_caption_diagnosis_splits_a_caption_into_its_events_by_position():
    from i2vbench.experiments.caption_val_curve import diagnose

    events = {"a": [("red", "circle", "move left"), ("blue", "star", "grow")],
              "b": [("red", "circle", "move left")]}
    captions = {"a": "the red star moves to the left, then the blue star grows, then the red star grows.",
                "b": "no sentence of the grammar"}
    got = diagnose(captions, events, [])
    assert got["in_grammar"] == 50.0 and got["right_count"] == 0.0 and got["clauses"] == 1.5
    # "a" names 3 events against 2: positions 1 and 2 are compared; "b" names none
    assert got["colour"] == 100.0 and got["shape"] == 50.0 and got["motion"] == 100.0
    assert got["event-acc"] == 0.0
