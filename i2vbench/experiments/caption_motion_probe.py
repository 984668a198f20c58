"""Can a captioner read the motion off the frozen frame features it is given? A probe.

The captioning runner gives every method ``num_frames`` (8) frozen pooled tinyclip embeddings a
video. This trains probes (linear, and a one-hidden-layer MLP) on the SynthVid MSR-VTT pool's
**train** videos and scores them on **val**: for every sampled frame that falls inside exactly
one event, predict that event's motion (8 classes: four directions, grow / shrink, appear /
disappear) from that frame alone, and from it with its two neighbours in time order. What the
single frame cannot tell and the ordered window can is what only an order-aware captioner could
learn. Prints the numbers docs/tasks/captioning.md quotes::

    python -m i2vbench.experiments.caption_motion_probe
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from i2vbench.experiments import run_main


def _kind(motion: str) -> str:
    return motion.split()[0] if motion.startswith("move") else {"grow": "scale", "shrink": "scale"}.get(motion, "fade")


def main() -> None:
    from i2vbench.benchmarks.captioning import CaptioningRunConfig, load_annotations
    from i2vbench.benchmarks.msrvtt_pool import pool_features
    from i2vbench.datasets.features import frame_indices

    torch.manual_seed(0)
    cfg = CaptioningRunConfig(threads=1)
    refs, _, spans, paths, _ = load_annotations(cfg, False)
    _, feats, _ = pool_features(cfg, paths, False)
    motions = sorted({w[2] for s in spans.values() for w, _, _ in s})

    def data(split: str, win: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for v in refs[split]:
            f = feats[v].pooled
            x = f[frame_indices(len(f), cfg.num_frames)]
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
            n = len(x)
            for j in range(n):
                t = (j + 0.5) / n
                underway = [w[2] for w, s, e in spans[v] if s <= t < e]
                if len(underway) != 1:
                    continue
                xs.append(np.concatenate([x[min(max(j + d, 0), n - 1)] for d in range(-win, win + 1)]))
                ys.append(motions.index(underway[0]))
        return torch.tensor(np.array(xs)).float(), torch.tensor(ys)

    for win in (0, 1):
        xtr, ytr = data("train", win)
        xva, yva = data("val", win)
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        for hidden in (0, 256):
            net = (torch.nn.Linear(xtr.shape[1], len(motions)) if not hidden else
                   torch.nn.Sequential(torch.nn.Linear(xtr.shape[1], hidden), torch.nn.GELU(),
                                       torch.nn.Linear(hidden, len(motions))))
            opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-3)
            for _ in range(1500):
                loss = torch.nn.functional.cross_entropy(net((xtr - mu) / sd), ytr)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                pred = net((xva - mu) / sd).argmax(1).numpy()
            truth = yva.numpy()
            kind = np.mean([_kind(motions[a]) == _kind(motions[b]) for a, b in zip(pred, truth, strict=True)])
            print(f"{2 * win + 1} frame(s), {'mlp' if hidden else 'linear'}: motion acc {100 * np.mean(pred == truth):.1f} "
                  f"(majority {100 * np.bincount(truth).max() / len(truth):.1f}), kind acc {100 * kind:.1f}, "
                  f"{len(ytr)} train / {len(yva)} val frames")


if __name__ == "__main__":
    sys.exit(run_main(main))
