"""The VTR method interface: videos and captions in, a texts × videos similarity matrix out.

Training follows CLIP4Clip: an epoch visits every training video once, with one of its
captions drawn at random (or, with a config's ``caption_rounds`` k, k times, each time with a
caption not yet used in the epoch: CLIP4Clip's ``--expand_msrvtt_sentences``, every caption an
item, at k = the captions per video), and a batch of B (video, caption) pairs is scored by the symmetric
InfoNCE loss over its B × B cosine similarities (scaled by a learned temperature, initialised
from the ILFM's). Evaluation embeds every video and every query once and ranks by cosine
similarity (the 1k-A protocol: text i belongs to video i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from i2vbench.datasets.features import TextFeatures, VideoFeatures, frame_indices
from i2vbench.devices import autocast
from i2vbench.methods.paradigms.common import encode_clips
from i2vbench.methods.trainable import TrainableMethod


@dataclass
class VTRConfig:
    """What every VTR method's config holds besides its own fields (a config class inherits it)."""

    # 0: an epoch is every video once with one random caption (CLIP4Clip's default sampler);
    # k > 0: k rounds of every video, each with a caption not yet used this epoch (an epoch of
    # every caption once when k is the captions per video: CLIP4Clip's --expand_msrvtt_sentences)
    caption_rounds: int = 0


@dataclass
class VTRSplit:
    videos: list[str]  # the split's videos: the similarity matrix's columns, in order
    features: dict[str, VideoFeatures]  # per video (shared by every split of a run)
    texts: list[str]  # every caption (train) or one query per video, text i ↔ videos[i] (eval)
    text_video: np.ndarray  # (n_texts,) index into ``videos`` of each text's video
    text: TextFeatures  # the frozen ILFM's features of ``texts``, row i = texts[i]
    num_frames: int  # frames per video a method sees, uniformly spread over the video

    def __len__(self) -> int:
        return len(self.videos)  # an epoch visits every video once

    @property
    def has_frames(self) -> bool:
        return all(f.frames is not None for f in self.features.values())


@dataclass
class VTRBatch:
    videos: list[str]
    pooled: torch.Tensor | None  # (B, F, D) frozen pooled frame embeddings
    frames: torch.Tensor | None  # (B, F, H, W, 3) uint8, when the method trains through the ILFM
    texts: list[str]  # one caption per item (empty when only videos are embedded)
    text_pooled: torch.Tensor | None  # (B, D) the frozen ILFM's pooled caption embeddings
    text_tokens: torch.Tensor | None  # (B, L, W) its word tokens
    text_mask: torch.Tensor | None  # (B, L) True at real tokens


def make_batch(split: VTRSplit, video_idx: np.ndarray | None, text_rows: np.ndarray | None,
               with_frames: bool) -> VTRBatch:
    """The videos ``video_idx`` (``num_frames`` each) and/or the captions ``text_rows`` of ``split``."""
    vids, pooled, frames = [], None, None
    if video_idx is not None:
        vids = [split.videos[i] for i in video_idx]
        feats = [split.features[v] for v in vids]
        picks = [frame_indices(len(f.pooled), split.num_frames) for f in feats]
        pooled = torch.from_numpy(np.stack([f.pooled[p] for f, p in zip(feats, picks, strict=True)])).float()
        if with_frames:
            frames = torch.from_numpy(np.stack([f.frames[p] for f, p in zip(feats, picks, strict=True)]))
    texts, text_pooled, tokens, mask = [], None, None, None
    if text_rows is not None:
        rows = np.asarray(text_rows)
        texts = [split.texts[r] for r in rows]
        keep = split.text.mask[rows]
        length = max(1, int(keep.sum(1).max()))
        text_pooled = torch.from_numpy(split.text.pooled[rows]).float()
        tokens = torch.from_numpy(split.text.tokens[rows, :length]).float()
        mask = torch.from_numpy(keep[:, :length])
    return VTRBatch(vids, pooled, frames, texts, text_pooled, tokens, mask)


