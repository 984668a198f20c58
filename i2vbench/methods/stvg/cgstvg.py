"""CG-STVG (Gu et al., CVPR 2024, "Context-Guided Spatio-Temporal Video Grounding") in miniature:
TubeDETR's architecture plus an extra video model and instance context mined stage by stage.

Kept from the paper:

* the **extra video model**: CG-STVG's encoder reads a video network's motion features (VidSwin)
  beside the image model's appearance; here the embedded ``tinyvideo`` (pretrained on SynthVid
  clips, never part of the ILFM) gives a time-aligned feature per frame, added to every token of
  that frame's memory and to that frame's query through zero-initialised projections (so the
  model starts as TubeDETR). Measured on val (seed 0, 2 epochs): in the memory only (and with
  the query + time encoding as query content) the start / end heads learned nothing (decl.
  m_tIoU 27.5, the prior's level); in the queries too, with TubeDETR's content-0 queries, 36.5;
* **instance context generation** in each decoding stage: from the frames the stage is most
  confident about (its "inside the tube" probability, CG-STVG's temporal confidence), the
  appearance inside the stage's predicted box (mean of the memory tokens whose patch centre lies
  in it: RoI pooling on the patch grid) and the frame's motion feature become context tokens
  (one MLP for each, as the paper's 2-D and 3-D branches);
* **context-guided decoding**: the next stage's time-aligned queries cross-attend to those
  context tokens (zero-initialised output), so what the confident frames show of the target
  guides the localisation on the others.

Dropped: the spatial-confidence heads (selection uses the temporal confidence only, top-k frames
instead of thresholds), ground-truth-based context selection during training, the separate
temporal decoder. The extra video model's features are pooled per frame (tinyvideo has no
spatial map), so the 3-D "RoI" is the frame's whole motion feature.

``use_video_model: false`` switches the extra video model off (no motion in the memory, context
from appearance only): the same method without it, for the survey's claim that the extra model
helps temporal localisation. (The runner still computes the tinyvideo features then, 25 s.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from i2vbench.methods.backbones.tinyground import Attention, box_cxcywh_to_xyxy
from i2vbench.methods.registry import register_method
from i2vbench.methods.stvg.tubedetr import SpaceTimeGrounder, TubeBatch, TubeDETR, TubeDETRConfig
from i2vbench.methods.trainable import TrainConfig


@dataclass
class CGSTVGConfig(TubeDETRConfig):
    use_video_model: bool = True  # the extra video model's motion features (memory and context)
    context_frames: int = 4  # the stage's most confident frames that give the instance context
    # Chosen on val (seed 0, issue 15): 4 epochs, not 2: its start / end losses fall only in epochs
    # 3-4 (train 159.6, 153.6, 141.2, 132.0), val decl. m_vIoU 17.37 / m_tIoU 46.18 vs 9.73 / 27.68
    # in 2 epochs. Slower pretrained layers keep tinyground's boxes better (stride 2, lr scale 0.1:
    # oracle-time box IoU 0.412 vs 0.347) but learn less of *when* (m_tIoU 31.89): m_vIoU 14.09
    grounder_lr_scale: float = 0.3
    # Budget (issue 15, fourth round: the default run within 300 s with margin; val, one thread,
    # under load at 4-13; train CPU-s in brackets, the 4-epoch recipe ~168 by the same scaling):
    # 3 epochs with the slow multimodal branch on every 8th frame (stride 8) instead of 4 epochs at
    # stride 4: decl. m_vIoU / m_tIoU 19.89 / 43.29, 17.78 / 40.60, 16.22 / 37.23 on seeds 0, 1, 2
    # (113 CPU-s; the 4-epoch recipe gave 20.00 / 45.86 as seed 0 of the run before; without the
    # video model 10.36 / 24.51 on the mean of the three); the anchored boxes make the staler slow
    # memory cheap (oracle-time box IoU 0.422). 2 epochs at stride 4 with
    # the start / end head and the video model's projections at 10x lr (time_lr_scale 10) did not
    # learn *when*: 12.74 / 29.21 and 12.59 / 30.73 on seeds 0 and 1 (84 CPU-s each), the span
    # prior's level
    stride: int = 8
    # its *when* comes from the extra video model: TubeDETR's anchor-motion recipe (issue 15, third
    # round) is not CG-STVG's, whose numbers were measured without it
    motion: str = "none"
    motion_text: bool = False
    motion_zero_init: bool = True
    time_lr_scale: float = 1.0
    sted_prior: bool = False
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3, batch_size=16, lr=3e-4,
                                                                   weight_decay=1e-4, grad_clip=1.0))


def _mlp(d_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, d), nn.GELU(), nn.Linear(d, d))


class ContextGuidedGrounder(SpaceTimeGrounder):
    """TubeDETR's space-time grounder with motion in the memory and instance context between stages."""

    def __init__(self, grounder: nn.Module, config: CGSTVGConfig, video_dim: int) -> None:
        super().__init__(grounder, config.stride, config.fast_mode, config.box_in_tsa, config.zero_content,
                         config.anchor, config.motion, config.motion_text,
                         config.motion_zero_init)
        d = grounder.config.width
        self.use_video_model = config.use_video_model
        self.k = config.context_frames
        self.motion_in = nn.Sequential(nn.LayerNorm(video_dim), nn.Linear(video_dim, d))
        self.motion_q = nn.Sequential(nn.LayerNorm(video_dim), nn.Linear(video_dim, d))
        for m in (self.motion_in, self.motion_q):
            nn.init.zeros_(m[1].weight)
            nn.init.zeros_(m[1].bias)
        self.context_2d = _mlp(d, d)
        self.context_3d = _mlp(video_dim, d)
        self.ln_ctx = nn.LayerNorm(d)
        self.context_attn = Attention(d, grounder.config.heads)
        nn.init.zeros_(self.context_attn.out.weight)
        nn.init.zeros_(self.context_attn.out.bias)
        self._motion: torch.Tensor | None = None

    def time_parameters(self) -> list[nn.Parameter]:
        """TubeDETR's, plus the extra video model's projections into the memory and the queries:
        the zero-initialised route by which its motion features reach *when*."""
        return super().time_parameters() + [p for m in (self.motion_in, self.motion_q) for p in m.parameters()]

    def add_to_memory(self, mem: torch.Tensor, video: torch.Tensor, extra: dict) -> torch.Tensor:
        self._motion = None
        if not self.use_video_model:
            return mem
        motion = extra["motion"][video].to(mem.dtype)  # (B, T, Dv)
        self._motion = motion
        return mem + self.motion_in(motion)[:, :, None]

    def add_to_queries(self, q: torch.Tensor, video: torch.Tensor, extra: dict) -> torch.Tensor | float:
        """Frame t's query also starts from the video model's feature of frame t."""
        return 0.0 if self._motion is None else self.motion_q(self._motion)

    def stage_guidance(self, q: torch.Tensor, boxes: torch.Tensor, sted: torch.Tensor, mem: torch.Tensor,
                       frame_mask: torch.Tensor) -> torch.Tensor:
        B, T, N, d = mem.shape
        # RoI pooling on the patch grid: mean of the tokens whose centre lies in the stage's box
        xyxy = box_cxcywh_to_xyxy(boxes.detach().float())  # (B, T, 4)
        c = self.g.patch_boxes[:, :2]  # (N, 2) patch centres
        inside = ((c[None, None, :, 0] >= xyxy[..., None, 0]) & (c[None, None, :, 0] <= xyxy[..., None, 2])
                  & (c[None, None, :, 1] >= xyxy[..., None, 1]) & (c[None, None, :, 1] <= xyxy[..., None, 3]))
        # a box smaller than a patch: its nearest patch
        near = ((c[None, None] - boxes.detach().float()[..., None, :2]) ** 2).sum(-1).argmin(-1)
        inside = inside | nn.functional.one_hot(near, N).bool()
        w = inside.to(mem.dtype)
        roi = (mem * w[..., None]).sum(2) / w.sum(2, keepdim=True)  # (B, T, d)
        # instance context from the k frames the stage is most confident lie in the tube
        conf = sted[..., 2].detach().masked_fill(~frame_mask, float("-inf"))
        top = conf.topk(min(self.k, T), dim=1).indices  # (B, k)
        tokens = [self.context_2d(torch.gather(roi, 1, top[..., None].expand(-1, -1, d)))]
        if self._motion is not None:
            m = self._motion
            tokens.append(self.context_3d(torch.gather(m, 1, top[..., None].expand(-1, -1, m.shape[-1]))))
        ctx = torch.cat(tokens, 1).to(q.dtype)  # (B, k or 2k, d)
        return self.context_attn(self.ln_ctx(q), ctx, ctx)


