"""``hf:<dir>``: a Hugging Face ``CLIPModel`` or ``SiglipModel`` saved on disk, as an :class:`ILFM`.

Loaded with ``local_files_only=True`` (never from the hub). The vision encoder's layers are
wrapped so that each entry of :attr:`visual_blocks` maps tokens to tokens, as paradigms expect.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.base import ILFM, BlockParts, TextOutput, VisualOutput, unwrap_block
from i2vbench.methods.backbones.openclip import offline

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
# What a saved tokenizer leaves in the folder (fast: tokenizer.json; CLIP's slow BPE: vocab.json +
# merges.txt; WordPiece: vocab.txt; SentencePiece, SigLIP's: spiece.model / tokenizer.model).
# Without any of them transformers still builds a CLIPTokenizer, of two tokens, that maps every
# word to the same id: the model then runs, and every text score is silently wrong.
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.model")
PROBE = "a photo of a red dog"


class TokensToTokens(nn.Module):
    """An HF encoder layer seen as ``(B, N, W) -> (B, N, W)`` (vision layers need no mask)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer(x, None)
        return out[0] if isinstance(out, tuple) else out


class HFBackbone(ILFM):
    """CLIP (class-token pooling + projection) or SigLIP (attention-pooling head, no class token)."""

    def __init__(self, model: nn.Module, tokenizer, path: Path, image_mean=None, image_std=None) -> None:
        super().__init__()
        self.model, self.tokenizer, self.path = model, tokenizer, path
        self.kind = "siglip" if model.config.model_type == "siglip" else "clip"
        vc, tc = model.config.vision_config, model.config.text_config
        self.width = int(vc.hidden_size)
        self.image_size = int(vc.image_size)
        self.embed_dim = int(model.config.projection_dim) if self.kind == "clip" else int(vc.hidden_size)
        self.num_prefix_tokens = 1 if self.kind == "clip" else 0
        default_mean, default_std = (CLIP_MEAN, CLIP_STD) if self.kind == "clip" else ((0.5,) * 3, (0.5,) * 3)
        self.mean = tuple(image_mean or default_mean)
        self.std = tuple(image_std or default_std)
        self._blocks = nn.ModuleList(TokensToTokens(layer) for layer in model.vision_model.encoder.layers)
        self.context_length = int(tc.max_position_embeddings)

    @property
    def visual_blocks(self) -> nn.ModuleList:
        return self._blocks

    @property
    def text_blocks(self) -> nn.ModuleList:
        return self.model.text_model.encoder.layers

    def block_parts(self, i: int) -> BlockParts:
        layer = unwrap_block(self._blocks[i], TokensToTokens).layer  # CLIPEncoderLayer / SiglipEncoderLayer
        return BlockParts(ln1=layer.layer_norm1, attn=lambda h: layer.self_attn(h)[0], ln2=layer.layer_norm2,
                          mlp=layer.mlp)

    def encode_frames(self, frames: torch.Tensor, output_hidden_states: bool = False) -> VisualOutput:
        vm = self.model.vision_model
        x = vm.embeddings(frames)
        if self.kind == "clip":
            x = vm.pre_layrnorm(x)
        hidden: list[torch.Tensor] | None = [] if output_hidden_states else None
        for blk in self._blocks:
            x = blk(x)
            if hidden is not None:
                hidden.append(x)
        if self.kind == "clip":
            pooled = self.model.visual_projection(vm.post_layernorm(x[:, 0]))
        elif getattr(vm, "use_head", False):
            pooled = vm.head(vm.post_layernorm(x))
        else:
            pooled = vm.post_layernorm(x).mean(1)
        return VisualOutput(pooled=pooled, tokens=x, hidden_states=hidden)

    def encode_text(self, texts: list[str]) -> TextOutput:
        dev = next(self.model.parameters()).device
        if self.kind == "siglip":  # SigLIP is trained on max-length padding and pools the last token
            enc = self.tokenizer(list(texts), padding="max_length", truncation=True,
                                 max_length=self.context_length, return_tensors="pt")
            ids = enc["input_ids"].to(dev)
            out = self.model.text_model(input_ids=ids)
            pad = self.tokenizer.pad_token_id
            mask = ids != pad if pad is not None else torch.ones_like(ids, dtype=torch.bool)
            return TextOutput(pooled=out.pooler_output, tokens=out.last_hidden_state, mask=mask,
                              embeddings=self._words(ids))
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.context_length,
                             return_tensors="pt")
        ids, am = enc["input_ids"].to(dev), enc["attention_mask"].to(dev)
        out = self.model.text_model(input_ids=ids, attention_mask=am)
        return TextOutput(pooled=self.model.text_projection(out.pooler_output), tokens=out.last_hidden_state,
                          mask=am.bool(), embeddings=self._words(ids))

    def _words(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.text_model.embeddings.token_embedding(ids)


def check_tokenizer(tokenizer, vocab_size: int, d: Path) -> None:  # noqa: ANN001 (a transformers tokenizer)
    """Refuse a tokenizer that cannot be the text model's: more ids than the model has embeddings
    for, or one id for every word of a plain English sentence (a degenerate vocabulary)."""
    n = len(tokenizer)
    if n > vocab_size:
        raise BenchError(f"hf:{d}: the tokenizer has {n} tokens but the text model's vocab_size is {vocab_size}: "
                         "ids past it have no embedding (the tokenizer files of another model?)")
    ids = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    if len(set(ids)) < 2:
        raise BenchError(f"hf:{d}: the tokenizer maps every word of {PROBE!r} to the same id {ids[:1]} (a vocabulary "
                         f"of {n} tokens for a text model of {vocab_size}): degenerate tokenizer files")


def load_hf(arg: str | None, pretrained: str | None, device: str = "cpu") -> HFBackbone:
    """``hf:<dir>`` (or ``hf`` with ``--pretrained <dir>``): a saved CLIPModel / SiglipModel."""
    d = Path(pretrained or arg or "")
    if not (arg or pretrained):
        raise BenchError("backbone 'hf' needs a model directory: hf:<dir> (saved with save_pretrained)")
    if not (d / "config.json").is_file():
        raise BenchError(f"hf model directory {d} has no config.json (expected a save_pretrained folder)")
    try:
        model_type = json.loads((d / "config.json").read_text(encoding="utf-8")).get("model_type")
    except json.JSONDecodeError as e:
        raise BenchError(f"{d / 'config.json'}:{e.lineno}: malformed JSON ({e.msg})") from None
    from transformers import AutoTokenizer, CLIPModel, SiglipModel

    classes = {"clip": CLIPModel, "siglip": SiglipModel}
    if model_type not in classes:
        raise BenchError(f"{d / 'config.json'} [model_type]: {model_type!r}; expected one of {sorted(classes)}")
    if not any((d / f).is_file() for f in TOKENIZER_FILES):
        raise BenchError(f"hf:{d}: no tokenizer files (none of {', '.join(TOKENIZER_FILES)}): save the tokenizer "
                         "into the folder too (processor.save_pretrained(dir) or tokenizer.save_pretrained(dir)); "
                         "without them transformers builds a tokenizer that maps every word to one id")
    with offline():
        try:
            # safetensors only: a pickled pytorch_model.bin can run code when it is loaded
            model = classes[model_type].from_pretrained(str(d), local_files_only=True, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
        except (OSError, ValueError) as e:
            hint = ("; only safetensors weights are loaded (convert pytorch_model.bin with save_pretrained("
                    "..., safe_serialization=True))" if not any(d.glob("*.safetensors")) else "")
            raise BenchError(f"hf:{d}: could not load model/tokenizer ({e}){hint}") from None
    check_tokenizer(tokenizer, int(model.config.text_config.vocab_size), d)
    mean = std = None
    pp = d / "preprocessor_config.json"
    if pp.is_file():
        cfg = json.loads(pp.read_text(encoding="utf-8"))
        mean, std = cfg.get("image_mean"), cfg.get("image_std")
    return HFBackbone(model.to(device).eval(), tokenizer, d, mean, std)
