"""``open_clip:<arch>``: an open_clip model seen through the :class:`ILFM` interface.

Weights come only from a local file (``--pretrained PATH``, safetensors or a ``weights_only``
torch checkpoint, loaded by open_clip itself); no pretrained *tag* is ever passed, so nothing
downloads. Without a path the model is randomly initialised, with a warning.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from i2vbench.errors import BenchError
from i2vbench.methods.backbones.base import ILFM, BlockParts, TextOutput, VisualOutput, unwrap_block


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """Make any Hugging Face hub access inside the block fail instead of downloading."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class OpenCLIPBackbone(ILFM):
    """Wraps an open_clip ``CLIP``/``CustomTextCLIP`` with a standard ViT image tower."""

    def __init__(self, model: nn.Module, tokenizer, arch: str) -> None:
        super().__init__()
        visual = getattr(model, "visual", None)
        if visual is None or not hasattr(visual, "transformer") or not hasattr(visual, "_embeds"):
            raise BenchError(f"open_clip:{arch}: only ViT image towers are supported "
                             "(this model's visual tower has no transformer blocks)")
        if not getattr(visual.transformer, "batch_first", True):
            raise BenchError(f"open_clip:{arch}: expected a batch-first transformer")
        self.model, self.tokenizer, self.arch = model, tokenizer, arch
        self.width = int(visual.transformer.width)
        self.embed_dim = int(visual.output_dim)
        size = visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        pp = getattr(visual, "preprocess_cfg", None) or {}
        self.mean = tuple(pp.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        self.std = tuple(pp.get("std", (0.26862954, 0.26130258, 0.27577711)))
        text = getattr(model, "text", model)  # CustomTextCLIP keeps the tower in .text
        self._ln_final = getattr(text, "ln_final", None)
        self.pad_id = int(getattr(tokenizer, "pad_token_id", None) or 0)

    @property
    def visual_blocks(self) -> nn.ModuleList:
        return self.model.visual.transformer.resblocks

    @property
    def text_blocks(self) -> nn.ModuleList:
        text = getattr(self.model, "text", self.model)  # CustomTextCLIP keeps the tower in .text
        return text.transformer.resblocks

    def block_parts(self, i: int) -> BlockParts:
        from open_clip.transformer import ResidualAttentionBlock

        blk = unwrap_block(self.visual_blocks[i], ResidualAttentionBlock)
        if not isinstance(blk, ResidualAttentionBlock) or hasattr(blk, "ln_1_kv"):
            raise BenchError(f"open_clip:{self.arch}: block {i} is a {type(blk).__name__}, not a plain "
                             "ResidualAttentionBlock; its parts are not exposed")
        return BlockParts(ln1=blk.ln_1, attn=lambda h: blk.ls_1(blk.attention(h)), ln2=blk.ln_2,
                          mlp=lambda h: blk.ls_2(blk.mlp(h)))

    def encode_frames(self, frames: torch.Tensor, output_hidden_states: bool = False) -> VisualOutput:
        v = self.model.visual
        x = v._embeds(frames)
        hidden: list[torch.Tensor] | None = [] if output_hidden_states else None
        for blk in self.visual_blocks:
            x = blk(x)
            if hidden is not None:
                hidden.append(x)
        pooled, _ = v._pool(x)
        if v.proj is not None:
            pooled = pooled @ v.proj
        return VisualOutput(pooled=pooled, tokens=x, hidden_states=hidden)

    def encode_text(self, texts: list[str]) -> TextOutput:
        dev = next(self.model.parameters()).device
        ids = self.tokenizer(texts).to(dev)
        captured: list[torch.Tensor] = []
        hook = None
        if self._ln_final is not None:  # the word tokens are ln_final's output, before pooling
            hook = self._ln_final.register_forward_hook(lambda m, i, o: captured.append(o))
        try:
            pooled = self.model.encode_text(ids)
        finally:
            if hook is not None:
                hook.remove()
        tokens = next((t for t in captured if t.ndim == 3), None)
        if tokens is None:
            raise BenchError(f"open_clip:{self.arch}: this text tower does not expose word tokens")
        table = getattr(self.model, "token_embedding", None)
        words = table(ids) if table is not None else None
        return TextOutput(pooled=pooled, tokens=tokens[:, : ids.shape[1]], mask=ids != self.pad_id, embeddings=words)


def load_open_clip(arch: str | None, pretrained: str | None, device: str = "cpu") -> OpenCLIPBackbone:
    """Build ``arch`` from open_clip's model configs; weights only from a local file."""
    import open_clip

    if not arch:
        raise BenchError("backbone 'open_clip' needs an architecture, e.g. open_clip:ViT-B-32 "
                         f"(known: {', '.join(open_clip.list_models()[:8])}, ...)")
    if arch.startswith(("hf-hub:", "local-dir:")) or arch not in open_clip.list_models():
        raise BenchError(f"unknown open_clip architecture {arch!r}; see open_clip.list_models() "
                         "(weights are given separately with --pretrained PATH)")
    if pretrained is not None:
        p = Path(pretrained)
        if not p.is_file():
            raise BenchError(f"open_clip weights not found: {p} (expected a local .safetensors/.pt/.bin "
                             "file; pretrained tags such as 'openai' would download and are not accepted)")
    else:
        warnings.warn(f"open_clip:{arch} without --pretrained: random init", stacklevel=3)
    with offline():
        try:
            model = open_clip.create_model(arch, pretrained=str(pretrained) if pretrained else None,
                                           device=device, pretrained_image=False, pretrained_text=False,
                                           weights_only=True)
        except (RuntimeError, KeyError, ValueError) as e:
            raise BenchError(f"open_clip:{arch}: could not load weights {pretrained}: {e}") from None
        tokenizer = open_clip.get_tokenizer(arch)
    return OpenCLIPBackbone(model, tokenizer, arch)
