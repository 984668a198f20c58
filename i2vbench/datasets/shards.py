"""Sharded feature extraction: ``bench extract --shard i/N`` and ``--merge``.

A run's feature extraction is one :class:`FeatureJob` per dataset (its videos at one sampling,
declared by the task's runner with :func:`~i2vbench.benchmarks.runner.register_features`).
Shard ``i`` of ``N`` takes the videos whose id hashes to ``i`` (:func:`shard_of`: a stable hash of
the id alone, so the split does not depend on list order, on the other videos, or on the
machine), writes their features into the ordinary feature cache (each file atomically, the same
bytes a single run writes) and then, last, its manifest: which videos, which files, their
sha256. A shard that died part-way has no manifest, so ``--merge`` can tell a finished shard
from a partial one; it checks that every shard's manifest is there and lists exactly that
shard's videos with files of the recorded hashes, and only then writes the cache's index
(:data:`~i2vbench.datasets.features.INDEX_FILE`), which the runners read.

Any launcher can run the shards: a SLURM array (``--shard $SLURM_ARRAY_TASK_ID/64``), torchrun,
or a shell loop; they only share the cache folder (``I2VBENCH_CACHE`` on a shared file system).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from i2vbench.datasets.features import INDEX_FILE, Sampling, cache_file, feature_root, read_index
from i2vbench.errors import BenchError
from i2vbench.io import atomic_write_text, dump_json, read_json
from i2vbench.paths import safe_name


@dataclass(frozen=True)
class FeatureJob:
    """One feature extraction of a run: a dataset's videos, encoded at one sampling."""

    dataset: str
    videos: dict[str, Path]  # video id → file
    sampling: Sampling
    init_seed: int | None = None  # seed of a randomly initialised backbone (see features.cache_id)