def frame_embeddings(backbone: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """(B, F, D) float32 frame embeddings through the (possibly adapted) ILFM, under bf16
    autocast: on CPU about 2.3× faster for tinyclip's forward + backward (measured, batch 32 × 8
    frames), and the ILFM was pretrained under it."""
    with autocast():
        return encode_clips(backbone, frames).pooled.float()


def text_embeddings(backbone: nn.Module, texts: list[str]) -> torch.Tensor:
    """(B, D) float32 pooled caption embeddings through the (possibly adapted) ILFM, bf16 autocast."""
    with autocast():
        return backbone.encode_text(texts).pooled.float()


def symmetric_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """CLIP's loss on a batch's (texts × videos) logits whose diagonal holds the true pairs."""
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def info_nce(video: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP4Clip's symmetric cross-entropy over the batch's text × video cosine similarities.

    Under torchrun the negatives are the *global* batch's, as CLIP4Clip's AllGather gives them:
    each rank scores its own texts against every rank's videos and its own videos against every
    rank's texts (embeddings gathered with their gradients); DDP's mean of the ranks' gradients
    is then the single-process loss's on the same global batch.
    """
    from i2vbench.distributed import rank_and_world

    scale = logit_scale.exp().clamp(max=100)
    text, video = F.normalize(text, dim=-1), F.normalize(video, dim=-1)
    rank, world = rank_and_world()
    if world == 1:
        return symmetric_cross_entropy(scale * text @ video.T)
    from torch.distributed.nn.functional import all_gather

    all_text, all_video = torch.cat(all_gather(text)), torch.cat(all_gather(video))
    target = torch.arange(len(text)) + rank * len(text)  # every rank holds an equal share
    return (F.cross_entropy(scale * text @ all_video.T, target) + F.cross_entropy(scale * video @ all_text.T, target)) / 2


def captions_by_video(split: VTRSplit) -> list[list[int]]:
    """Rows of ``split.texts`` of each video, in the order of ``split.videos``."""
    by_video: list[list[int]] = [[] for _ in split.videos]
    for row, v in enumerate(split.text_video):
        by_video[int(v)].append(row)
    return by_video


def caption_rounds_order(train: VTRSplit, rng: np.random.Generator, rounds: int, batch_size: int) -> np.ndarray:
    """``rounds`` random orders of every video, one after another, each video with a caption not
    used in an earlier round of the epoch (its captions in a random order, reused in that order
    when it has fewer than ``rounds``): len(videos) × rounds rows, every caption once when
    ``rounds`` is the captions per video.

    A batch never holds two captions of one video (they would be each other's false negatives
    in InfoNCE): within a round none can; a batch straddling two rounds swaps a repeated video's
    row with the next later row of a video it does not hold yet.
    """
    by_video = [[rows[i] for i in rng.permutation(len(rows))] for rows in captions_by_video(train)]
    order = np.array([by_video[v][r % len(by_video[v])] for r in range(rounds) for v in rng.permutation(len(by_video))])
    video = np.asarray(train.text_video)
    for start in range(0, len(order), batch_size):
        held: set[int] = set()
        for i in range(start, min(start + batch_size, len(order))):
            j = i
            while int(video[order[j]]) in held and j + 1 < len(order):
                j += 1
            order[[i, j]] = order[[j, i]]
            held.add(int(video[order[i]]))
    return order


class VTRMethod(TrainableMethod):
    """A VTR method: ``embed_videos`` and ``embed_texts`` of a batch; the rest is shared."""

    uses_frames = False  # trains through the ILFM on decoded frames

    def init_temperature(self, backbone: nn.Module | None) -> None:
        scale = getattr(backbone, "logit_scale", None)
        init = float(scale.detach()) if isinstance(scale, torch.Tensor) else math.log(1 / 0.07)
        self.logit_scale = nn.Parameter(torch.tensor(init))

    def embed_videos(self, b: VTRBatch) -> torch.Tensor:
        raise NotImplementedError

    def embed_texts(self, b: VTRBatch) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, b: VTRBatch) -> dict[str, torch.Tensor]:
        return {"nce": info_nce(self.embed_videos(b), self.embed_texts(b), self.logit_scale)}

    @property
    def caption_rounds(self) -> int:
        return int(getattr(getattr(self, "config", None), "caption_rounds", 0))

    def steps_per_epoch(self, n_items: int) -> int:
        """``n_items`` training videos, each visited ``caption_rounds`` times an epoch (once at 0)."""
        return super().steps_per_epoch(n_items * max(1, self.caption_rounds))

    def epoch_order(self, train: VTRSplit, rng: np.random.Generator) -> np.ndarray:
        """Rows of ``train.texts``: every video once, in random order, with one random caption;
        with ``caption_rounds`` k, :func:`caption_rounds_order`."""
        if self.caption_rounds:
            return caption_rounds_order(train, rng, self.caption_rounds, self.train_config.batch_size)
        by_video = captions_by_video(train)
        return np.array([by_video[v][rng.integers(len(by_video[v]))] for v in rng.permutation(len(train.videos))])

    def batch(self, split: VTRSplit, idx: np.ndarray) -> VTRBatch:
        return make_batch(split, split.text_video[idx], idx, self.uses_frames)

    @torch.no_grad()
    def similarity(self, split: VTRSplit, batch_size: int = 64) -> np.ndarray:
        """(n_texts, n_videos) cosine similarities of the split's queries and videos."""
        self.eval()
        videos, texts = [], []
        for start in range(0, len(split.videos), batch_size):
            idx = np.arange(start, min(start + batch_size, len(split.videos)))
            videos.append(F.normalize(self.embed_videos(make_batch(split, idx, None, self.uses_frames)), dim=-1))
        for start in range(0, len(split.texts), batch_size):
            rows = np.arange(start, min(start + batch_size, len(split.texts)))
            texts.append(F.normalize(self.embed_texts(make_batch(split, None, rows, False)), dim=-1))
        return (torch.cat(texts) @ torch.cat(videos).T).numpy()
