"""The embedded LM (tinylm), the LM interface and its Hugging Face implementation."""

from __future__ import annotations

import functools
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.lm import TINYLM_DIR, load_lm
from i2vbench.methods.backbones.lm_pretrain import LMPretrainConfig, corpus, encode_corpus, pretrain
from i2vbench.methods.backbones.tinylm import LMTokenizer, TinyLM, TinyLMConfig, default_vocabulary

TINY = dict(steps=6, batch_size=4, lr=1e-3, warmup_steps=2, train_scenes=30, heldout_scenes=6, width=32,
            depth=1, heads=2, context_length=32, n_time_tokens=8, threads=1)
TOKENIZER = LMTokenizer(default_vocabulary(), n_time_tokens=100)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(TOKENIZER) - 1), max_size=40))
def test_tokenizer_round_trip_ids(ids):
    """Every id sequence (specials, words, punctuation, time tokens) survives decode → encode."""
    assert TOKENIZER.encode(TOKENIZER.decode(ids, skip_special=False)) == ids


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(default_vocabulary()), min_size=1, max_size=30))
def test_tokenizer_round_trip_text(words):
    """Grammar text: encode → decode gives the text back with punctuation attached."""
    text = TOKENIZER.decode(TOKENIZER.encode(" ".join(words)))
    assert TOKENIZER.encode(text) == TOKENIZER.encode(" ".join(words))
    assert TOKENIZER.unk_id not in TOKENIZER.encode(text)


def test_tokenizer_layout_and_unknown_words():
    t = TOKENIZER
    assert (t.pad_id, t.unk_id, t.bos_id, t.eos_id, t.sep_id) == (0, 1, 2, 3, 4)
    assert t.itos[t.first_time_id] == "<t0>" and t.itos[-1] == "<t99>"
    ids = t.encode("What color is it? <sep> red. <t7> <t12>", bos=True, eos=True)
    assert t.decode(ids, skip_special=False) == "<bos> what color is it? <sep> red. <t7> <t12> <eos>"
    assert t.decode(ids) == "what color is it? red. <t7> <t12>"
    assert t.encode("a zebra") == [t.stoi["a"], t.unk_id]


def test_corpus_is_in_vocabulary_and_text_only():
    """Every document of the grammar's corpus is made of vocabulary words (encode_corpus refuses
    an unknown word), and it has all four kinds of document."""
    docs = corpus(40, seed=3, split=0)
    model = TinyLM(TinyLMConfig(width=32, depth=1, heads=2, context_length=32, n_time_tokens=4))
    rows = encode_corpus(model, docs)
    assert all(r[0] == model.bos_id and r[-1] == model.eos_id for r in rows)
    assert any("<sep>" in d for d in docs) and any(d.startswith("there is") for d in docs)
    assert any(", then" in d or " after " in d or " before " in d for d in docs if "<sep>" not in d)
    assert not any("<t" in d for d in docs)  # time tokens are learned downstream, never here
    with pytest.raises(BenchError, match="outside the vocabulary"):
        encode_corpus(model, ["the red zebra moves left."])


def test_pretrain_is_deterministic_and_learns():
    a, ma = pretrain(LMPretrainConfig(**TINY))
    b, mb = pretrain(LMPretrainConfig(**TINY))
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ma["heldout_perplexity"] == mb["heldout_perplexity"]
    c, _ = pretrain(LMPretrainConfig(**{**TINY, "seed": 1}))
    assert not torch.equal(c.state_dict()["token_embedding.weight"], sa["token_embedding.weight"])
    assert ma["heldout_perplexity"] < ma["uniform_perplexity"]


def test_cli_recipe_is_the_config_default(bench, tmp_path, monkeypatch):
    """`bench pretrain --backbone tinylm` defaults are LMPretrainConfig's; the command writes a
    loadable checkpoint with its command and metrics, and refuses tinyclip-only options."""
    from i2vbench.methods.backbones import lm_pretrain
    recipe = ("steps", "batch_size", "lr", "warmup_steps", "seed")
    small = {k: v for k, v in TINY.items() if k not in recipe}
    monkeypatch.setattr(lm_pretrain, "LMPretrainConfig", functools.partial(LMPretrainConfig, **small))
    code, out, err = bench("pretrain", "--backbone", "tinylm", "--steps", "3", "--batch-size", "2",
                           "--out", str(tmp_path / "lm"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "lm" / "metrics.json").read_text())
    assert metrics["command"] == "bench pretrain --backbone tinylm --steps 3 --batch-size 2 --lr 0.001 --warmup 3 --seed 0"
    assert metrics["steps"] == 3 and metrics["config"]["batch_size"] == 2
    lm = load_lm("tinylm", str(tmp_path / "lm"))
    assert lm.lm_id.startswith("tinylm-") and not lm.lm_id.endswith("random")
    code, _, err = bench("pretrain", "--backbone", "tinylm", "--partial", "0.5", "--out", str(tmp_path / "x"))
    assert code != 0 and "--partial" in err
    code, _, err = bench("pretrain", "--backbone", "tinylm", "--steps", "1", "--out", str(tmp_path / "lm"))
    assert code != 0 and "refusing to overwrite" in err


