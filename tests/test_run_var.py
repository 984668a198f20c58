"""VAR: the block parts AIM re-wires, the clip encoder every video method shares, the VAR
methods on SynthVid-shaped data, and ``bench run --task var`` on small real-format folders."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from test_backbones import hf_clip_dir, hf_siglip_dir, open_clip_arch  # noqa: F401 (fixtures)

from i2vbench.methods.backbones import load_backbone


def _parts_equal_block(m) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    x = torch.randn(3, 1 + (m.image_size // 8) ** 2, m.width)
    with torch.no_grad():
        for i, blk in enumerate(m.visual_blocks):
            torch.testing.assert_close(m.block_parts(i)(x), blk(x), rtol=0, atol=1e-5)


def test_block_parts_recompose_each_block(open_clip_arch, hf_clip_dir, hf_siglip_dir):  # noqa: F811
    from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig
    from i2vbench.methods.paradigms.adapter import TemporalAdapter, insert_adapters

    tiny = TinyCLIP(TinyCLIPConfig(depth=2)).eval()
    _parts_equal_block(tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _parts_equal_block(load_backbone(f"open_clip:{open_clip_arch}"))
    _parts_equal_block(load_backbone(f"hf:{hf_clip_dir}"))
    _parts_equal_block(load_backbone(f"hf:{hf_siglip_dir}"))
    # still the model's own block after a paradigm wrapped it
    insert_adapters(tiny, lambda w: TemporalAdapter(w), layers=[1])
    assert tiny.block_parts(1).ln1 is tiny.visual_blocks[1].block.ln_1


def test_encode_clips_is_per_frame_encoding_with_the_clip_length_set():
    from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig
    from i2vbench.methods.paradigms.common import FRAMES_PER_CLIP, encode_clips

    m = TinyCLIP(TinyCLIPConfig(depth=2)).eval()
    seen = []
    m.visual_blocks[0].register_forward_hook(lambda *_: seen.append(FRAMES_PER_CLIP.value))
    frames = torch.randint(0, 256, (2, 3, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        out = encode_clips(m, frames, output_hidden_states=True)
        ref = m.encode_frames(m.preprocess(frames.flatten(0, 1)), output_hidden_states=True)
    assert seen == [3, None]  # set inside encode_clips only
    assert out.pooled.shape == (2, 3, 128) and out.tokens.shape == (2, 3, 65, 128)
    torch.testing.assert_close(out.pooled.flatten(0, 1), ref.pooled)
    torch.testing.assert_close(out.hidden_states[0].flatten(0, 1), ref.hidden_states[0])


@pytest.mark.parametrize("name", ["aim", "st_adapter"])
def test_adapter_methods_read_the_class_token_the_whole_last_block_computes(name):
    """AIM and ST-Adapter run their last block's MLP on the class token alone (the head reads
    nothing else): what they read equals the class token of the whole adapted block's output,
    with trained-looking (non-zero) adapters and a temporal mix across the clip's frames."""
    from i2vbench.methods.paradigms.common import num_frames_context
    from i2vbench.methods.registry import get_method

    torch.manual_seed(0)
    method = get_method("var", name).build({"backbone": load_backbone("tinyclip"), "num_classes": 5,
                                            "num_frames": 4})
    for p in method.backbone.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.2)
    blocks = method.backbone.visual_blocks
    x = torch.randn(2 * 4, 65, 128)
    with torch.no_grad(), num_frames_context(4):
        full = blocks[-1](x)[:, :1]
        got = method._last_block_class_token(blocks[-1], x)
        frozen = method.backbone.block_parts(len(blocks) - 1)(x)[:, :1]
    assert got.shape == (8, 1, 128)
    torch.testing.assert_close(got, full, rtol=0, atol=1e-5)
    assert not torch.allclose(full, frozen, atol=1e-2)  # the adapters are in what is compared


# ------------------------------------------------------------------- bench run --task var end to end

ONE_EPOCH = ("val_fraction: 0.3\noverrides: {linear_probe: {epochs: 1}, evl: {epochs: 1}, dist: {epochs: 1}, "
             "aim: {epochs: 1}, st_adapter: {epochs: 1}}\n")
METHODS = {"zero_shot", "linear_probe", "evl", "dist", "aim", "st_adapter"}


def _real_kinetics(root: Path) -> Path:
    """A small folder in the real Kinetics-400 layout: train/val csvs (no labelled test), no label
    map (classes from the training csv), clips one class folder down as mmaction2 keeps them."""
    from i2vbench.datasets.synthvid.kinetics import build_kinetics

    k = build_kinetics(root / "gen-k", n_train=16, n_val=8, n_test=4, progress=False)
    d = root / "k400"
    (d / "videos").mkdir(parents=True)
    for s in ("train", "val"):
        shutil.copy(k.csv(s), d / f"kinetics-400_{s}.csv")
        for clip, label in k.clips(s):
            (d / "videos" / label).mkdir(exist_ok=True)
            shutil.copy(k.video(clip), d / "videos" / label / f"{clip}.mp4")
    return d


