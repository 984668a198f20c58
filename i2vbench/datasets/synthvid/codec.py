"""H.264 encode/decode with PyAV: the videos SynthVid writes, and the codec effect on frames.

Videos are libx264, yuv420p (what players and real datasets use), single-threaded and without
macroblock-tree rate control so the bytes are reproducible. :func:`roundtrip` pushes any frames through the same encoder and decoder, so
the frame-caption set used for pretraining carries the same compression artefacts (mostly 4:2:0
chroma blur at object edges) as frames decoded from the benchmark's videos.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

CRF = 18
PRESET = "veryfast"
X264_PARAMS = "mbtree=0"


_REFORMATTER = None


def _reformatter():
    """One cached swscale context: VideoFrame.reformat builds a new one per call (25x slower)."""
    global _REFORMATTER
    if _REFORMATTER is None:
        from av.video.reformatter import VideoReformatter

        _REFORMATTER = VideoReformatter()
    return _REFORMATTER


def encode(frames: np.ndarray, fps: float, dest: str | Path | io.BytesIO, crf: int = CRF,
           intra: bool = False) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as an H.264 mp4 at ``fps``.

    ``intra`` codes every frame as a key frame, so each decoded frame depends on its own pixels
    only (used for independent frames; videos use the normal GOP).
    """
    from fractions import Fraction

    import av

    rate = Fraction(fps).limit_denominator(1000)
    with av.open(dest, "w", format="mp4") as c:
        st = c.add_stream("libx264", rate=rate)
        st.width, st.height = int(frames.shape[2]), int(frames.shape[1])
        st.pix_fmt = "yuv420p"
        # mbtree off: with it, x264 gave different bytes for the same frames in ~1 run in 3
        # (measured on 40 repeated encodes); without it, identical every time.
        params = X264_PARAMS + (":keyint=1:scenecut=0" if intra else "")
        st.options = {"crf": str(crf), "preset": PRESET, "threads": "1", "x264-params": params}
        st.codec_context.time_base = 1 / rate
        conv = _reformatter()
        for i, fr in enumerate(frames):
            # Convert to yuv420p first and hand x264 a freshly packed frame.
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")
            vf = av.VideoFrame.from_ndarray(conv.reformat(rgb, format="yuv420p").to_ndarray(),
                                            format="yuv420p")
            vf.pts = i
            for p in st.encode(vf):
                c.mux(p)
        for p in st.encode():
            c.mux(p)


def decode(src: str | Path | io.BytesIO) -> np.ndarray:
    """All frames of a video as (T, H, W, 3) uint8 RGB."""
    import av

    conv = _reformatter()
    with av.open(src) as c:
        frames = [conv.reformat(f, format="rgb24").to_ndarray() for f in c.decode(video=0)]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def roundtrip(frames: np.ndarray, fps: float = 4.0, chunk: int = 256, crf: int = CRF) -> np.ndarray:
    """Independent frames after H.264 encoding and decoding with the videos' settings.

    Frames are coded as key frames (unrelated frames would otherwise be predicted from each
    other), so the result for a frame does not depend on its neighbours. Measured mean absolute
    pixel difference to the raw render: ~2.2 here vs ~2.7 for frames decoded from the videos.
    """
    out = []
    for a in range(0, len(frames), chunk):
        buf = io.BytesIO()
        encode(frames[a:a + chunk], fps, buf, crf=crf, intra=True)
        buf.seek(0)
        out.append(decode(buf))
    return np.concatenate(out) if out else frames.copy()
