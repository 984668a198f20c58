"""Frozen ILFM features per video: extracted from decoded frames and cached, or read from disk.

Two inputs are first class:

- raw videos, decoded with PyAV at ``fps`` clips per second and encoded by the backbone; the
  result is cached under ``cache_dir()/features/<backbone id>/<sampling>/<video key>.npz`` so a
  second run (or another method) never re-encodes a video;
- pre-extracted features in the Moment-DETR / UniVTG release layout: ``vid_clip/<vid>.npz``
  (key ``features``, (T, D)) and ``txt_clip/<qid>.npz`` (``last_hidden_state`` (L, W),
  ``pooler_output`` (D)), read at an explicit ``clip_len`` seconds per clip, shapes checked on load.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from i2vbench.errors import BenchError
from i2vbench.io import atomic_write_bytes, check_npz
from i2vbench.paths import cache_dir, require_safe_name, safe_name

# What a method can read from the feature layer; a method declares the ones it needs (it is
# skipped, with the reason, when the input lacks one) and the ones it uses when present.
INPUTS: dict[str, str] = {
    "pooled": "the ILFM's pooled frame embeddings",
    "layers": "the ILFM's per-layer tokens",
    "frames": "the decoded frames (pixels)",
    "text_tokens": "the ILFM's word tokens",
}


def check_inputs(names: frozenset[str] | set[str], owner: str) -> None:
    """Refuse a declaration naming an input the feature layer does not know (a typo would
    otherwise make a method silently never skip)."""
    bad = sorted(set(names) - set(INPUTS))
    if bad:
        raise BenchError(f"{owner}: unknown inputs {bad}; known: {', '.join(INPUTS)}")


def cache_id(backbone_id: str, init_seed: int | None = None) -> str:
    """The feature cache's name for an encoder: its backbone id, which pins pretrained weights by
    their hash; a random init (id ``...-random``) is pinned by the seed it was built with."""
    if not backbone_id.endswith("-random"):
        return backbone_id
    if init_seed is None:
        raise BenchError(f"features of the randomly initialised backbone {backbone_id!r} can only be "
                         "cached with the seed it was built with")
    return f"{backbone_id}-seed{init_seed}"


@dataclass(frozen=True)
class Sampling:
    """How frames become features; part of the cache key."""

    fps: float = 2.0
    layers: int = 3  # how many of the last blocks' tokens to keep (side-tuning reads them)
    grid: int = 4  # patch tokens are average-pooled to grid × grid (+ the class token)
    keep_frames: bool = True  # keep the decoded frames (methods that train through the ILFM)

    def key(self) -> str:
        return f"fps{self.fps:g}-L{self.layers}-g{self.grid}"


def frame_indices(n_frames: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread uniformly over ``n_frames`` decoded frames: the centre of each
    of ``num_frames`` equal segments (a frame repeats when the video is shorter). How clip-level
    tasks (VTR, VAR) pick a fixed number of frames from the cached ones."""
    return np.minimum(((np.arange(num_frames) + 0.5) * n_frames / num_frames).astype(int), n_frames - 1)


@dataclass
class VideoFeatures:
    pooled: np.ndarray  # (T, D) float32, the ILFM's joint-space frame embeddings
    duration: float
    layers: np.ndarray | None = None  # (T, K, 1 + grid², W) float16, last K blocks' tokens
    frames: np.ndarray | None = None  # (T, H, W, 3) uint8


@dataclass
class TextFeatures:
    tokens: np.ndarray  # (Q, L, W) float32, padded
    mask: np.ndarray  # (Q, L) bool, True at real tokens
    pooled: np.ndarray  # (Q, D) float32


def _video_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def pool_tokens(hidden, grid: int):  # noqa: ANN001, ANN202 (torch tensors)
    """(B, 1 + g*g, W) → (B, 1 + grid*grid, W): class token + average-pooled patch grid."""
    import torch

    b, n, w = hidden.shape
    g = int(round((n - 1) ** 0.5))
    if g * g != n - 1:
        raise BenchError(f"cannot pool {n - 1} patch tokens into a square grid")
    patches = hidden[:, 1:].transpose(1, 2).reshape(b, w, g, g)
    pooled = torch.nn.functional.adaptive_avg_pool2d(patches, min(grid, g)).flatten(2).transpose(1, 2)
    return torch.cat([hidden[:, :1], pooled], dim=1)


