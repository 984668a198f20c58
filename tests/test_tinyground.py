"""tinyground, the embedded grounding ILFM: DETR's set loss, determinism, the detector interface
(tinyground and OWL-ViT loaded offline from a save_pretrained folder), and the shipped checkpoint
against a trivial box prior on freshly generated stills."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from i2vbench.methods.backbones.grounding import (
    TINYGROUND_DIR,
    load_grounder,
    load_tinyground,
    save_tinyground,
)
from i2vbench.methods.backbones.pretrain_ground import (
    GroundEvalSet,
    GroundPretrainConfig,
    evaluate,
    pretrain_ground,
    prior_metrics,
)
from i2vbench.methods.backbones.tinyground import (
    GroundingOutput,
    TinyGroundConfig,
    generalized_box_iou,
    hungarian_match,
    set_loss,
)

TINY_CLIP = dict(width=32, depth=1, heads=2, embed_dim=32, text_width=32, text_depth=1, text_heads=2)
TINY = TinyGroundConfig(clip=TINY_CLIP, width=32, heads=2, fusion_depth=1, decoder_depth=2, num_queries=6,
                        embed_dim=32)


def _output(boxes: torch.Tensor, obj: torch.Tensor, match: torch.Tensor) -> GroundingOutput:
    return GroundingOutput([boxes], [obj], [match], torch.zeros(0), torch.zeros(0), torch.zeros(0))


def test_giou_is_iou_for_nested_boxes_and_negative_for_far_ones():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    assert generalized_box_iou(a, torch.tensor([[0.0, 0.0, 1.0, 2.0]])).item() == pytest.approx(0.5)
    assert generalized_box_iou(a, torch.tensor([[3.0, 0.0, 5.0, 2.0]])).item() == pytest.approx(-0.2)


def test_hungarian_matching_finds_the_permutation_and_the_set_loss_prefers_it():
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 4, generator=gen) * 0.3 + torch.tensor([0.3, 0.3, 0.2, 0.2])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    referred = torch.tensor([[False, True, False], [True, False, False]])
    perm = torch.tensor([4, 0, 2])  # query q holds gt slot k where perm[k] = q
    boxes = torch.rand(2, 5, 4, generator=gen) * 0.1 + 0.05
    boxes[:, perm] = gt
    obj = torch.full((2, 5), -4.0)
    obj[:, perm] = 4.0
    match = torch.full((2, 5), -4.0)
    for b in range(2):
        for k in range(3):
            if referred[b, k]:
                match[b, perm[k]] = 4.0
    idx = hungarian_match(boxes, obj, match, gt, valid, referred)
    assert dict(zip(idx[0][1].tolist(), idx[0][0].tolist(), strict=True)) == {0: 4, 1: 0, 2: 2}
    assert dict(zip(idx[1][1].tolist(), idx[1][0].tolist(), strict=True)) == {0: 4, 1: 0}
    good, parts = set_loss(_output(boxes, obj, match), gt, valid, referred)
    assert parts["l1"] == pytest.approx(0.0, abs=1e-6) and parts["giou"] == pytest.approx(0.0, abs=1e-5)
    # the same boxes with the phrase scores on the wrong objects cost more
    bad, _ = set_loss(_output(boxes, obj, match.flip(1)), gt, valid, referred)
    assert bad > good + 1.0


def test_same_seed_same_weights_and_a_loadable_checkpoint(tmp_path):
    cfg = GroundPretrainConfig(steps=3, batch_size=4, warmup_steps=1, eval_stills=0, init=None, seed=5)
    a, _ = pretrain_ground(cfg, model_config=TinyGroundConfig(**{**TINY.to_dict(), "clip": dict(TINY_CLIP)}),
                           progress=False)
    b, _ = pretrain_ground(cfg, model_config=TinyGroundConfig(**{**TINY.to_dict(), "clip": dict(TINY_CLIP)}),
                           progress=False)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    save_tinyground(a, tmp_path / "ck", {"steps": 3})
    back = load_tinyground(tmp_path / "ck")
    assert back.config.num_queries == 6
    det = load_grounder("tinyground", tmp_path / "ck").detect(np.zeros((2, 64, 64, 3), np.uint8),
                                                              ["circle", "the red square on the left"])
    assert det.boxes.shape == (2, 2, 6, 4) and det.scores.shape == (2, 2, 6) and det.embeddings.shape == (2, 2, 6, 32)
    assert float(det.boxes.min()) >= 0 and float(det.boxes.max()) <= 64
    assert torch.allclose(det.embeddings.norm(dim=-1), torch.ones(2, 2, 6), atol=1e-4)


def test_unknown_config_keys_are_refused(tmp_path):
    from i2vbench.errors import BenchError

    save_tinyground(load_tinyground(TINYGROUND_DIR), tmp_path / "ck")
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    (tmp_path / "ck" / "config.json").write_text(json.dumps({**cfg, "depth_typo": 3}))
    with pytest.raises(BenchError, match="depth_typo"):
        load_tinyground(tmp_path / "ck")


def test_shipped_checkpoint_beats_a_trivial_box_prior_on_fresh_stills():
    """Stills from a seed the pretraining never drew; the prior: the mean training box for every
    phrase (the recipe's own held-out numbers: 49.5 % vs 2.4 % referring, 11.7 % vs 0.07 % AP)."""
    model = load_tinyground(TINYGROUND_DIR)
    ev = GroundEvalSet.build(120, seed=20261201)
    from i2vbench.datasets.synthvid.grounding import grounding_stills

    got = evaluate(model, ev)
    prior = prior_metrics(ev, grounding_stills(500, seed=777))
    assert got["referring_acc"] > prior["prior_referring_acc"] + 0.25, (got, prior)
    assert got["box_ap50"] > prior["prior_box_ap50"] + 0.05, (got, prior)
    shipped = json.loads((TINYGROUND_DIR / "metrics.json").read_text())
    assert shipped["command"].startswith("bench pretrain --backbone tinyground")


def test_owlvit_from_a_save_pretrained_folder(tmp_path):
    """A tiny random OWL-ViT written with save_pretrained, read back offline through the same interface."""
    from transformers import (
        CLIPTokenizer,
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
        OwlViTProcessor,
    )

    d = Path(tmp_path) / "owl"
    d.mkdir()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for w in ("a", "red", "circle", "square", "the"):
        vocab[w + "</w>"] = len(vocab)
    for ch in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    processor = OwlViTProcessor(image_processor=OwlViTImageProcessor(size={"height": 32, "width": 32},
                                                                    crop_size={"height": 32, "width": 32}),
                                tokenizer=CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt")))
    processor.save_pretrained(d)
    cfg = OwlViTConfig(text_config=dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1),
                       vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                          num_attention_heads=2, image_size=32, patch_size=8), projection_dim=16)
    torch.manual_seed(0)
    OwlViTForObjectDetection(cfg).save_pretrained(d)
    det = load_grounder(f"owlvit:{d}").detect(np.zeros((3, 48, 64, 3), np.uint8), ["a red circle", "the square"])
    assert det.boxes.shape == (3, 2, 16, 4) and det.scores.shape == (3, 2, 16)
    assert det.embeddings.shape == (3, 2, 16, 16) and det.phrase_embeddings.shape == (2, 16)
    assert float(det.boxes[..., 2].max()) <= 64 and float(det.boxes[..., 3].max()) <= 48
    boxes, scores = det.top()
    assert boxes.shape == (3, 2, 4) and scores.shape == (3, 2)
