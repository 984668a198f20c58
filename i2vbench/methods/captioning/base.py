"""The captioning method interface: a video's frames in, one sentence out.

Every captioner is a visual path (:meth:`CaptioningMethod.encode`: the batch's videos → a memory
of visual tokens, the part the survey's paradigm decides) followed by the shared
:class:`~i2vbench.methods.captioning.decoder.CaptionDecoder`. An epoch visits every training
video once; each video is encoded once per step and all of its references are decoded against
that memory with teacher forcing (the encoder, the expensive part when the ILFM is tuned, is
paid once for ten sentences). Evaluation decodes one caption per video, greedily or by beam
search (``beam_size``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch import nn

from i2vbench.datasets.features import VideoFeatures, frame_indices
from i2vbench.devices import autocast
from i2vbench.methods.captioning.decoder import CaptionDecoder, Vocabulary
from i2vbench.methods.trainable import TrainableMethod, TrainConfig


@dataclass
class CaptionSplit:
    videos: list[str]  # the split's videos, in order
    features: dict[str, VideoFeatures]  # per video (shared by every split of a run)
    texts: list[str]  # every reference of every video, flattened
    text_video: np.ndarray  # (n_texts,) index into ``videos`` of each reference's video
    num_frames: int  # frames per video a method sees, uniformly spread over the video
    text_pooled: np.ndarray | None = None  # (n_texts, D) the frozen ILFM's embeddings of ``texts`` (train)

    def __len__(self) -> int:
        return len(self.videos)

    @cached_property
    def rows_of(self) -> list[list[int]]:
        """Rows of ``texts`` of each video."""
        out: list[list[int]] = [[] for _ in self.videos]
        for r, v in enumerate(self.text_video):
            out[int(v)].append(r)
        return out

    def references(self) -> dict[str, list[str]]:
        """``{video: [references]}`` in file order."""
        out: dict[str, list[str]] = {v: [] for v in self.videos}
        for text, v in zip(self.texts, self.text_video, strict=True):
            out[self.videos[v]].append(text)
        return out


@dataclass
class CaptionBatch:
    videos: list[str]
    pooled: torch.Tensor  # (B, F, D) frozen pooled frame embeddings
    layers: torch.Tensor | None  # (B, F, K, N, W) the frozen ILFM's last K layers' tokens, when read
    frames: torch.Tensor | None  # (B, F, H, W, 3) uint8, when the method trains through the ILFM
    captions: list[str]  # the references decoded in this step (empty at inference)
    caption_video: torch.Tensor  # (C,) index into the batch's videos of each caption
    text_pooled: torch.Tensor | None  # (C, D) the frozen ILFM's embeddings of ``captions``


def make_batch(split: CaptionSplit, video_idx: np.ndarray, with_captions: bool, with_layers: bool,
               with_frames: bool, refs_per_video: int | None = None) -> CaptionBatch:
    """The videos ``video_idx`` (``num_frames`` each) and, ``with_captions``, their references:
    all of them, or ``refs_per_video`` drawn at random (numpy's global stream, seeded per run)."""
    vids = [split.videos[i] for i in video_idx]
    feats = [split.features[v] for v in vids]
    picks = [frame_indices(len(f.pooled), split.num_frames) for f in feats]

    def stack(get) -> torch.Tensor:  # noqa: ANN001
        return torch.from_numpy(np.stack([get(f)[p] for f, p in zip(feats, picks, strict=True)]))

    pooled = stack(lambda f: f.pooled).float()
    layers = stack(lambda f: f.layers).float() if with_layers else None
    frames = stack(lambda f: f.frames) if with_frames else None
    captions, owner, text_pooled = [], [], None
    if with_captions:
        rows = []
        for i, v in enumerate(video_idx):
            own = split.rows_of[int(v)]
            if refs_per_video is not None and len(own) > refs_per_video:
                own = sorted(np.random.choice(own, refs_per_video, replace=False).tolist())
            rows += own
            owner += [i] * len(own)
        captions = [split.texts[r] for r in rows]
        if split.text_pooled is not None:
            text_pooled = torch.from_numpy(split.text_pooled[rows]).float()
    return CaptionBatch(vids, pooled, layers, frames, captions, torch.tensor(owner, dtype=torch.long), text_pooled)


@dataclass
class DecoderConfig:
    """The shared decoder's size and decoding: every captioner's config carries these fields."""

    dim: int = 128
    dec_layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    max_len: int = 32
    label_smoothing: float = 0.1
    refs_per_video: int | None = 3  # references decoded per video and step (None: all)
    beam_size: int = 3
    length_penalty: float = 0.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, lr=1e-3, batch_size=32))


class Captioner(TrainableMethod):
    """What every trained captioner shares: which inputs its batches carry, and the batches."""

    uses_layers = False  # reads the frozen ILFM's per-layer tokens
    uses_frames = False  # trains through the ILFM on decoded frames

    def batch(self, split: CaptionSplit, idx: np.ndarray) -> CaptionBatch:
        return make_batch(split, idx, True, self.uses_layers, self.uses_frames, self.config.refs_per_video)

    def eval_batch(self, split: CaptionSplit, idx: np.ndarray) -> CaptionBatch:
        """The videos ``idx`` of ``split`` without their captions, for decoding."""
        return make_batch(split, idx, False, self.uses_layers, self.uses_frames)

    def generate(self, b: CaptionBatch) -> list[str]:
        """One caption per video of ``b`` (called under autocast, without gradients)."""
        raise NotImplementedError

    @torch.no_grad()
    def captions(self, split: CaptionSplit, batch_size: int = 64) -> list[str]:
        """One caption per video of ``split``, in order."""
        self.eval()
        out: list[str] = []
        for start in range(0, len(split), batch_size):
            idx = np.arange(start, min(start + batch_size, len(split)))
            with autocast():
                out += self.generate(self.eval_batch(split, idx))
        return out


