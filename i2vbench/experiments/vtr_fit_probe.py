"""Under- or over-fitting? Train one VTR method (seed 0 unless told) and follow its t2v R@1 on a training
subset and on val, epoch by epoch (issue 13: five methods stay below zero-shot + 10 R@1).

The training subset is the first ``--n-train`` (150) training videos in the 1k-A layout with each
video's reference caption 0 as its query: the same size as val, so the two R@1 are comparable
(one query is 0.67 points). A method that scores far higher there than on val has learned its
training videos and not the world (over-fitting); one that scores about as low on both has not
learned them (under-fitting). The curve is read by evaluating before each epoch and after the
last, through the method's ``epoch_order`` (the shared loop's per-epoch call), so the training
itself is exactly ``bench run``'s (same seed, same steps). Test is never read. ::

    python -m i2vbench.experiments.vtr_fit_probe clip4clip_meanp --set backbone_lr_scale=0.3 --every 2
    python -m i2vbench.experiments.vtr_fit_probe clip4clip_meanp --set caption_rounds=10 --set epochs=1
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import yaml

from i2vbench.experiments import run_main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("method")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override (YAML value), e.g. lr=1e-3 or epochs=4; repeatable")
    ap.add_argument("--every", type=int, default=2, help="evaluate before every k-th epoch (and after the last)")
    ap.add_argument("--seed", type=int, default=0, help="the training seed (bench run's --seed)")
    ap.add_argument("--n-train", type=int, default=150)
    ap.add_argument("--num-frames", type=int, default=8)
    ap.add_argument("--out", help="also write the rows and arguments to this JSON file")
    ap.add_argument("--logit-scale", type=float, help="start the learned temperature's scale here, not at the ILFM's")
    args = ap.parse_args()

    from i2vbench.benchmarks.msrvtt_pool import pool_features
    from i2vbench.benchmarks.runner import seed_everything
    from i2vbench.benchmarks.vtr import VTRRunConfig, load_annotations
    from i2vbench.datasets.features import encode_texts
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.registry import Lazy, get_method
    from i2vbench.methods.vtr.base import VTRSplit
    from i2vbench.metrics.vtr import retrieval_metrics

    cfg = VTRRunConfig(threads=1, num_frames=args.num_frames)
    seed_everything(cfg.resolved_data_seed)
    pairs, _, paths, dataset = load_annotations(cfg, False)
    backbone, features, _ = pool_features(cfg, paths, False)

    def split(videos: list[str], texts: list[str], text_video: list[int]) -> VTRSplit:
        return VTRSplit(videos, features, texts, np.asarray(text_video), encode_texts(backbone, texts), cfg.num_frames)

    train = split(*pairs["train"])
    val = split(*pairs["val"])
    first = {}
    for row, v in enumerate(train.text_video):
        first.setdefault(int(v), row)
    sub = [int(v) for v in range(args.n_train)]
    train_sub = split([train.videos[v] for v in sub], [train.texts[first[v]] for v in sub], list(range(len(sub))))

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    spec = get_method("vtr", args.method)
    seed_everything(args.seed)
    method = spec.build({"backbone": Lazy(lambda: load_backbone(cfg.backbone, cfg.pretrained)),
                         "video_dim": next(iter(features.values())).pooled.shape[1],
                         "text_dim": train.text.tokens.shape[-1]}, overrides, dataset)
    if args.logit_scale:
        import math

        method.logit_scale.data.fill_(math.log(args.logit_scale))
    rows: list[tuple[int, float, float, float]] = []

    def evaluate(epoch: int) -> None:
        was_training = method.training
        r = [retrieval_metrics(method.similarity(s))["t2v/R@1"] for s in (train_sub, val)]
        method.train(was_training)
        loss = float(np.mean(method.loss_curve[-20:])) if getattr(method, "loss_curve", None) else float("nan")
        rows.append((epoch, r[0], r[1], loss))
        print(f"epoch {epoch:3d}  train-subset R@1 {r[0]:6.2f}  val R@1 {r[1]:6.2f}  loss (last 20 steps) {loss:.3f}",
              flush=True)

    epochs = method.train_config.epochs
    epoch_order = method.epoch_order
    seen = {"n": 0}

    def hooked(tr, rng):  # noqa: ANN001, ANN202
        if seen["n"] % args.every == 0:
            evaluate(seen["n"])
        seen["n"] += 1
        return epoch_order(tr, rng)

    method.epoch_order = hooked  # the shared loop asks for each epoch's order first: evaluate there
    seed_everything(args.seed)
    t0 = time.perf_counter()
    method.fit(train, seed=args.seed, progress=False)
    evaluate(epochs)
    seconds = time.perf_counter() - t0
    print(f"{args.method} {overrides} seed {args.seed} epochs {epochs}: {seconds:.0f} s (evaluations included)")
    if args.out:
        from i2vbench.io import atomic_write_text, dump_json

        keys = ("epoch", "train_subset_r1", "val_r1", "loss")
        atomic_write_text(args.out, dump_json({"args": vars(args), "overrides": overrides,
                                               "seconds_under_load": round(seconds),
                                               "rows": [dict(zip(keys, r, strict=True)) for r in rows]}))


if __name__ == "__main__":
    sys.exit(run_main(main))
