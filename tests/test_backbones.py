"""ILFM backbones: the embedded tinyclip (architecture, tokenizer, checkpoint, the shipped weights'
zero-shot accuracy) and the open_clip / Hugging Face wrappers on tiny random configs (no downloads)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from i2vbench.errors import BenchError
from i2vbench.methods.backbones import BACKBONES, TINYCLIP_DIR, backbone_id, load_backbone
from i2vbench.methods.backbones.checkpoint import load_tinyclip, read_metrics, save_tinyclip
from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig, WordTokenizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny() -> TinyCLIP:
    torch.manual_seed(0)
    return TinyCLIP(TinyCLIPConfig()).eval()


def check_ilfm(model, image_size: int, n_blocks: int, n_tokens: int) -> None:
    """The interface contract every backbone must keep (what paradigms rely on)."""
    frames = torch.randint(0, 256, (3, 40, 48, 3), dtype=torch.uint8)  # any size: preprocess resizes
    x = model.preprocess(frames)
    assert x.shape == (3, 3, image_size, image_size) and x.dtype == torch.float32
    with torch.no_grad():
        out = model.encode_frames(x, output_hidden_states=True)
        assert out.pooled.shape == (3, model.embed_dim)
        assert out.tokens.shape == (3, n_tokens, model.width)
        assert len(out.hidden_states) == len(model.visual_blocks) == n_blocks
        assert torch.equal(out.hidden_states[-1], out.tokens)
        # each block maps tokens to tokens, and chaining them reproduces the hidden states
        h = out.hidden_states[0]
        for i, blk in enumerate(list(model.visual_blocks)[1:], start=1):
            h = blk(h)
            torch.testing.assert_close(h, out.hidden_states[i], rtol=1e-5, atol=1e-5)
        assert model.encode_frames(x).hidden_states is None
        t = model.encode_text(["a red circle", "a small blue square moves to the left ."])
    assert t.pooled.shape == (2, model.embed_dim)
    assert t.tokens.shape[:2] == t.mask.shape and t.mask.dtype == torch.bool
    assert t.mask[1].sum() > t.mask[0].sum()
    # input word embeddings: one per token, the same vector wherever the same word appears
    assert t.embeddings is not None and t.embeddings.shape[:2] == t.tokens.shape[:2]
    reds = model.encode_text(["red red red red"])
    e = reds.embeddings[0][reds.mask[0]]
    same = (torch.cdist(e, e) == 0).sum(1)  # a position-free table lookup: the four reds are equal
    assert int(same.max()) >= 4
    # wrapping a block (what adapters do) changes the output through encode_frames
    blocks = model.visual_blocks
    orig = blocks[0]

    class Doubler(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, z):
            return 2 * self.inner(z)

    blocks[0] = Doubler(orig)
    try:
        with torch.no_grad():
            changed = model.encode_frames(x).pooled
        assert not torch.allclose(changed, out.pooled)
    finally:
        blocks[0] = orig
    model.freeze()
    assert not any(p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------------------- tinyclip

def test_tinyclip_architecture(tiny):
    n_params = sum(p.numel() for p in tiny.parameters())
    assert 1.2e6 < n_params < 1.35e6, n_params  # DESIGN: ~1.26 M
    assert len(tiny.visual_blocks) == 4 and tiny.width == 128 and tiny.image_size == 64
    try:
        check_ilfm(tiny, 64, 4, n_tokens=1 + 64)
    finally:
        for p in tiny.parameters():
            p.requires_grad_(True)


def test_tokenizer_rules():
    tok = WordTokenizer(["a", "red", "circle", "."], context_length=5)
    ids, mask = tok(["A Red circle.", "a purple circle", "a a a a a a a"])
    stoi = tok.stoi
    assert tok.itos[:3] == ["<pad>", "<unk>", "<eos>"]
    assert ids[0].tolist() == [stoi["a"], stoi["red"], stoi["circle"], stoi["."], stoi["<eos>"]]
    assert ids[1].tolist() == [stoi["a"], stoi["<unk>"], stoi["circle"], stoi["<eos>"], 0]
    assert ids[2].tolist()[-1] == stoi["<eos>"]  # truncation keeps the terminator
    assert mask.tolist()[1] == [True, True, True, True, False]


def test_text_padding_does_not_leak(tiny):
    """A sentence encodes the same alone and next to a longer one (padding is masked out)."""
    with torch.no_grad():
        alone = tiny.encode_text(["a red circle"]).pooled
        batched = tiny.encode_text(["a red circle", "a large green star at the top right and a ring"]).pooled[:1]
    torch.testing.assert_close(alone, batched, rtol=1e-5, atol=1e-5)


def test_checkpoint_roundtrip_and_id(tiny, tmp_path):
    save_tinyclip(tiny, tmp_path / "a", {"note": 1}, dtype=torch.float32)
    back = load_tinyclip(tmp_path / "a")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back.encode_frames(x).pooled, tiny.encode_frames(x).pooled)
    assert read_metrics(tmp_path / "a") == {"note": 1}
    m = load_backbone("tinyclip", str(tmp_path / "a"))
    assert m.backbone_id == backbone_id("tinyclip", str(tmp_path / "a"))
    assert re.fullmatch(r"tinyclip-[0-9a-f]{12}", m.backbone_id)
    # other weights -> other id; same bytes -> same id
    save_tinyclip(tiny, tmp_path / "b", dtype=torch.float16)
    assert backbone_id("tinyclip", str(tmp_path / "b")) != m.backbone_id
    assert backbone_id("tinyclip", str(tmp_path / "a" / "model.safetensors")) == m.backbone_id


def test_bad_checkpoints_are_user_errors(tiny, tmp_path):
    save_tinyclip(tiny, tmp_path / "c")
    (tmp_path / "c" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BenchError, match="safetensors"):
        load_tinyclip(tmp_path / "c")
    save_tinyclip(tiny, tmp_path / "d")
    cfg = json.loads((tmp_path / "d" / "config.json").read_text())
    cfg["width"] = 64
    (tmp_path / "d" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BenchError, match="shape"):
        load_tinyclip(tmp_path / "d")
    with pytest.raises(BenchError, match="not found"):
        load_tinyclip(tmp_path / "missing")
    with pytest.raises(BenchError, match="unknown backbone 'clipx'"):
        load_backbone("clipx")
    with pytest.raises(BenchError, match="takes no argument"):
        load_backbone("tinyclip:big")


def test_registry_lists_all_spec_forms(bench):
    assert {"tinyclip", "open_clip", "hf"} <= set(BACKBONES.names())
    code, out, _ = bench("list", "backbones", "--json")
    assert code == 0 and {r["backbone"] for r in json.loads(out)} >= {"tinyclip", "open_clip", "hf"}


# ------------------------------------------------------------------------- the shipped checkpoint

def test_shipped_checkpoint_zero_shot():
    """The shipped weights reach >= 90 % shape and >= 98 % colour zero-shot accuracy on fresh
    held-out single-object SynthVid frames (a seed no training or pretrain-eval stream uses)."""
    from i2vbench.datasets.synthvid import frame_caption_set, zero_shot_prompts
    from i2vbench.methods.backbones.pretrain import zero_shot_accuracy

    assert (TINYCLIP_DIR / "model.safetensors").is_file(), "shipped tinyclip checkpoint missing"
    assert (TINYCLIP_DIR / "model.safetensors").stat().st_size < 4_000_000
    model = load_backbone("tinyclip")
    data = frame_caption_set(400, seed=987_654_321, image_size=64, single_object=True)
    shape = zero_shot_accuracy(model, data.images, data.shape, zero_shot_prompts("shape"))
    color = zero_shot_accuracy(model, data.images, data.color, zero_shot_prompts("color"))
    assert shape >= 0.90, shape
    assert color >= 0.98, color
    metrics = read_metrics(TINYCLIP_DIR)
    assert metrics["command"].startswith("bench pretrain --backbone tinyclip")
    assert metrics["zero_shot_shape_acc"] >= 0.90 and metrics["zero_shot_color_acc"] >= 0.98


def test_shipped_checkpoint_is_the_documented_recipe():
    """metrics.json of the shipped tinyclip records its start (the shipped tinyclip-v1, by hash)
    (that it is the recipe `bench pretrain` remakes: tests/test_pretrainable.py) and every
    metric the README reports: what stills tell of the kind and direction of change, and
    whether the text tower tells the nine event types apart."""
    from i2vbench.methods.backbones import file_sha256
    from i2vbench.paths import ASSETS

    metrics = read_metrics(TINYCLIP_DIR)
    assert metrics["init"]["sha256"] == file_sha256(ASSETS / "tinyclip-v1" / "model.safetensors")
    assert metrics["zero_shot_kind_balanced_acc"] > 0.4  # 5-way, chance 0.2
    assert 0.0 <= metrics["zero_shot_direction_acc"] <= 1.0  # chance 0.5: reported, not required
    assert metrics["text_event_prototype_acc"] > 0.25  # 9-way, chance 1/9


# ---------------------------------------------------------------------------- open_clip wrapper

TINY_OPEN_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def open_clip_arch(tmp_path_factory) -> str:
    import open_clip

    d = tmp_path_factory.mktemp("oc")
    (d / "i2vbench-test-tiny.json").write_text(json.dumps(TINY_OPEN_CLIP))
    if "i2vbench-test-tiny" not in open_clip.list_models():
        open_clip.add_model_config(d)
    return "i2vbench-test-tiny"


def test_open_clip_wrapper_matches_open_clip(open_clip_arch, tmp_path):
    from safetensors.torch import save_file

    with pytest.warns(UserWarning, match="random init"):
        torch.manual_seed(0)
        m = load_backbone(f"open_clip:{open_clip_arch}")
    assert m.backbone_id.endswith("-random") and m.image_size == 32 and m.width == 64
    x = m.preprocess(torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8))
    with torch.no_grad():
        ours = m.encode_frames(x).pooled
        ref = m.model.encode_image(x)  # open_clip's own forward
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
        t = m.encode_text(["a red circle", "a blue square"])
        ids = m.tokenizer(["a red circle", "a blue square"])
        torch.testing.assert_close(t.pooled, m.model.encode_text(ids), rtol=0, atol=1e-6)
        assert t.mask[0].sum() == 5  # <start> a red circle <end>
    check_ilfm(m, 32, 2, n_tokens=1 + 16)
    # weights from a local safetensors file load into a fresh model, output for output
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in m.model.state_dict().items()}, str(path))
    m2 = load_backbone(f"open_clip:{open_clip_arch}", str(path))
    with torch.no_grad():
        assert torch.equal(m2.encode_frames(x).pooled, ours)
    assert m2.backbone_id != m.backbone_id
    with pytest.raises(BenchError, match="not found"):
        load_backbone(f"open_clip:{open_clip_arch}", "openai")  # a tag, not a file: refused
    with pytest.raises(BenchError, match="unknown open_clip architecture"):
        load_backbone("open_clip:hf-hub:timm/ViT-B-16")


# ---------------------------------------------------------------------------------- HF wrappers

WORDS = ["a", "red", "blue", "circle", "square", "small", "moves", "to", "the", "left", "."]


def _hf_tokenizer(d: Path, eos: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<eos>", *WORDS])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    if eos:
        tk.post_processor = processors.TemplateProcessing(single="$A <eos>", special_tokens=[("<eos>", 2)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")
    tok.save_pretrained(str(d))
    return tok


@pytest.fixture(scope="module")
def hf_clip_dir(tmp_path_factory) -> Path:
    from transformers import CLIPConfig, CLIPModel

    d = tmp_path_factory.mktemp("hfclip")
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config={"vocab_size": 14, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 16, "eos_token_id": 2,
                     "pad_token_id": 0, "bos_token_id": 1},
        vision_config={"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=24)
    CLIPModel(cfg).save_pretrained(str(d))
    _hf_tokenizer(d)
    return d


@pytest.fixture(scope="module")
def hf_siglip_dir(tmp_path_factory) -> Path:
    from transformers import SiglipConfig, SiglipModel

    d = tmp_path_factory.mktemp("hfsiglip")
    torch.manual_seed(0)
    cfg = SiglipConfig(
        text_config={"vocab_size": 14, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 12, "projection_size": 32,
                     "pad_token_id": 0, "eos_token_id": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8})
    SiglipModel(cfg).save_pretrained(str(d))
    _hf_tokenizer(d)
    return d


def test_hf_clip_wrapper_matches_transformers(hf_clip_dir):
    m = load_backbone(f"hf:{hf_clip_dir}")
    assert m.num_prefix_tokens == 1 and m.embed_dim == 24 and m.width == 48
    assert re.fullmatch(r"hf_.*-[0-9a-f]{12}", m.backbone_id)
    x = m.preprocess(torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8))
    texts = ["a red circle", "a small blue square moves to the left ."]
    with torch.no_grad():
        ref_img = m.model.get_image_features(pixel_values=x).pooler_output
        torch.testing.assert_close(m.encode_frames(x).pooled, ref_img, rtol=0, atol=1e-6)
        enc = m.tokenizer(texts, padding=True, return_tensors="pt")
        ref_txt = m.model.get_text_features(**enc).pooler_output
        torch.testing.assert_close(m.encode_text(texts).pooled, ref_txt, rtol=0, atol=1e-6)
        hs = m.model.vision_model(pixel_values=x, output_hidden_states=True).hidden_states
        ours = m.encode_frames(x, output_hidden_states=True).hidden_states
        for a, b in zip(ours, hs[1:], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    check_ilfm(m, 32, 3, n_tokens=1 + 16)


def test_hf_siglip_wrapper_matches_transformers(hf_siglip_dir):
    m = load_backbone(f"hf:{hf_siglip_dir}")
    assert m.num_prefix_tokens == 0 and m.mean == (0.5, 0.5, 0.5)
    x = m.preprocess(torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8))
    texts = ["a red circle", "a blue square"]
    with torch.no_grad():
        ref_img = m.model.get_image_features(pixel_values=x).pooler_output
        torch.testing.assert_close(m.encode_frames(x).pooled, ref_img, rtol=0, atol=1e-6)
        enc = m.tokenizer(texts, padding="max_length", max_length=12, return_tensors="pt")
        ref_txt = m.model.get_text_features(input_ids=enc["input_ids"]).pooler_output
        torch.testing.assert_close(m.encode_text(texts).pooled, ref_txt, rtol=0, atol=1e-6)
    check_ilfm(m, 32, 2, n_tokens=16)


def test_hf_errors(tmp_path):
    with pytest.raises(BenchError, match="no config.json"):
        load_backbone(f"hf:{tmp_path}")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(BenchError, match="model_type"):
        load_backbone(f"hf:{tmp_path}")
    with pytest.raises(BenchError, match="needs a model directory"):
        load_backbone("hf")


# ------------------------------------------------------------------------------- safety rules

def test_no_unsafe_deserialisation_in_package():
    """torch.load only with weights_only=True, and no pickle anywhere in the package."""
    offenders = []
    for py in (ROOT / "i2vbench").rglob("*.py"):
        text = py.read_text(encoding="utf-8")
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{py}: {m.group(0)}")
        if re.search(r"^\s*(import pickle|from pickle|import dill|import cloudpickle)", text, re.M):
            offenders.append(f"{py}: imports pickle")
        if re.search(r"allow_pickle\s*=\s*True", text):
            offenders.append(f"{py}: allow_pickle=True")
    assert not offenders, offenders


def test_random_init_warns_when_nothing_shipped(monkeypatch, tmp_path):
    import i2vbench.methods.backbones as bb

    monkeypatch.setattr(bb, "TINYCLIP_DIR", tmp_path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = bb.load_backbone("tinyclip")
    assert any("random init" in str(x.message) for x in w)
    assert isinstance(m, TinyCLIP)


def test_zero_shot_accuracy_is_argmax_over_prompts(tiny):
    """zero_shot_accuracy scores the nearest prompt: with prompts built from the frames' own
    embeddings' nearest text, accuracy equals the hand count."""
    from i2vbench.methods.backbones.pretrain import encode_images, encode_texts, zero_shot_accuracy

    imgs = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    prompts = ["a red circle", "a blue square", "a small circle"]
    sims = encode_images(tiny, imgs) @ encode_texts(tiny, prompts).t()
    pred = sims.argmax(1).numpy()
    labels = pred.copy()
    labels[:2] = (labels[:2] + 1) % 3  # two wrong on purpose
    assert zero_shot_accuracy(tiny, imgs, labels, prompts) == pytest.approx(4 / 6)


