"""Video decoding with PyAV, sampled at a fixed rate of clips per second."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import av
import numpy as np

from i2vbench.errors import BenchError


def sample_times(duration: float, fps: float) -> np.ndarray:
    """Centres of the clips ``[i/fps, (i+1)/fps)`` covering ``[0, duration)`` (at least one)."""
    n = max(1, int(np.ceil(duration * fps - 1e-6)))
    return (np.arange(n) + 0.5) / fps


def decode_frames(path: str | Path, fps: float, size: int | None = None) -> tuple[np.ndarray, float]:
    """Decode ``path`` and return one RGB frame per clip (``(T, H, W, 3)`` uint8) and the duration.

    Each clip takes the frame on screen at the clip's centre, so the
    features line up with the ``[i/fps, (i+1)/fps)`` windows the grounding heads predict on.
    Only the frames sampled are converted to RGB arrays (SynthVid's 4 fps videos at 2 clips/s:
    half of them; a 30 fps video at 2 clips/s: one in fifteen).
    """
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames, stamps = [], []
            for frame in container.decode(stream):
                if size is not None:
                    frame = frame.reformat(width=size, height=size)
                frames.append(frame)
                stamps.append(float(frame.pts * frame.time_base) if frame.pts is not None else len(stamps))
            rate = float(stream.average_rate or stream.guessed_rate or 0) or None
    except (av.error.FFmpegError, OSError) as e:
        raise BenchError(f"{path}: cannot decode video ({e})") from None
    if not frames:
        raise BenchError(f"{path}: no video frames")
    stamps_arr = np.asarray(stamps)
    step = 1.0 / rate if rate else (stamps_arr[1] - stamps_arr[0] if len(stamps) > 1 else 1.0)
    duration = float(stamps_arr[-1] + step)
    times = sample_times(duration, fps)
    idx = (np.searchsorted(stamps_arr, times, side="right") - 1).clip(0, len(frames) - 1)
    return np.stack([frames[i].to_ndarray(format="rgb24") for i in idx]), duration


VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mkv")


def find_videos(videos_dir: Path, ids: Iterable[str], stem_of: Callable[[str], str] | None = None,
                pattern: str = "<id>") -> dict[str, Path]:
    """Video id → its file in ``videos_dir`` or one folder down (mmaction2's ``<label>/`` layout).

    Files are matched by listing the folder (``stem_of`` maps a file stem to the id it holds,
    e.g. Kinetics' ``<id>_<start>_<end>``), so an id read from an annotation file never becomes
    a path: ``../../x`` simply matches nothing. Every id must be found; the error names how many
    are missing, one of them, and the ``pattern`` looked for.
    """
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise BenchError(f"videos folder not found: {videos_dir} (give --videos DIR)")
    found: dict[str, Path] = {}
    for p in sorted([*videos_dir.glob("*"), *videos_dir.glob("*/*")]):
        if p.suffix.lower() in VIDEO_EXTS and p.is_file():
            found.setdefault(stem_of(p.stem) if stem_of else p.stem, p)
    ids = list(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise BenchError(f"{len(missing)} videos not found in {videos_dir} (looked for {pattern} with "
                         f"{'/'.join(VIDEO_EXTS)}), e.g. {missing[0]!r}; give --videos DIR")
    return {i: found[i] for i in ids}