class CaptioningMethod(Captioner):
    """A captioner with the shared decoder: ``encode`` a batch's videos into a memory; decoding
    and the loss are shared."""

    def __init__(self, vocab: Vocabulary, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.train_config = config.train
        self.vocab = vocab
        self.decoder = CaptionDecoder(len(vocab), config.dim, config.dec_layers, config.heads, config.max_len,
                                      config.dropout)

    def encode(self, b: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(memory (B, M, dim), padding mask (B, M) True at padding, or None)."""
        raise NotImplementedError

    def extra_losses(self, b: CaptionBatch, memory: torch.Tensor) -> dict[str, torch.Tensor]:
        """Terms a method adds to the captioning loss (a regulariser, an alignment loss)."""
        return {}

    def loss(self, b: CaptionBatch) -> dict[str, torch.Tensor]:
        # bf16 autocast: on these CPUs ~1.5-2x faster for small transformers (DESIGN.md, measured notes)
        with autocast():
            memory, pad = self.encode(b)
            ids = self.vocab.encode(b.captions, self.config.max_len)
            own = b.caption_video
            caption = self.decoder.loss(ids, memory[own], None if pad is None else pad[own], self.vocab.pad,
                                        self.config.label_smoothing)
            extra = self.extra_losses(b, memory)
        return {"caption": caption.float(), **{k: v.float() for k, v in extra.items()}}

    def generate(self, b: CaptionBatch) -> list[str]:
        memory, pad = self.encode(b)
        ids = self.decoder.generate(memory, pad, self.vocab.bos, self.vocab.eos, self.config.beam_size,
                                    self.config.length_penalty)
        return [self.vocab.decode(row[1:]) for row in ids.tolist()]


class TemporalEncoder(nn.Module):
    """Visual tokens (B, M, dim) with learned positions through a small pre-LN transformer: the
    temporal part most captioners share (CLIP4Caption's video encoder, MAMS's side module)."""

    def __init__(self, dim: int, layers: int, heads: int, max_tokens: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.randn(max_tokens, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=dropout, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else None
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.pos[: x.shape[1]]
        if self.layers is not None:
            x = self.layers(x, src_key_padding_mask=pad)
        return self.norm(x)


class BiasedBlock(nn.Module):
    """Pre-LN transformer block whose self-attention logits get an additive bias (M, M) or (B, M, M):
    a learned (soft) attention mask (SwinBERT) or a prior toward important tokens (MAMS)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * (w // self.heads) ** -0.5  # (B, H, M, M)
        if bias is not None:
            att = att + (bias if bias.ndim == 2 else bias[:, None]).to(att.dtype)
        x = x + self.drop(self.out((att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, w)))
        return x + self.mlp(self.norm2(x))


def frame_tokens(tokens: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, F, 1 + g², W) an ILFM's tokens per frame → (B, F * (1 + grid²), W): the class token and
    the patch grid average-pooled to ``grid`` × ``grid``, frame after frame (the video tokens)."""
    from i2vbench.datasets.features import pool_tokens

    b, f = tokens.shape[:2]
    return pool_tokens(tokens.flatten(0, 1), grid).view(b, f * (1 + grid * grid), -1)


def cached_block_inputs(backbone: nn.Module, first: int, cache: dict[str, torch.Tensor], b: CaptionBatch
                        ) -> torch.Tensor:
    """(B, F, N, W) the frozen ILFM's input to visual block ``first`` for the batch's frames,
    computed once per video and kept in ``cache`` (bf16): the blocks before ``first`` are frozen
    and a video's frames are fixed, so a method that tunes or adapts only the last blocks
    (mPLUG-2, Q-Adapter) pays each step only for those."""
    from i2vbench.methods.paradigms.common import block_inputs

    todo = [i for i, v in enumerate(b.videos) if v not in cache]
    if todo:
        frames = b.frames[todo]
        with torch.no_grad(), autocast():
            x = block_inputs(backbone, backbone.preprocess(frames.flatten(0, 1)), first)
        for i, per in zip(todo, x.view(len(todo), frames.shape[1], *x.shape[1:]), strict=True):
            cache[b.videos[i]] = per.to(torch.bfloat16)
    return torch.stack([cache[v] for v in b.videos])


def run_last_blocks(backbone: nn.Module, first: int, x: torch.Tensor) -> torch.Tensor:
    """(B, F, N, W) inputs of block ``first`` → (B, F, N, W) the last block's output tokens, the
    frames of each video in one clip (for the temporal modules inside the blocks)."""
    from i2vbench.methods.paradigms.common import num_frames_context

    bsz, f = x.shape[:2]
    x = x.flatten(0, 1).float()
    with num_frames_context(f):
        for blk in backbone.visual_blocks[first:]:
            x = blk(x)
            x = x[0] if isinstance(x, tuple) else x
    return x.view(bsz, f, *x.shape[1:])
