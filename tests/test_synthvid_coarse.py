"""SynthVid's coarse-grained writers: the MSR-VTT pool, the Kinetics-400-like and SSv2-like splits.

Each is checked for determinism (same seed, same sha256 of every file), for being read by the
real loaders, and for the property its classes or pairs stand for: twins are the reversed video,
Kinetics classes are the main object's appearance, SSv2 classes are ordered motions whose
reverses (and swapped orders) are classes too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.datasets.kinetics import load_kinetics_csv
from i2vbench.datasets.msrvtt import load_caption_json, load_retrieval_csv, load_video_list_csv
from i2vbench.datasets.ssv2 import load_ssv2_json
from i2vbench.datasets.synthvid.kinetics import KineticsConfig, build_kinetics, kinetics_scene
from i2vbench.datasets.synthvid.msrvtt import build_msrvtt
from i2vbench.datasets.synthvid.ssv2 import (
    REVERSE,
    REVERSE_PAIRS,
    TEMPLATES,
    SSv2Config,
    _forward_scene,
    build_ssv2,
    motions_of,
    ssv2_scene,
)
from i2vbench.datasets.synthvid.text import VOCABULARY, tokenize
from i2vbench.datasets.synthvid.world import COLORS, OPPOSITE, SHAPES, scene_from_json
from i2vbench.datasets.synthvid.writer import task_rng

SEED = 5
MSRVTT_N = {"n_train": 4, "n_val": 6, "n_test": 9}
KIN_N = {"n_train": 16, "n_val": 4, "n_test": 4}
SSV2_N = {"n_train": 18, "n_val": 3, "n_test": 3}


def _records(root: Path) -> dict[str, dict]:
    return {r["vid"]: r for r in map(json.loads, (root / "scenes.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("coarse")
    kw = {"seed": SEED, "progress": False, "workers": 1}
    return {"msrvtt": build_msrvtt(base / "msrvtt", **MSRVTT_N, **kw),
            "kinetics": build_kinetics(base / "kinetics", **KIN_N, **kw),
            "ssv2": build_ssv2(base / "ssv2", **SSV2_N, **kw)}


@pytest.mark.parametrize("task", ["msrvtt", "kinetics", "ssv2"])
def test_same_seed_same_bytes(built, tmp_path, task):
    build = {"msrvtt": build_msrvtt, "kinetics": build_kinetics, "ssv2": build_ssv2}[task]
    n = {"msrvtt": MSRVTT_N, "kinetics": KIN_N, "ssv2": SSV2_N}[task]
    again = build(tmp_path / "again", seed=SEED, progress=False, workers=2, **n)
    first = json.loads(built[task].meta_json.read_text())["sha256"]
    assert json.loads(again.meta_json.read_text())["sha256"] == first
    other = build(tmp_path / "other", seed=SEED + 1, progress=False, workers=1, **n)
    assert json.loads(other.meta_json.read_text())["sha256"] != first


# -- MSR-VTT ----------------------------------------------------------------------------------


def test_msrvtt_real_loaders_read_the_pool(built):
    ds = built["msrvtt"]
    train = load_video_list_csv(ds.train_csv)
    assert train == [f"video{i}" for i in range(4)]
    for split, msr, first in (("val", "validate", 4), ("test", "test", 10)):
        rows = load_retrieval_csv(ds.retrieval_csv(split))
        n = MSRVTT_N[f"n_{split}"]
        assert sorted(v for v, _ in rows) == sorted(f"video{first + i}" for i in range(n))
        refs = load_caption_json(ds.data_json, split=msr)
        assert set(refs) == {v for v, _ in rows}
        assert all(sent == refs[v][0] for v, sent in rows)  # the csv sentence is reference 0
    refs = load_caption_json(ds.data_json)
    assert len(refs) == 19 and all(len(c) == 10 and len(set(c)) == 10 for c in refs.values())
    header = ds.test_csv.read_text().splitlines()[0]
    assert header == "key,vid_key,video_id,sentence"
    assert all((ds.video(v)).is_file() for v in refs)


def test_msrvtt_captions_name_every_event_in_order_within_tinyclip(built):
    vocab = set(VOCABULARY)
    for r in _records(built["msrvtt"].root).values():
        for c in r["captions"]:
            words = tokenize(c)
            assert len(words) <= 23 and set(words) <= vocab, c
        full = r["captions"][0]
        names = [f"{r['objects'][e['object']]['color']} {r['objects'][e['object']]['shape']}"
                 for e in r["events"]]
        assert all(n in full for n in names)  # reference 0 names every event's object
        if " after " not in full:  # "B after A" is the one style that names the later event first
            pos = [full.index(n) for n in names]
            assert pos == sorted(pos) or len(set(names)) < len(names), full


def test_msrvtt_twins_are_the_reversed_video(built):
    ds = built["msrvtt"]
    recs = _records(ds.root)
    assert ds.twins("train") == []
    for split, n in (("val", 6), ("test", 9)):
        pairs = ds.twins(split)
        assert len(pairs) == round(n / 3 / 2)  # a third of the videos are in a twin pair
        for a, b in pairs:
            ra, rb = recs[a], recs[b]
            assert ra["split"] == rb["split"] == split
            assert (ra["twin"], rb["twin"], ra["reversed"], rb["reversed"]) == (b, a, False, True)
            same = [(o["track_id"], o["color"], o["shape"]) for o in ra["objects"]]
            assert same == [(o["track_id"], o["color"], o["shape"]) for o in rb["objects"]]
            fwd = [(e["object"], e["motion"]) for e in ra["events"]]
            back = [(e["object"], OPPOSITE[e["motion"]]) for e in reversed(rb["events"])]
            assert fwd == back and fwd != [(o, OPPOSITE[m]) for o, m in reversed(fwd)]
            assert ra["captions"][0] != rb["captions"][0]
            fa, fb = scene_from_json(ra).render(), scene_from_json(rb).render()
            assert np.array_equal(fa, fb[::-1])  # the same stills in reverse order


# -- Kinetics ---------------------------------------------------------------------------------


def test_kinetics_real_loader_reads_every_split(built):
    ds = built["kinetics"]
    assert ds.classes == KineticsConfig().classes and len(ds.classes) == 16
    recs = _records(ds.root)
    for split in ("train", "val", "test"):
        lab = load_kinetics_csv(ds.csv(split), ds.label_map)
        assert lab.classes == ds.classes and len(lab.ids) == KIN_N[f"n_{split}"]
        assert all(re.fullmatch(r"[A-Za-z0-9]{11}", y) for y in lab.ids)
        for (clip, label), k in zip(ds.clips(split), lab.labels, strict=True):
            assert ds.video(clip).is_file() and recs[clip]["label"] == label == ds.classes[k]
    assert sorted(load_kinetics_csv(ds.train_csv).labels.tolist()) == list(range(16))  # balanced
    assert ds.val_csv.read_text().splitlines()[1].startswith('"')  # labels with a space are quoted


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), index=st.integers(0, 500))
def test_kinetics_class_is_the_main_objects_appearance(seed, index):
    cfg = KineticsConfig()
    scene = kinetics_scene(seed, "train", index, cfg)
    j = scene.extra["main_object"]
    main = scene.objects[j]
    assert f"{COLORS[main.color]} {SHAPES[main.shape]}" == cfg.classes[index % 16]
    assert j == len(scene.objects) - 1  # drawn on top
    assert (scene.alpha[:, j] == 1).all()  # visible in every frame
    others = np.delete(scene.half, j, axis=1)
    assert (scene.half[:, j:j + 1] >= 1.25 * others).all()  # the largest in every frame
    assert len({o.name for o in scene.objects}) == len(scene.objects)


# -- SSv2 -------------------------------------------------------------------------------------


def test_ssv2_real_loader_reads_every_split(built):
    ds = built["ssv2"]
    ids = []
    for split in ("train", "val", "test"):
        lab = load_ssv2_json(ds.json(split))
        assert len(lab.ids) == SSV2_N[f"n_{split}"] and len(lab.classes) == 18
        assert all(ds.video(i).is_file() for i in lab.ids)
        ids += lab.ids
    assert len(set(ids)) == len(ids)
    train = load_ssv2_json(ds.train_json)
    assert sorted(train.labels.tolist()) == list(range(18))  # every class, both orders included
    assert ds.val_json.name == "something-something-v2-validation.json"


def test_ssv2_classes_are_closed_under_reversal_and_order_swap():
    names = {t.replace("[", "").replace("]", "") for t in TEMPLATES}
    assert len(names) == 18
    motions = {motions_of(t): t for t in TEMPLATES}
    assert len(motions) == 18  # a class is its motion sequence
    for t in TEMPLATES:
        m = motions_of(t)
        assert motions_of(REVERSE[t]) == tuple(OPPOSITE[x] for x in reversed(m)) != m
        if len(m) == 2 and all(x.startswith("move") for x in m):
            assert m[::-1] in motions  # "left then up" and "up then left" are both classes
    assert ("appear", "shrink") in motions and ("grow", "disappear") in motions


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), index=st.integers(0, 500))
def test_ssv2_clip_does_its_template(seed, index):
    cfg = SSv2Config()
    scene = ssv2_scene(seed, "val", index, cfg)
    t = TEMPLATES[index % 18]
    assert scene.extra["template"] == t
    main = scene.extra["main_object"]
    assert [e.motion for e in scene.events] == list(motions_of(t))
    assert all(e.obj == main for e in scene.events)  # distractors stay still
    starts = [e.start for e in scene.events]
    assert starts == sorted(starts)


def test_ssv2_reverse_class_clip_is_the_forward_clip_backwards():
    """A class and its reverse have the same stills: a reverse class's clip is a forward clip
    (from the same stream) played backwards, frame for frame."""
    cfg = SSv2Config()
    forwards = {a for a, _ in REVERSE_PAIRS}
    for index in range(18):
        t = TEMPLATES[index]
        src = _forward_scene(task_rng(1, "test", index, "ssv2/scene"), t if t in forwards else REVERSE[t], cfg)
        want = src.render() if t in forwards else src.render()[::-1]
        assert np.array_equal(ssv2_scene(1, "test", index, cfg).render(), want)
