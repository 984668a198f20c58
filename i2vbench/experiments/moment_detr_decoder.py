"""Where Moment-DETR loses the query on SynthVid: its encoder or its set decoder?

Trains, on the default TVG run's train split and scores on its **val** split (seed 0, one
thread each, two at a time):

- Moment-DETR as shipped (encoder over clip + word tokens, DETR decoder with moment queries,
  Hungarian matching, ranking by the foreground score);
- the same Moment-DETR with its decoder replaced by the dense per-clip boundary head the
  other TVG methods use (foreground logit + distances to the window's ends, decoded with NMS):
  same inputs, same encoder, same saliency loss; only the head differs.

If the dense head on Moment-DETR's own encoder beats the prior where the set decoder does not,
the query reaches the encoder and is lost in the decoder (set prediction's slow convergence,
the weakness QD-DETR names: the decoder's moments barely depend on the query). Prints the table
docs/tasks/tvg.md quotes::

    python -m i2vbench.experiments.moment_detr_decoder [--epochs 8,24]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
import torch

from i2vbench.experiments import run_main
from i2vbench.methods.tvg.data import Batch
from i2vbench.methods.tvg.heads import BoundaryHead, saliency_hinge
from i2vbench.methods.tvg.moment_detr import MomentDETR


class MomentDETREncoderDense(MomentDETR):
    """Moment-DETR's encoder with the dense boundary head in place of its set decoder."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.head = BoundaryHead(self.config.hidden)
        del self.decoder_layers, self.decoder_norm, self.query_embed, self.span_head, self.class_head

    def clips(self, b: Batch) -> torch.Tensor:
        memory, _, _, n_clips = self.encode(b)
        return memory[:, :n_clips]

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        x = self.clips(b)
        fg, dist = self.head(x)
        losses = self.head.loss(fg, dist, b)
        losses["saliency"] = self.config.w_saliency * saliency_hinge(self.saliency_head(x).squeeze(-1), b,
                                                                     self.config.saliency_margin)
        return losses

    def predict_batch(self, b: Batch) -> list[np.ndarray]:
        fg, dist = self.head(self.clips(b))
        return self.head.decode(fg, dist, b)


HEADS = {"set decoder (Moment-DETR)": MomentDETR, "dense head on its encoder": MomentDETREncoderDense}


def main(argv: list[str] | None = None) -> None:
    from i2vbench.benchmarks.tvg import TVGRunConfig, build_splits, load_annotations
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.metrics.tvg import tvg_metrics
    from i2vbench.parallel import map_in_workers

    ap = argparse.ArgumentParser(prog="python -m i2vbench.experiments.moment_detr_decoder")
    ap.add_argument("--epochs", default="8,24", help="comma-separated epoch counts (default: 8,24)")
    args = ap.parse_args(argv)
    epochs = [int(e) for e in args.epochs.split(",")]
    cfg = TVGRunConfig()
    moments, paths, _ = load_annotations(cfg, progress=False)
    splits = build_splits(cfg, load_backbone(cfg.backbone, cfg.pretrained), moments, paths, progress=False)
    train, val = splits["train"], splits["val"]
    any_video = next(iter(train.videos.values()))
    dims = {"video_dim": any_video.pooled.shape[1], "text_dim": train.text.tokens.shape[-1],
            "layer_width": any_video.layers.shape[-1], "num_tokens": any_video.layers.shape[2]}

    def run(item: tuple[str, int]) -> dict[str, float]:
        head, n_epochs = item
        torch.manual_seed(0)
        config = MomentDETR.config_class()
        config.train = dataclasses.replace(config.train, epochs=n_epochs)
        method = HEADS[head](**dims, config=config)
        t0 = time.perf_counter()
        losses = method.fit(train, seed=0, progress=False)
        metrics = tvg_metrics(moments["val"], method.predict(val))
        return {**metrics, "final loss": losses[-1], "train s": time.perf_counter() - t0}

    from i2vbench.methods.tvg.prior import WindowPrior

    prior = WindowPrior()
    prior.fit(train)
    prior_val = tvg_metrics(moments["val"], prior.predict(val))
    items = [(head, e) for e in epochs for head in HEADS]
    results = map_in_workers(run, items, jobs=2, threads=1)
    print("| head | epochs | val R1@0.5 | val R5@0.5 | val mIoU | final loss | train s |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    print(f"| window prior (training-free) | - | {prior_val['R1@0.5']:.2f} | {prior_val['R5@0.5']:.2f} | "
          f"{prior_val['mIoU']:.2f} | - | - |")
    for (head, e), r in zip(items, results, strict=True):
        print(f"| {head} | {e} | {r['R1@0.5']:.2f} | {r['R5@0.5']:.2f} | {r['mIoU']:.2f} | "
              f"{r['final loss']:.3f} | {r['train s']:.0f} |")


if __name__ == "__main__":
    sys.exit(run_main(main))
