"""Re-extract every cached tinyclip feature file of the SynthVid sets and list those that differ.

The feature cache is keyed by video (path, size, mtime), encoder weights and sampling, not by the
code that encoded it, so a file written by other code (a work tree in progress sharing the cache)
is reused silently. This finds such files, bit for bit, at the default VideoQA / VTR sampling::

    python tools/verify_feature_cache.py [--fps 2] [--delete]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from i2vbench.datasets.features import Sampling, cache_file, encode_frames, feature_root, read_index
from i2vbench.datasets.video import decode_frames
from i2vbench.methods.backbones import load_backbone
from i2vbench.paths import cache_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--delete", action="store_true", help="delete the files that differ")
    args = ap.parse_args()
    torch.set_num_threads(1)
    backbone = load_backbone("tinyclip", None)
    sampling = Sampling(fps=args.fps)
    root = feature_root(backbone.backbone_id, sampling)
    index = read_index(root)
    checked, stale = 0, set()
    for videos in sorted((cache_dir() / "synthvid").glob("*/videos")):
        for video in sorted(videos.glob("*.mp4")):
            cached = cache_file(root, video.stem, video, index)
            if not cached.is_file() or cached in stale:
                continue
            checked += 1
            frames, _ = decode_frames(video, sampling.fps, size=backbone.image_size)
            pooled, layers = encode_frames(backbone, frames, sampling)
            with np.load(cached, allow_pickle=False) as z:
                same = np.array_equal(z["pooled"], pooled) and ("layers" not in z.files or np.array_equal(z["layers"], layers))
            if not same:
                stale.add(cached)
                print(f"differs: {cached} (video {video})", flush=True)
    print(f"{root}: {checked} cached files checked, {len(stale)} differ from a fresh extraction")
    if args.delete:
        for path in stale:
            Path(path).unlink()


if __name__ == "__main__":
    main()
