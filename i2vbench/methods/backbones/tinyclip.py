"""The embedded ILFM: a ~1.3 M-parameter CLIP-style model for 64×64 SynthVid frames.

It plays the role CLIP plays in the survey: an image-language model pretrained on *images*
(here: single SynthVid frames with frame-level captions, see :mod:`.pretrain`) that the
paradigms then transfer to video. It is small enough to pretrain in ~20 minutes and to
fine-tune end to end on two CPU cores.

Attention is written out as matmul-softmax rather than ``scaled_dot_product_attention``: under
bf16 autocast on CPU that was faster at these sizes (DESIGN.md, measured notes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from i2vbench.datasets.synthvid.text import tokenize
from i2vbench.methods.backbones.base import ILFM, BlockParts, TextOutput, VisualOutput, unwrap_block

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPECIALS = (PAD, UNK, EOS)


def default_vocabulary() -> list[str]:
    """SynthVid's caption words; imported lazily so the model module stays usable on its own."""
    from i2vbench.datasets.synthvid import VOCABULARY

    return sorted(set(VOCABULARY))


@dataclass
class TinyCLIPConfig:
    """Everything needed to rebuild the model; saved as ``config.json`` beside the weights."""

    image_size: int = 64
    patch_size: int = 8
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    embed_dim: int = 128
    text_width: int = 128
    text_depth: int = 2
    text_heads: int = 4
    context_length: int = 24
    vocabulary: list[str] = field(default_factory=list)  # words only; specials are prepended
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    init_logit_scale: float = math.log(1 / 0.07)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TinyCLIPConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if k in known:
                known[k] = tuple(float(x) for x in known[k])
        return cls(**known)