def test_shipped_tinylm_beats_uniform_and_unigram_on_fresh_text():
    """The shipped checkpoint on text generated now from a seed stream pretraining never used."""
    from i2vbench.methods.backbones.lm_pretrain import evaluate, unigram_perplexity

    assert (TINYLM_DIR / "model.safetensors").is_file(), "the shipped tinylm checkpoint is missing"
    lm = load_lm("tinylm")
    shipped = json.loads((TINYLM_DIR / "metrics.json").read_text())
    fresh = encode_corpus(lm, corpus(150, seed=987654, split=1))
    res = evaluate(lm, fresh)
    assert res["uniform_perplexity"] == lm.vocab_size > 200
    assert res["heldout_perplexity"] < 0.05 * lm.vocab_size, res
    unigram = unigram_perplexity(encode_corpus(lm, corpus(300, seed=987654, split=0)), fresh, lm.vocab_size)
    assert res["heldout_perplexity"] < 0.3 * unigram, (res, unigram)
    assert res["heldout_next_word_acc"] > 0.6
    assert abs(res["heldout_perplexity"] - shipped["heldout_perplexity"]) < 0.5


def test_padding_side_does_not_change_logits():
    """Positions come from the mask: left- and right-padded batches agree at every real token."""
    torch.manual_seed(0)
    lm = TinyLM(TinyLMConfig(width=32, depth=2, heads=2, context_length=32, n_time_tokens=4)).eval()
    rows = [lm.encode("the red circle moves left.", bos=True), lm.encode("a star.", bos=True)]
    out = {}
    for side in ("left", "right"):
        ids, mask = lm.pad_batch(rows, side)
        logits = lm(lm.embed_tokens(ids), mask).logits
        out[side] = [logits[i][mask[i]] for i in range(len(rows))]
        assert torch.isfinite(logits).all()
    for a, b in zip(out["left"], out["right"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    alone = lm(lm.embed_tokens(torch.tensor([rows[1]]))).logits[0]
    torch.testing.assert_close(alone, out["right"][1], atol=1e-5, rtol=1e-5)


def _tiny_gpt2(path):
    """A randomly initialised 2-layer GPT-2 and a word-level fast tokenizer, saved like a hub model."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["<|endoftext|>", *default_vocabulary()]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    fast.save_pretrained(path)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(words), n_positions=64, n_embd=32, n_layer=2, n_head=2))
    model.save_pretrained(path, safe_serialization=True)
    return model


def test_hf_causal_lm_offline(tmp_path):
    ref = _tiny_gpt2(tmp_path).eval()
    lm = load_lm(f"hf:{tmp_path}")
    assert lm.width == 32 and len(lm.blocks) == 2 and lm.lm_id.startswith("hf_")
    ids = lm.encode("the red circle moves left", bos=True)
    with torch.no_grad():
        want = ref(torch.tensor([ids])).logits
        got = lm(lm.embed_tokens(torch.tensor([ids]))).logits
    torch.testing.assert_close(got[..., :want.shape[-1]], want, atol=1e-5, rtol=1e-5)
    assert lm.decode(lm.encode("the red circle")) == "the red circle"
    assert lm.sep_id not in (lm.eos_id, lm.pad_id)  # GPT-2 has no separator: one was added
    times = lm.time_token_ids(5)
    assert len(set(times)) == 5 and min(times) >= want.shape[-1] and lm.vocab_size == max(times) + 1
    rows = [ids, lm.encode("a star", bos=True)]
    with torch.no_grad():
        for side in ("left", "right"):
            pid, mask = lm.pad_batch(rows, side)
            logits = lm(lm.embed_tokens(pid), mask).logits
            torch.testing.assert_close(logits[1][mask[1]], lm(lm.embed_tokens(torch.tensor([rows[1]]))).logits[0],
                                       atol=1e-5, rtol=1e-5)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(BenchError, match="safetensors"):
        load_lm(f"hf:{tmp_path}")


def test_unknown_lm_and_missing_checkpoint(tmp_path):
    with pytest.raises(BenchError, match="language model"):
        load_lm("gpt5")
    with pytest.raises(BenchError, match="bench pretrain --backbone tinylm"):
        load_lm("tinylm", str(tmp_path))