@register_method("cgstvg", task="stvg", paradigm="extra_models", display="CG-STVG",
                 survey_row="CGSTVG", ref=94,
                 paper="Context-Guided Spatio-Temporal Video Grounding")
class CGSTVG(TubeDETR):
    """TubeDETR + the extra video model's motion features + instance context from confident frames.

    See the module docstring for what the miniature keeps and drops."""

    config_class = CGSTVGConfig

    def __init__(self, grounder: nn.Module, video_features: dict[str, np.ndarray],
                 config: CGSTVGConfig | None = None, anchors: dict[tuple[str, str], np.ndarray] | None = None) -> None:
        self.video_dim = next(iter(video_features.values())).shape[-1]
        super().__init__(grounder, config or CGSTVGConfig(), anchors)
        self.video_features = video_features

    def build_net(self, grounder: nn.Module) -> ContextGuidedGrounder:
        return ContextGuidedGrounder(grounder, self.config, self.video_dim)

    def extra_inputs(self, b: TubeBatch) -> dict:
        T = b.tokens.shape[1]
        motion = torch.zeros(len(b.vids), T, self.video_dim)
        for k, v in enumerate(b.vids):
            f = torch.from_numpy(self.video_features[v])
            motion[k, :len(f)] = f[:T]
        return {"motion": motion}
