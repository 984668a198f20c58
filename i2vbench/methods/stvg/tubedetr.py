"""TubeDETR (Yang et al., CVPR 2022) in miniature: full fine-tuning of the grounding ILFM into a
space-time decoder with time-aligned queries.

Kept from the paper:

* initialisation from the image grounding model (MDETR there, tinyground here): its text tower,
  fusion (feature-enhancer) layers, decoder layers and box head are the starting weights, and all
  of them are trained;
* the **video-text encoder with two branches**: a *slow multimodal* branch that fuses text with
  the image tokens of every ``stride``-th frame only (the expensive part), and a *fast visual*
  branch that brings in every frame's image tokens cheaply (a projection added to the slow
  features replicated over their stride);
* the **space-time decoder** with one **time-aligned query** per frame: temporal self-attention
  among the queries, then cross-attention to its own frame's tokens and to the text; each
  frame's query starts from the grounding model's best proposal on that frame (tinyground's
  two-stage selection, as TubeDETR starts from MDETR's weights);
* heads per frame: a box (supervised with L1 + GIoU on the frames of the GT tube only) and
  start / end logits (KL divergence to Gaussian-smoothed start / end targets), plus TubeDETR's
  "inside the tube" logit; inference takes the (start <= end) pair of highest start x end
  probability.

Dropped: the image tower is not back-propagated through (its per-frame tokens are encoded once
by the feature layer, so every method shares one frozen tower; the fine-tuning covers the text
tower and every multimodal layer), guided attention loss, test-time temporal sub-sampling.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from i2vbench.methods.backbones.tinyground import (
    box_cxcywh_to_xyxy,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
    inverse_sigmoid,
    sine_embed,
)
from i2vbench.methods.registry import register_method
from i2vbench.methods.stvg.base import Predictions, STVGMethod
from i2vbench.methods.stvg.data import STVGSplit
from i2vbench.methods.trainable import TrainConfig


@dataclass
class TubeDETRConfig:
    stride: int = 4  # slow multimodal branch: every stride-th frame
    sigma: float = 1.0  # frames; Gaussian smoothing of the start / end targets
    w_l1: float = 5.0
    w_giou: float = 2.0
    w_sted: float = 2.0
    w_inside: float = 1.0
    grounder_lr_scale: float = 0.3  # pretrained layers learn slower than the new ones
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, batch_size=16, lr=3e-4,
                                                                   weight_decay=1e-4, grad_clip=1.0))


@dataclass
class TubeBatch:
    tokens: torch.Tensor  # (B, T, N, W) image-tower tokens
    captions: list[str]
    frame_mask: torch.Tensor  # (B, T) real frames
    boxes: torch.Tensor  # (B, T, 4) cxcywh in [0, 1]
    in_tube: torch.Tensor  # (B, T) bool
    start: torch.Tensor  # (B,) GT start frame
    end: torch.Tensor  # (B,) GT last frame (inclusive)


def make_batch(split: STVGSplit, idx: np.ndarray) -> TubeBatch:
    qs = [split.queries[i] for i in idx]
    T = max(q.n_frames for q in qs)
    first = split.tokens[qs[0].vid]
    tok = np.zeros((len(qs), T, *first.shape[1:]), np.float32)
    mask = np.zeros((len(qs), T), bool)
    for k, q in enumerate(qs):
        tok[k, :q.n_frames] = split.tokens[q.vid]
        mask[k, :q.n_frames] = True
    gt = torch.from_numpy(np.nan_to_num(split.boxes[idx, :T] / split.image_size))
    t = torch.arange(T)
    start = torch.tensor([q.tube[0] for q in qs])
    end = torch.tensor([q.tube[1] - 1 for q in qs])
    in_tube = (t[None] >= start[:, None]) & (t[None] <= end[:, None]) & torch.from_numpy(~np.isnan(split.boxes[idx, :T, 0]))
    return TubeBatch(torch.from_numpy(tok), [q.caption for q in qs], torch.from_numpy(mask),
                     box_xyxy_to_cxcywh(gt.float()), in_tube, start, end)


class SpaceTimeGrounder(nn.Module):
    """The TubeDETR architecture on top of a (copied) tinyground."""

    def __init__(self, grounder: nn.Module, stride: int) -> None:
        super().__init__()
        self.g = copy.deepcopy(grounder)
        for p in self.g.parameters():
            p.requires_grad_(True)
        for p in self.g.clip.parameters():  # the image tower is not run (tokens are cached)
            p.requires_grad_(False)
        for p in self.g.clip.text_blocks.parameters():
            p.requires_grad_(True)
        for name in ("token_embedding", "ln_final"):
            for p in getattr(self.g.clip, name).parameters():
                p.requires_grad_(True)
        self.g.clip.text_pos.requires_grad_(True)
        self.stride = stride
        d = grounder.config.width
        self.fast = nn.Linear(d, d)
        nn.init.zeros_(self.fast.weight)
        nn.init.zeros_(self.fast.bias)
        self.time_pos = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.query = nn.Parameter(grounder.query_content.detach()[0].clone())
        self.sted = nn.Linear(d, 3)  # start, end, inside-the-tube logits

    def new_parameters(self) -> list[nn.Parameter]:
        return [*self.fast.parameters(), *self.time_pos.parameters(), self.query, *self.sted.parameters()]

    def forward(self, tokens: torch.Tensor, captions: list[str], frame_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Boxes ``(B, T, 4)`` cxcywh in [0, 1] and start / end / inside logits ``(B, T, 3)``."""
        g = self.g
        B, T, N, _ = tokens.shape
        d = g.config.width
        img = g.img_in(tokens)  # (B, T, N, d)
        text = g.clip.encode_text(captions)
        txt0 = g.txt_in(text.tokens)
        L = txt0.shape[1]
        bias = torch.zeros(text.mask.shape).masked_fill_(~text.mask, -1e4)
        kpos = g.pos_mlp(sine_embed(g.patch_boxes, d)).to(img.dtype)[None]
        # slow multimodal branch: fusion on every stride-th frame
        slow_t = torch.arange(0, T, self.stride)
        S = len(slow_t)
        x = img[:, slow_t].reshape(B * S, N, d)
        txt = txt0.repeat_interleave(S, 0)
        b_s = bias.repeat_interleave(S, 0)
        for layer in g.fusion:
            x, txt = layer(x, txt, kpos, b_s)
        txt = txt.view(B, S, L, d).mean(1)
        slow = x.view(B, S, N, d)[:, torch.arange(T) // self.stride]  # replicated over the stride
        mem = (slow + self.fast(img)).reshape(B * T, N, d)  # + fast visual branch
        # each frame's reference box: the grounding ILFM's best proposal on that frame for this
        # sentence (its two-stage selection, top 1), so the decoder starts where MDETR would look
        m = text.mask.unsqueeze(-1).to(txt.dtype)
        phrase = nn.functional.normalize(g.phrase_proj((txt * m).sum(1) / m.sum(1).clamp_min(1.0)).float(), dim=-1)
        h = g.ln_enc(mem)
        region = nn.functional.normalize(g.region_proj(h).float(), dim=-1)
        score = g.enc_obj_head(h).squeeze(-1).float() + (region * phrase.repeat_interleave(T, 0)[:, None]).sum(-1) * \
            g.match_scale.exp().clamp(max=100.0)
        best = score.argmax(1)
        ref = (g.proposal_anchors[best] + g.enc_box_head(h[torch.arange(B * T), best]).float()).sigmoid()
        ref = ref.view(B, T, 4).detach()
        # space-time decoder: one time-aligned query per frame
        tpos = self.time_pos(sine_embed(torch.stack([torch.arange(T) / max(T - 1, 1)] * 4, -1), d)).to(img.dtype)
        q = (self.query.to(img.dtype) + tpos)[None].expand(B, -1, -1)
        t_bias = torch.zeros(B, T).masked_fill_(~frame_mask, -1e4)
        txt_bt = txt.repeat_interleave(T, 0)
        bias_bt = bias.repeat_interleave(T, 0)
        for layer in g.decoder:
            qpos = g.pos_mlp(sine_embed(ref.detach(), d)).to(img.dtype)
            h = layer.ln_1(q)
            q = q + layer.self_attn(h + tpos, h + tpos, h, t_bias)  # temporal self-attention
            h = layer.ln_2(q).reshape(B * T, 1, d)
            qf = q.reshape(B * T, 1, d) + layer.img_attn(h + qpos.reshape(B * T, 1, d), mem + kpos, mem)
            qf = qf + layer.txt_attn(layer.ln_3(qf), txt_bt, txt_bt, bias_bt)
            q = (qf + layer.ffn(qf)).view(B, T, d)
            ref = (inverse_sigmoid(ref.detach()) + g.box_head(g.ln_q(q)).float()).sigmoid()
        return ref, self.sted(g.ln_q(q)).float()


def gaussian_targets(pos: torch.Tensor, T: int, sigma: float, mask: torch.Tensor) -> torch.Tensor:
    """(B, T) distributions peaked at ``pos`` (TubeDETR's smoothed start / end targets)."""
    t = torch.arange(T, dtype=torch.float32)
    w = torch.exp(-0.5 * ((t[None] - pos[:, None].float()) / sigma) ** 2) * mask
    return w / w.sum(1, keepdim=True).clamp_min(1e-8)


def best_moment(start_logits: torch.Tensor, end_logits: torch.Tensor, mask: torch.Tensor) -> tuple[int, int]:
    """argmax over start <= end of p(start) p(end); returns [start, end + 1)."""
    neg = torch.finfo(torch.float32).min
    ps = start_logits.masked_fill(~mask, neg).log_softmax(0)
    pe = end_logits.masked_fill(~mask, neg).log_softmax(0)
    score = ps[:, None] + pe[None, :]
    T = len(ps)
    score = score.masked_fill(torch.ones(T, T, dtype=torch.bool).tril(-1), neg)
    k = int(score.flatten().argmax())
    return k // T, k % T + 1


@register_method("tubedetr", task="stvg", paradigm="full_fine_tuning", display="TubeDETR",
                 survey_row="TubeDETR", ref=78, paper="TubeDETR: Spatio-temporal video grounding with transformers")
class TubeDETR(STVGMethod):
    """Time-aligned queries over a slow multimodal + fast visual encoder, fine-tuned from tinyground.

    See the module docstring for what the miniature keeps and drops."""

    config_class = TubeDETRConfig

    def __init__(self, grounder: nn.Module, config: TubeDETRConfig | None = None) -> None:
        super().__init__()
        self.config = config or TubeDETRConfig()
        self.train_config = self.config.train
        self.net = SpaceTimeGrounder(grounder, self.config.stride)

    def param_groups(self) -> list[dict]:
        new = {id(p) for p in self.net.new_parameters()}
        own = [p for p in self.parameters() if id(p) in new]
        pre = [p for p in self.parameters() if id(p) not in new]
        return [{"params": own}, {"params": pre, "lr_scale": self.config.grounder_lr_scale}]

    def batch(self, split: STVGSplit, idx: np.ndarray) -> TubeBatch:
        return make_batch(split, idx)

    def outputs(self, b: TubeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.net(b.tokens, b.captions, b.frame_mask)

    def loss(self, b: TubeBatch) -> dict[str, torch.Tensor]:
        c = self.config
        boxes, logits = self.outputs(b)
        T = boxes.shape[1]
        n = b.in_tube.sum().clamp_min(1)
        pb, tb = boxes[b.in_tube], b.boxes[b.in_tube]
        l1 = (pb - tb).abs().sum() / n
        giou = (1 - torch.diagonal(generalized_box_iou(box_cxcywh_to_xyxy(pb), box_cxcywh_to_xyxy(tb)))).sum() / n
        neg = torch.finfo(torch.float32).min
        sted = 0.0
        for k, pos in ((0, b.start), (1, b.end)):
            target = gaussian_targets(pos, T, c.sigma, b.frame_mask)
            logp = logits[..., k].masked_fill(~b.frame_mask, neg).log_softmax(1)
            sted = sted + -(target * logp.clamp_min(-1e4)).sum(1).mean()
        inside = nn.functional.binary_cross_entropy_with_logits(logits[..., 2][b.frame_mask],
                                                                b.in_tube[b.frame_mask].float())
        return {"l1": c.w_l1 * l1, "giou": c.w_giou * giou, "sted": c.w_sted * sted, "inside": c.w_inside * inside}

    @torch.no_grad()
    def predict(self, split: STVGSplit, batch_size: int = 32) -> Predictions:
        self.eval()
        out: Predictions = {}
        for a in range(0, len(split), batch_size):
            idx = np.arange(a, min(a + batch_size, len(split)))
            b = make_batch(split, idx)
            boxes, logits = self.outputs(b)
            xyxy = (box_cxcywh_to_xyxy(boxes.float()).clamp(0, 1) * split.image_size).numpy()
            for k, i in enumerate(idx):
                q = split.queries[i]
                T = q.n_frames
                out[q.qid] = (best_moment(logits[k, :T, 0], logits[k, :T, 1], b.frame_mask[k, :T]), xyxy[k, :T])
        return out