def _real_ssv2(root: Path) -> Path:
    """A small folder in the real SSv2 layout: the test json has ids only (no labels), as SSv2's."""
    from i2vbench.datasets.synthvid.ssv2 import build_ssv2

    s = build_ssv2(root / "gen-s", n_train=18, n_val=9, n_test=4, progress=False)
    d = root / "ssv2"
    shutil.copytree(s.videos_dir, d / "videos")
    shutil.copy(s.labels_json, d / s.labels_json.name)
    for split in ("train", "val"):
        shutil.copy(s.json(split), d / s.json(split).name)
    test = json.loads(s.json("test").read_text())
    (d / "something-something-v2-test.json").write_text(json.dumps([{"id": r["id"]} for r in test]))
    return d


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, open_clip_arch) -> dict:  # noqa: F811
    """Both real layouts through `bench run`, every method for one epoch, on a random tiny
    open_clip ViT (32 px, 2 blocks): AIM re-wires its blocks through block_parts."""
    from conftest import run_bench

    tmp = tmp_path_factory.mktemp("var")
    cfg = tmp / "cfg.yaml"
    cfg.write_text(ONE_EPOCH)
    mp = pytest.MonkeyPatch()
    mp.setenv("I2VBENCH_CACHE", str(tmp / "cache"))
    out = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, root in (("kinetics400", _real_kinetics(tmp)), ("ssv2", _real_ssv2(tmp))):
                code, stdout, stderr = run_bench(
                    "run", "--task", "var", "--dataset", name, "--data-root", str(root), "--backbone",
                    f"open_clip:{open_clip_arch}", "--config", str(cfg), "--out", str(tmp / "runs"),
                    "--json", "--no-progress")
                assert code == 0, stderr
                out[name] = (json.loads(stdout), root)
    finally:
        mp.undo()
    return out


def test_real_layouts_run_every_method(real_runs):
    for name, (res, _) in real_runs.items():
        assert res["task"] == "var" and [d["dataset"] for d in res["datasets"]] == [name]
        assert {(r["method"], r["split"]) for r in res["results"]} == {(m, s) for m in METHODS for s in ("val", "test")}
        for r in res["results"]:
            assert set(r["metrics"]) == {"Top-1", "Top-5", "mean_class_accuracy"}
            assert 0 <= r["metrics"]["Top-1"] <= r["metrics"]["Top-5"] <= 100
        stats = res["datasets"][0]["stats"]
        # no labelled test file: test is the official val file, val is held out of train
        n_official_val = 8 if name == "kinetics400" else 9
        assert stats["n_test_clips"] == n_official_val
        assert stats["n_train_clips"] + stats["n_val_clips"] == (16 if name == "kinetics400" else 18)


def test_written_predictions_score_the_same_through_bench_eval(real_runs, bench):
    res, root = real_runs["kinetics400"]
    run = json.loads((Path(res["run_dir"]) / "run.json").read_text())
    for r in run["results"]:
        if r["split"] != "test":
            continue
        pred = Path(res["run_dir"]) / r["per_seed"][0]["predictions"]
        code, out, err = bench("eval", "--task", "var", "--gt", str(root / "kinetics-400_val.csv"),
                               "--pred", str(pred), "--json")
        assert code == 0, err
        scored = json.loads(out)
        scored = scored.get("metrics", scored)
        for k in ("Top-1", "Top-5"):
            assert scored[k] == pytest.approx(r["metrics"][k], abs=1e-9)
        if r["method"] == "evl":  # the record says how each method was configured on this dataset
            assert r["method_config"]["train"]["epochs"] == 1 and r["method_config"]["dim"] == 64


def test_a_dataset_recipe_sits_between_the_defaults_and_the_run_overrides():
    from i2vbench.methods.registry import get_method

    evl = get_method("var", "evl")
    default = evl.make_config().train.epochs
    assert evl.make_config(None, "synthvid-ssv2").train.epochs == default
    assert evl.make_config(None, "synthvid-kinetics400").train.epochs < default
    assert evl.make_config({"epochs": 2}, "synthvid-kinetics400").train.epochs == 2


def test_bad_inputs_are_one_error_naming_the_file(tmp_path, bench):
    d = tmp_path / "k"
    d.mkdir()
    (d / "kinetics-400_train.csv").write_text("label,youtube_id,time_start,time_end,split\nred circle,abc,0,4,train\n")
    (d / "kinetics-400_val.csv").write_text("label,youtube_id,time_start,time_end,split\nblue star,xyz,0,4,val\n")
    code, _, err = bench("run", "--task", "var", "--dataset", "kinetics400", "--data-root", str(d), "--no-progress",
                         "--methods", "linear_probe")
    assert code != 0 and "kinetics-400_val.csv:2" in err and "blue star" in err
    code, _, err = bench("run", "--task", "var", "--dataset", "ssv2", "--data-root", str(d), "--no-progress")
    assert code != 0 and "something-something-v2-train.json" in err


def test_synthvid_var_gt_is_trusted_per_split_with_its_label_map():
    from i2vbench.results.trusted import synthvid_hashes

    names = {split: sorted(v.split(" — ")[0] for v in h.values())
             for split, h in synthvid_hashes("synthvid-ssv2").items()}
    assert names["val"] == ["something-something-v2-labels.json", "something-something-v2-validation.json"]
    names = {split: sorted(v.split(" — ")[0] for v in h.values())
             for split, h in synthvid_hashes("synthvid-kinetics400").items()}
    assert names["test"] == ["kinetics-400_test.csv", "label_map_k400.txt"]