def encode_frames(backbone, frames: np.ndarray, sampling: Sampling, batch_size: int = 256):  # noqa: ANN001
    """Encode (T, H, W, 3) uint8 frames → (pooled (T, D) float32, layers (T, K, N, W) float16)."""
    import torch

    from i2vbench.devices import autocast

    pooled_out, layer_out = [], []
    with torch.no_grad(), autocast():
        for i in range(0, len(frames), batch_size):
            x = backbone.preprocess(torch.from_numpy(frames[i:i + batch_size]))
            out = backbone.encode_frames(x, output_hidden_states=sampling.layers > 0)
            pooled_out.append(out.pooled.float())
            if sampling.layers > 0:
                hs = out.hidden_states[-sampling.layers:]
                layer_out.append(torch.stack([pool_tokens(h.float(), sampling.grid) for h in hs], dim=1))
    pooled = torch.cat(pooled_out).cpu().numpy().astype(np.float32)
    layers = torch.cat(layer_out).cpu().numpy().astype(np.float16) if layer_out else None
    return pooled, layers


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes of an uncompressed ``.npz`` of ``arrays``, a function of the arrays alone.

    ``np.savez`` stamps each member with the current time, so the same features written twice
    (by two shards, or a shard and a single run) would differ in bytes; here every member has
    the zip epoch as its time, so equal features are equal files.
    """
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16
            z.writestr(info, member.getvalue())
    return buf.getvalue()


def _save(path: Path, feats: VideoFeatures) -> None:
    arrays = {"pooled": feats.pooled, "duration": np.float64(feats.duration)}
    if feats.layers is not None:
        arrays["layers"] = feats.layers
    if feats.frames is not None:
        arrays["frames"] = feats.frames
    atomic_write_bytes(path, npz_bytes(arrays))


def _load(path: Path) -> VideoFeatures:
    with np.load(check_npz(path, "cached features"), allow_pickle=False) as z:
        return VideoFeatures(
            pooled=z["pooled"], duration=float(z["duration"]),
            layers=z["layers"] if "layers" in z.files else None,
            frames=z["frames"] if "frames" in z.files else None,
        )


def feature_root(backbone_id: str, sampling: Sampling, init_seed: int | None = None) -> Path:
    """The cache folder of one encoder and sampling: ``cache_dir()/features/<cache id>/<sampling>``."""
    return cache_dir() / "features" / safe_name(cache_id(backbone_id, init_seed)) / sampling.key()


INDEX_FILE = "index.json"


def read_index(root: Path) -> dict[str, dict]:
    """``root``'s index (video id → cache file, its sha256, the video's size), written by
    ``bench extract --merge`` (:mod:`i2vbench.datasets.shards`); empty when there is none."""
    from i2vbench.io import read_json

    path = root / INDEX_FILE
    if not path.is_file():
        return {}
    data = read_json(path, "feature index")
    if not isinstance(data, dict) or not isinstance(data.get("videos"), dict):
        raise BenchError(f"{path}: expected an object with a 'videos' mapping (written by bench extract --merge)")
    return data["videos"]


def cache_file(root: Path, vid: str, path: Path, index: Mapping[str, dict] | None = None) -> Path:
    """Where the features of video ``vid`` at ``path`` are cached under ``root``.

    By default ``<safe id>-<hash of the video's resolved path, size and mtime>.npz`` (ids never
    become paths as they are). A merged index entry for ``vid`` with the same video size wins:
    features extracted by shards on other machines, where the videos live under another mount
    point, are found by id.
    """
    entry = (index or {}).get(vid)
    if isinstance(entry, dict) and entry.get("video_size") == path.stat().st_size:
        name = str(entry.get("file", ""))
        if name.endswith(".npz") and Path(name).name == name and not name.startswith("."):
            return root / name
    return root / f"{safe_name(vid)}-{_video_key(path)}.npz"


def extract_video_features(
    backbone,  # noqa: ANN001 (an ILFM; kept untyped so this module imports without torch)
    backbone_id: str,
    videos: Mapping[str, Path],
    sampling: Sampling,
    progress: bool = True,
    batch_frames: int = 512,
    jobs: int = 1,
    init_seed: int | None = None,
) -> dict[str, VideoFeatures]:
    """Features for every video, from the cache where present, else decoded and encoded now.

    The cache is keyed by video (path, size, mtime), encoder (:func:`cache_id`: weights hash, or
    ``init_seed`` for a random init) and sampling (:meth:`Sampling.key`).

    Uncached videos are shared among ``jobs`` forked workers with one intra-op thread each: the
    tiny ILFM's forward pass and PyAV decoding are bound by per-call overhead, so two workers
    on two cores finish sooner than one process with two threads (``python -m i2vbench.perf
    features`` measures it). Workers write the cache; this process reads their results back.
    """
    from i2vbench.parallel import map_in_workers

    root = feature_root(backbone_id, sampling, init_seed)
    index = read_index(root)
    out: dict[str, VideoFeatures] = {}
    todo = []
    for vid, path in videos.items():
        if not Path(path).is_file():
            raise BenchError(f"video not found for {vid!r}: {path}")
        cached = cache_file(root, vid, Path(path), index)
        if cached.is_file():
            feats = _load(cached)
            if not sampling.keep_frames or feats.frames is not None:
                out[vid] = feats
                continue
        todo.append((vid, Path(path), cached))
    jobs = max(1, min(jobs, len(todo) // 8))  # a few videos are not worth a worker
    if jobs == 1:
        out.update(_extract(backbone, backbone_id, todo, sampling, progress, batch_frames))
    else:
        chunks = [todo[i::jobs] for i in range(jobs)]  # interleaved: chunks of equal length

        def run(chunk: list) -> None:
            _extract(backbone, backbone_id, chunk, sampling, progress, batch_frames)

        map_in_workers(run, chunks, jobs, threads=1)
        out.update((vid, _load(cached)) for vid, _, cached in todo)
    return {vid: out[vid] for vid in videos}


def _extract(backbone, backbone_id: str, todo: list[tuple[str, Path, Path]], sampling: Sampling,  # noqa: ANN001
             progress: bool, batch_frames: int) -> dict[str, VideoFeatures]:
    """Decode, encode and cache ``todo`` = [(vid, video path, cache path)], in this process."""
    from tqdm import tqdm

    from i2vbench.datasets.video import decode_frames
    from i2vbench.parallel import worker_slot

    out: dict[str, VideoFeatures] = {}
    # decode video by video, but encode frames of several videos per forward pass: the tiny ILFM
    # runs ~2x faster at 512 frames per batch than at one video's 40
    pending: list[tuple[str, Path, np.ndarray, float]] = []

    def flush() -> None:
        frames = np.concatenate([p[2] for p in pending])
        pooled, layers = encode_frames(backbone, frames, sampling, batch_size=batch_frames)
        start = 0
        for vid, cached, fr, duration in pending:
            sl = slice(start, start + len(fr))
            start += len(fr)
            feats = VideoFeatures(pooled[sl], duration, None if layers is None else layers[sl],
                                  fr if sampling.keep_frames else None)
            _save(cached, feats)
            out[vid] = feats
        pending.clear()

    for vid, path, cached in tqdm(todo, desc=f"features ({backbone_id})", unit="video",
                                  disable=not progress or not todo, leave=False, position=worker_slot()):
        frames, duration = decode_frames(path, sampling.fps, size=backbone.image_size)
        pending.append((vid, cached, frames, duration))
        if sum(len(p[2]) for p in pending) >= batch_frames:
            flush()
    if pending:
        flush()
    return out


@dataclass(frozen=True)
class FeatureLayout:
    """Where a feature release keeps its per-video and per-query files under its root folder.

    Video files are ``<video_dir>/<vid>.npz`` (key ``features``, (T, D)); query files
    ``<text_dir>/<text_prefix><qid>.npz`` (``last_hidden_state`` (L, W), ``pooler_output`` (D)).
    """

    name: str
    video_dir: str
    text_dir: str
    text_prefix: str
    source: str

    def text_file(self, root: Path, qid: str) -> Path:
        return Path(root) / self.text_dir / f"{self.text_prefix}{require_safe_name(str(qid), 'query id', root)}.npz"


FEATURE_LAYOUTS: dict[str, FeatureLayout] = {lay.name: lay for lay in (
    FeatureLayout("univtg", "vid_clip", "txt_clip", "", "UniVTG's released Charades-STA / QVHighlights features"),
    FeatureLayout("moment_detr", "clip_features", "clip_text_features", "qid",
                  "Moment-DETR's QVHighlights release and the QD-DETR / CG-DETR family"),
    FeatureLayout("lighthouse", "clip", "clip_text", "qid", "lighthouse's features/<dataset>/ folders"),
)}


def detect_feature_layout(root: Path, layout: str = "auto") -> FeatureLayout:
    """The layout named, or the one whose two folders ``root`` has (one error when none or several)."""
    if layout != "auto":
        if layout not in FEATURE_LAYOUTS:
            raise BenchError(f"unknown features layout {layout!r}; expected auto or one of {', '.join(FEATURE_LAYOUTS)}")
        return FEATURE_LAYOUTS[layout]
    root = Path(root)
    if not root.is_dir():
        raise BenchError(f"pre-extracted features folder not found: {root}")
    found = [lay for lay in FEATURE_LAYOUTS.values() if (root / lay.video_dir).is_dir() and (root / lay.text_dir).is_dir()]
    if len(found) == 1:
        return found[0]
    known = "; ".join(f"{lay.video_dir}/ + {lay.text_dir}/{lay.text_prefix}<qid>.npz ({lay.name}: {lay.source})"
                      for lay in FEATURE_LAYOUTS.values())
    if not found:
        raise BenchError(f"{root}: no known pre-extracted feature layout: expected {known}")
    raise BenchError(f"{root}: holds the folders of several feature layouts ({', '.join(lay.name for lay in found)}); "
                     "name one: features_layout: <name> in the run config or --features-layout")


# How far a video's clip count may be from duration / clip_len before it is reported: one clip
# (a release may round the last partial clip either way) plus float slack.
CLIP_COUNT_TOLERANCE = 1.0


def load_univtg_features(root: Path, vids: list[str], durations: Mapping[str, float],
                         clip_len: float | None = None, layout: FeatureLayout | None = None
                         ) -> dict[str, VideoFeatures]:
    """Read ``<root>/vid_clip/<vid>.npz`` (key ``features``) as released by Moment-DETR/UniVTG
    (another :class:`FeatureLayout`'s folder with ``layout``).

    Every array must be (T, D) with one D for all videos, checked here, naming the file, so a
    wrong-width file fails before any training rather than after it. With ``clip_len`` (seconds
    per clip) each T is checked against the video's duration: the releases do not say their clip
    rate, and a wrong one silently shifts every predicted moment. When most videos disagree by more
    than :data:`CLIP_COUNT_TOLERANCE` clips the rate is wrong and the load is refused, with the
    rate the files suggest; when a few do, a warning names them (real duration tables are off for
    some videos).
    """
    layout = layout or FEATURE_LAYOUTS["univtg"]
    out: dict[str, VideoFeatures] = {}
    widths: dict[int, list[Path]] = {}
    off: list[tuple[Path, int, float]] = []  # (file, clips, duration) beyond the tolerance
    for vid in vids:
        path = Path(root) / layout.video_dir / f"{require_safe_name(vid, 'video id', root)}.npz"
        if not path.is_file():
            raise BenchError(f"pre-extracted features missing for video {vid!r}: {path}")
        with np.load(check_npz(path, "pre-extracted features"), allow_pickle=False) as z:
            if "features" not in z.files:
                raise BenchError(f"{path}: expected key 'features', found {z.files}")
            feats = z["features"]
        if feats.ndim != 2 or feats.shape[0] == 0:
            raise BenchError(f"{path}: 'features' must be (T, D) with T >= 1 clips, got shape {feats.shape}")
        widths.setdefault(feats.shape[1], []).append(path)
        duration = float(durations[vid])
        if clip_len is not None and abs(feats.shape[0] - duration / clip_len) > CLIP_COUNT_TOLERANCE + 1e-6:
            off.append((path, feats.shape[0], duration))
        out[vid] = VideoFeatures(feats.astype(np.float32), duration)
    if len(widths) > 1:
        # the odd ones out are the fewer: name them, not whichever file happened to be read first
        common, *odd = sorted(widths, key=lambda w: -len(widths[w]))
        bad = [(p, w) for w in odd for p in widths[w]]
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise BenchError(f"'features' widths differ: {', '.join(f'{p} is {w} wide' for p, w in bad[:5])}{more}, "
                         f"but {len(widths[common])} of {len(vids)} videos are {common} wide (e.g. "
                         f"{widths[common][0]}): every video must have the same feature width")
    if off:
        _report_clip_counts(off, len(vids), clip_len)
    return out


def _report_clip_counts(off: list[tuple[Path, int, float]], n: int, clip_len: float | None) -> None:
    path, clips, duration = off[0]
    example = f"e.g. {path}: {clips} clips × {clip_len:g} s = {clips * clip_len:g} s, duration {duration:g} s"
    what = (f"{len(off)} of {n} videos have a clip count more than {CLIP_COUNT_TOLERANCE:g} clip off "
            f"duration / clip_len at clip_len {clip_len:g} s ({example})")
    if 2 * len(off) > n:
        # the median seconds per clip of the disagreeing videos: what the files were extracted at
        seen = float(np.median([d / c for _, c, d in off]))
        nice = round(seen * 2) / 2 if seen >= 0.5 else float(f"{seen:.1g}")  # releases use 0.5, 1, 2 s
        raise BenchError(f"{what}: the clip rate is wrong; these features look like {seen:.3g} s clips "
                         f"(UniVTG and lighthouse Charades-STA releases: 1 s): pass --clip-len {nice:g} "
                         f"(clip_len: {nice:g} in the run config)")
    import warnings

    more = f" (and {len(off) - 5} more)" if len(off) > 5 else ""
    warnings.warn(f"{what}; those files: {', '.join(str(p) for p, _, _ in off[:5])}{more}", stacklevel=3)


def load_univtg_text(root: Path, qids: list[str], widths: tuple[int, int] | None = None,
                     layout: FeatureLayout | None = None) -> TextFeatures:
    """Read ``<root>/txt_clip/<qid>.npz`` (``last_hidden_state`` (L, W), ``pooler_output`` (D)), or
    ``layout``'s files (e.g. Moment-DETR's ``clip_text_features/qid<qid>.npz``).

    Shapes are checked on load, naming the file: one W and one D for every query, equal to
    ``widths`` (W, D) when given (another split's, so a wrong test file fails before training).
    """
    toks, pooled = [], []
    seen: dict[tuple[int, int], list[Path]] = {}
    layout = layout or FEATURE_LAYOUTS["univtg"]
    for qid in qids:
        path = layout.text_file(root, qid)
        if not path.is_file():
            raise BenchError(f"pre-extracted text features missing for query {qid!r}: {path}")
        with np.load(check_npz(path, "pre-extracted text features"), allow_pickle=False) as z:
            for key in ("last_hidden_state", "pooler_output"):
                if key not in z.files:
                    raise BenchError(f"{path}: expected key {key!r}, found {z.files}")
            tok, pool = z["last_hidden_state"], z["pooler_output"]
        if tok.ndim != 2 or tok.shape[0] == 0:
            raise BenchError(f"{path}: 'last_hidden_state' must be (L, W) with L >= 1 tokens, got shape {tok.shape}")
        # (D) as written by UniVTG; (1, D) also seen in the wild
        if pool.ndim not in (1, 2) or (pool.ndim == 2 and pool.shape[0] != 1):
            raise BenchError(f"{path}: 'pooler_output' must be (D), got shape {pool.shape}")
        seen.setdefault((tok.shape[1], pool.shape[-1]), []).append(path)
        toks.append(tok.astype(np.float32))
        pooled.append(pool.astype(np.float32).reshape(-1))
    if len(seen) > 1 or (widths is not None and set(seen) - {widths}):
        # the odd ones out are the fewer (or those unlike the other splits): name them
        common = widths if widths is not None else max(seen, key=lambda w: len(seen[w]))
        bad = [(p, w) for w in seen if w != common for p in seen[w]]
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        where = ("the other splits' queries" if widths is not None
                 else f"{len(seen[common])} of {len(qids)} queries (e.g. {seen[common][0]})")
        raise BenchError(f"text feature widths (last_hidden_state W, pooler_output D) differ: "
                         f"{', '.join(f'{p} has {w}' for p, w in bad[:5])}{more}, but {where} have {common}: "
                         "every query must have the same widths")
    return _pad_text(toks, np.stack(pooled))


def _pad_text(tokens: list[np.ndarray], pooled: np.ndarray) -> TextFeatures:
    length = max(t.shape[0] for t in tokens)
    width = tokens[0].shape[1]
    arr = np.zeros((len(tokens), length, width), np.float32)
    mask = np.zeros((len(tokens), length), bool)
    for i, t in enumerate(tokens):
        arr[i, : len(t)] = t
        mask[i, : len(t)] = True
    return TextFeatures(arr, mask, pooled)


def encode_texts(backbone, texts: list[str], batch_size: int = 512) -> TextFeatures:  # noqa: ANN001
    """Frozen word tokens and pooled embeddings of every query.

    Each word token is its last-layer feature joined with its input word embedding when the
    ILFM exposes one (see :class:`~i2vbench.methods.backbones.base.TextOutput`).
    """
    import torch

    toks, pooled = [], []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            out = backbone.encode_text(texts[i:i + batch_size])
            words = out.tokens if out.embeddings is None else torch.cat([out.tokens, out.embeddings], -1)
            for t, m in zip(words.float().numpy(), out.mask.numpy(), strict=True):
                toks.append(t[m])
            pooled.append(out.pooled.float().numpy())
    return _pad_text(toks, np.concatenate(pooled).astype(np.float32))