def parse_shard(text: str) -> tuple[int, int]:
    """``"3/64"`` → ``(3, 64)``; one readable error otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise BenchError(f"--shard expects I/N with 0 <= I < N (e.g. 0/8), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_of(vid: str, n: int) -> int:
    """The shard of video ``vid`` among ``n``: a stable hash of the id alone."""
    return int.from_bytes(hashlib.sha256(f"shard:{vid}".encode("utf-8", "surrogatepass")).digest()[:8], "big") % n


def job_key(job: FeatureJob) -> str:
    """Names one job's shards: its dataset, the sampling, and the video set (ids and file sizes),
    so shards of another video list or sampling never count towards this one."""
    h = hashlib.sha256(job.sampling.key().encode())
    for vid in sorted(job.videos):
        h.update(json.dumps([vid, Path(job.videos[vid]).stat().st_size]).encode())
    return f"{safe_name(job.dataset)}-{h.hexdigest()[:12]}"


def _manifest(root: Path, job: FeatureJob, i: int, n: int) -> Path:
    return root / "shards" / job_key(job) / f"shard-{i}-of-{n}.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shard_videos(job: FeatureJob, i: int, n: int) -> dict[str, Path]:
    return {vid: p for vid, p in job.videos.items() if shard_of(vid, n) == i}


def extract_shard(backbone, backbone_id: str, job: FeatureJob, shard: tuple[int, int] = (0, 1),  # noqa: ANN001
                  progress: bool = True, jobs: int = 1) -> Path:
    """Extract shard ``shard`` = (i, N) of ``job`` into the feature cache; return its manifest."""
    from i2vbench.datasets.features import extract_video_features

    i, n = shard
    root = feature_root(backbone_id, job.sampling, job.init_seed)
    mine = shard_videos(job, i, n)
    extract_video_features(backbone, backbone_id, mine, job.sampling, progress=progress, jobs=jobs,
                           init_seed=job.init_seed)
    index = read_index(root)
    entries = {}
    for vid, path in sorted(mine.items()):
        f = cache_file(root, vid, Path(path), index)
        entries[vid] = {"file": f.name, "sha256": _sha256(f), "video_size": Path(path).stat().st_size}
    manifest = _manifest(root, job, i, n)
    atomic_write_text(manifest, dump_json({"schema": "i2vbench.feature-shard/1", "dataset": job.dataset,
                                           "backbone": backbone_id, "sampling": job.sampling.key(),
                                           "shard": [i, n], "videos": entries}))
    return manifest


def merge_shards(backbone_id: str, job: FeatureJob, n: int) -> Path:
    """Check that all ``n`` shards of ``job`` finished and agree with the cache; write the index.

    Refused, naming the shard, when a manifest is missing (the shard did not run or did not
    finish: how many of its videos are cached already is said), lists other videos than the
    shard's, or names a file that is gone or has other bytes than recorded.
    """
    root = feature_root(backbone_id, job.sampling, job.init_seed)
    merged: dict[str, dict] = {}
    problems = []
    for i in range(n):
        mine = shard_videos(job, i, n)
        path = _manifest(root, job, i, n)
        if not path.is_file():
            done = sum(cache_file(root, vid, Path(p)).is_file() for vid, p in mine.items())
            state = "partial" if done else "missing"
            problems.append(f"shard {i}/{n} is {state}: no manifest {path} ({done} of its {len(mine)} videos "
                            f"cached); run `bench extract ... --shard {i}/{n}` (again)")
            continue
        data = read_json(path, "feature shard manifest")
        videos = data.get("videos") if isinstance(data, dict) else None
        if not isinstance(videos, dict) or data.get("shard") != [i, n]:
            problems.append(f"shard {i}/{n}: {path} is not this shard's manifest")
            continue
        if set(videos) != set(mine):
            lost, extra = sorted(set(mine) - set(videos)), sorted(set(videos) - set(mine))
            problems.append(f"shard {i}/{n} is partial: {path} lacks {len(lost)} of its videos (e.g. {lost[:3]}) "
                            f"and lists {len(extra)} others (e.g. {extra[:3]}); run it again")
            continue
        for vid, entry in videos.items():
            f = root / str(entry.get("file", ""))
            if Path(str(entry.get("file", ""))).name != entry.get("file") or not f.is_file():
                problems.append(f"shard {i}/{n}: features of {vid!r} listed in {path} are gone ({f})")
                break
            if _sha256(f) != entry.get("sha256"):
                problems.append(f"shard {i}/{n}: {f} has other bytes than {path} records (rewritten since?)")
                break
        else:
            merged.update(videos)
    if problems:
        raise BenchError(f"cannot merge {n} shards of {job.dataset} features ({root}):\n  " + "\n  ".join(problems))
    index = read_index(root)
    index.update(merged)
    out = root / INDEX_FILE
    atomic_write_text(out, dump_json({"schema": "i2vbench.feature-index/1", "backbone": backbone_id,
                                      "sampling": job.sampling.key(), "videos": dict(sorted(index.items()))}))
    return out


def shard_count(backbone_id: str, job: FeatureJob) -> int:
    """N of the shards written for ``job`` (for ``--merge``): from the manifests' names. A single
    unsharded extraction (``0/1``) counts only when no sharded one exists."""
    d = feature_root(backbone_id, job.sampling, job.init_seed) / "shards" / job_key(job)
    seen = {int(m.group(1)) for f in (d.glob("shard-*-of-*.json") if d.is_dir() else [])
            if (m := re.fullmatch(r"shard-\d+-of-(\d+)\.json", f.name))}
    sharded = seen - {1}
    if len(sharded) > 1:
        raise BenchError(f"{d}: shards of several counts N {sorted(sharded)}; remove the stale ones")
    if not seen:
        raise BenchError(f"no shard of {job.dataset} features has finished yet (nothing in {d}); "
                         "run `bench extract ... --shard I/N` for every I first")
    return next(iter(sharded)) if sharded else 1