def test_hf_refuses_a_folder_without_tokenizer_files(hf_clip_dir, tmp_path):
    """Without tokenizer files transformers builds a 2-token CLIPTokenizer that maps every word to
    one id; the model would run and every text score would be wrong. Refused, saying what to save."""
    import shutil

    d = tmp_path / "no_tokenizer"
    d.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(hf_clip_dir / f, d / f)
    with pytest.raises(BenchError, match=r"no tokenizer files .*tokenizer.save_pretrained"):
        load_backbone(f"hf:{d}")


def test_hf_refuses_a_degenerate_or_oversized_vocabulary(hf_clip_dir, tmp_path):
    import shutil

    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    def folder(vocab: list[str]) -> Path:
        d = tmp_path / f"vocab{len(vocab)}"
        d.mkdir()
        for f in ("config.json", "model.safetensors"):
            shutil.copy(hf_clip_dir / f, d / f)
        tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
        tk.pre_tokenizer = pre_tokenizers.Whitespace()
        PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", unk_token="<unk>").save_pretrained(str(d))
        return d

    with pytest.raises(BenchError, match=r"maps every word of 'a photo of a red dog' to the same id \[1\]"):
        load_backbone(f"hf:{folder(['<pad>', '<unk>'])}")
    with pytest.raises(BenchError, match="the tokenizer has 20 tokens but the text model's vocab_size is 14"):
        load_backbone(f"hf:{folder(['<pad>', '<unk>', *WORDS, *'bcdefgh'])}")


def test_hf_refuses_pickled_weights(hf_clip_dir, tmp_path):
    """Only safetensors are loaded: a folder with pytorch_model.bin alone is refused, with the fix."""
    import shutil

    import torch
    from safetensors.torch import load_file

    d = tmp_path / "pickled"
    shutil.copytree(hf_clip_dir, d)
    st = next(d.glob("*.safetensors"))
    torch.save(load_file(str(st)), d / "pytorch_model.bin")
    st.unlink()
    with pytest.raises(BenchError, match="only safetensors weights are loaded"):
        load_backbone(f"hf:{d}")