class WordTokenizer:
    """Word-level tokenizer: ``<pad>``=0, ``<unk>``=1, ``<eos>``=2, then the words.

    Every sentence ends with ``<eos>``; sentences longer than the context are cut so that the
    ``<eos>`` survives (the last real word is dropped, never the terminator).
    """

    def __init__(self, vocabulary: list[str], context_length: int) -> None:
        words = [w for w in vocabulary if w not in SPECIALS]
        self.itos = [*SPECIALS, *words]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.context_length = context_length

    def __len__(self) -> int:
        return len(self.itos)

    def words(self, text: str) -> list[str]:
        """SynthVid's shared tokenisation rule: lower-cased words and ``. , ?`` marks."""
        return tokenize(text)

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(ids, mask)``, both ``(B, context_length)``; mask is True at real tokens."""
        L = self.context_length
        unk, eos = self.stoi[UNK], self.stoi[EOS]
        ids = torch.zeros(len(texts), L, dtype=torch.long)
        for i, t in enumerate(texts):
            row = [self.stoi.get(w, unk) for w in self.words(t)][: L - 1] + [eos]
            ids[i, : len(row)] = torch.tensor(row)
        return ids, ids != self.stoi[PAD]


def init_weights(m: nn.Module) -> None:
    """CLIP's and GPT-2's init (``module.apply(init_weights)``): N(0, 0.02) linear and embedding
    weights, zero biases; the embedded transformers (tinyclip, tinylm, tinyground's new layers)
    all start from it."""
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor | None = None) -> torch.Tensor:
        B, N, W = x.shape
        h = self.heads
        q, k, v = self.qkv(x).view(B, N, 3, h, W // h).permute(2, 0, 3, 1, 4)  # each (B, h, N, d)
        att = (q @ k.transpose(-2, -1)) * (W // h) ** -0.5
        if key_bias is not None:  # (B, 1, 1, N): 0 at real keys, -inf-like at padding
            att = att + key_bias.to(att.dtype)
        att = att.softmax(dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(B, N, W))


class Block(nn.Module):
    """Pre-LN transformer block, ``(B, N, W) -> (B, N, W)``."""

    def __init__(self, width: int, heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width * mlp_ratio), nn.GELU(),
                                 nn.Linear(width * mlp_ratio, width))

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), key_bias)
        return x + self.mlp(self.ln_2(x))


class TinyCLIP(ILFM):
    """ViT-8/64 image tower + word-level text tower with masked (bidirectional) attention and
    mean pooling over real tokens, projected into a shared space with a learnable temperature."""

    def __init__(self, config: TinyCLIPConfig) -> None:
        super().__init__()
        if not config.vocabulary:
            config.vocabulary = default_vocabulary()
        c = self.config = config
        if c.image_size % c.patch_size:
            raise ValueError(f"image_size {c.image_size} is not a multiple of patch_size {c.patch_size}")
        self.embed_dim, self.width, self.image_size = c.embed_dim, c.width, c.image_size
        self.mean, self.std = tuple(c.mean), tuple(c.std)
        n_patches = (c.image_size // c.patch_size) ** 2
        # vision tower
        self.patch_embed = nn.Conv2d(3, c.width, kernel_size=c.patch_size, stride=c.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(c.width) * c.width**-0.5)
        self.visual_pos = nn.Parameter(torch.randn(1 + n_patches, c.width) * 0.02)
        self.ln_pre = nn.LayerNorm(c.width)
        self._visual_blocks = nn.ModuleList(Block(c.width, c.heads, c.mlp_ratio) for _ in range(c.depth))
        self.ln_post = nn.LayerNorm(c.width)
        self.visual_proj = nn.Linear(c.width, c.embed_dim, bias=False)
        # text tower
        self.tokenizer = WordTokenizer(c.vocabulary, c.context_length)
        self.token_embedding = nn.Embedding(len(self.tokenizer), c.text_width)
        self.text_pos = nn.Parameter(torch.randn(c.context_length, c.text_width) * 0.01)
        self.text_blocks = nn.ModuleList(Block(c.text_width, c.text_heads, c.mlp_ratio)
                                         for _ in range(c.text_depth))
        self.ln_final = nn.LayerNorm(c.text_width)
        self.text_proj = nn.Linear(c.text_width, c.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(c.init_logit_scale)))
        self.apply(init_weights)

    @property
    def visual_blocks(self) -> nn.ModuleList:
        return self._visual_blocks

    @property
    def text_blocks(self) -> nn.ModuleList:  # registered as a submodule named text_blocks (checkpoint keys)
        return self._modules["text_blocks"]

    def block_parts(self, i: int) -> BlockParts:
        blk = unwrap_block(self._visual_blocks[i], Block)
        return BlockParts(ln1=blk.ln_1, attn=blk.attn, ln2=blk.ln_2, mlp=blk.mlp)

    def encode_frames(self, frames: torch.Tensor, output_hidden_states: bool = False) -> VisualOutput:
        x = self.patch_embed(frames).flatten(2).transpose(1, 2)  # (B, N, W)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.visual_pos.to(x.dtype))
        hidden: list[torch.Tensor] | None = [] if output_hidden_states else None
        for blk in self._visual_blocks:
            x = blk(x)
            if hidden is not None:
                hidden.append(x)
        pooled = self.visual_proj(self.ln_post(x[:, 0]))
        return VisualOutput(pooled=pooled, tokens=x, hidden_states=hidden)

    def encode_text(self, texts: list[str]) -> TextOutput:
        ids, mask = self.tokenizer(texts)
        dev = self.token_embedding.weight.device
        ids, mask = ids.to(dev), mask.to(dev)
        words = self.token_embedding(ids)
        x = words + self.text_pos
        bias = torch.zeros(mask.shape, device=dev).masked_fill_(~mask, -1e4)[:, None, None, :]
        for blk in self.text_blocks:
            x = blk(x, bias)
        x = self.ln_final(x)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = self.text_proj((x * m).sum(1) / m.sum(1).clamp_min(1.0))
        return TextOutput(pooled=pooled, tokens=x, mask=mask, embeddings=words)

    def forward(self, frames: torch.Tensor, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Image→text logits and text→image logits for contrastive training."""
        img = nn.functional.normalize(self.encode_frames(frames).pooled.float(), dim=-1)
        txt = nn.functional.normalize(self.encode_text(texts).pooled.float(), dim=-1)
        logits = self.logit_scale.exp().clamp(max=100.0) * img @ txt.t()
        return logits, logits.t()
