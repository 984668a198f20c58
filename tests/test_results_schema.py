"""The record schema: strict fields, located messages, and the run.json contract with `bench run`."""

from __future__ import annotations

import json
import math

import pytest

from i2vbench.errors import BenchError
from i2vbench.results.schema import (
    ResultRecord,
    column_values,
    known_metrics,
    load_run_records,
    metric_bounds,
    parse_record,
    table_dataset,
)


def _rec(**over):
    base = {
        "task": "tvg", "dataset": "synthvid-tvg", "split": "test", "method": "Moment-DETR",
        "method_id": "moment_detr", "paradigm": "post_network_tuning", "ilfm": "tinyclip",
        "citation": {"ref": 47, "title": "Detecting Moments and Highlights in Videos via Natural "
                     "Language Queries", "url": None},
        "metrics": {"R1@0.3": 61.25, "R1@0.5": 44.0, "R1@0.7": 20.5, "mIoU": 41.75, "R5@0.5": 80.0},
        "kind": "reproduced",
        "provenance": {"code_version": "abc", "config": {"lr": 1e-4}, "seed": 0, "hardware": "cpu",
                       "wall_time_s": 12.5, "packages": {"torch": "2.14.1"},
                       "created": "2026-11-22T01:00:00Z"},
    }
    base.update(over)
    return base


def test_valid_record_round_trips_through_json():
    r = parse_record(_rec(), "x")
    again = ResultRecord.model_validate(json.loads(json.dumps(r.model_dump(mode="json"))))
    assert again == r
    # synthvid-tvg stands beside Charades-STA: all four TVG columns, R5 not tabulated
    assert table_dataset(r) == "charades-sta"
    assert column_values(r) == {"R@0.3": 61.25, "R@0.5": 44.0, "R@0.7": 20.5, "m_IoU": 41.75}


def test_multi_dataset_task_fills_only_its_dataset_columns():
    r = parse_record(_rec(task="var", dataset="ssv2", paradigm="adapter",
                          metrics={"Top-1": 70.6, "Top-5": 92.7}), "x")
    assert column_values(r) == {"SSv2 Top-1": 70.6, "SSv2 Top-5": 92.7}
    r = parse_record(_rec(task="var", dataset="synthvid-kinetics400", paradigm="adapter",
                          metrics={"Top-1": 50.0}), "x")
    assert column_values(r) == {"K400 Top-1": 50.0}
    r = parse_record(_rec(task="var", dataset="mystery", paradigm="adapter", metrics={"Top-1": 50.0}), "x")
    assert column_values(r) == {}


@pytest.mark.parametrize("over, expect", [
    ({"metrics": {"R1@0.3": math.nan}}, "x [metrics.R1@0.3]: expected a finite number, got nan"),
    ({"metrics": {"R1@0.3": 100.5}}, "x [metrics.R1@0.3]: 100.5 is out of range; expected a value in [0, 100]"),
    ({"metrics": {"R1@0.3": "50"}}, "x [metrics.R1@0.3]: Input should be a valid number"),
    ({"metrics": {}}, "x [metrics]: expected at least one metric"),
    ({"paradigm": "magic"}, "x [paradigm]: unknown paradigm 'magic'"),
    ({"paradigm": "other"}, "paradigm 'other' needs a paradigm_description"),
    ({"task": "nope"}, "x [task]: unknown task 'nope'"),
    ({"kind": "guessed"}, "x [kind]: Input should be 'reported', 'reproduced', 'random-init', 'self-reported', 'self-scored' or 'verified'"),
    ({"colour": "red"}, "x [colour]: unknown field"),
    ({"citation": {"ref": 47}}, "x [citation.title]: required field is missing"),
    ({"provenance": {"predictions_sha256": "abc"}}, "x [provenance.predictions_sha256]:"),
])
def test_invalid_records_name_the_field(over, expect):
    with pytest.raises(BenchError) as e:
        parse_record(_rec(**over), "x")
    assert expect in str(e.value)


def test_each_problem_gets_its_own_line():
    with pytest.raises(BenchError) as e:
        parse_record(_rec(paradigm="magic", metrics={"a": -1.0, "b": math.inf}), "f.yaml")
    lines = str(e.value).splitlines()
    assert lines == [
        "f.yaml [paradigm]: unknown paradigm 'magic'; expected one of knowledge_distillation, "
        "post_network_tuning, side_tuning, full_fine_tuning, partial_tuning, extra_models, adapter, "
        "lora, prompt_tuning or 'other' with a paradigm_description",
        "f.yaml [metrics.a]: -1 is out of range; expected a value in [0, 100]",
        "f.yaml [metrics.b]: expected a finite number, got inf",
    ]


def test_metric_bounds_and_known_metrics():
    assert metric_bounds("t2v/R@sum") == (0.0, 300.0)
    assert metric_bounds("CIDEr") == (0.0, 1000.0)
    assert metric_bounds("v2t/MdR") == (1.0, math.inf)
    assert metric_bounds("Top-1") == (0.0, 100.0)
    assert known_metrics("tvg")[:4] == ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")
    assert "declarative/m_vIoU" in known_metrics("stvg")


def test_load_run_records(tmp_path):
    runs = tmp_path / "runs"
    (runs / "20261122-a").mkdir(parents=True)
    (runs / "20261122-a" / "run.json").write_text(json.dumps({"task": "tvg", "records": [_rec()]}))
    (runs / ".20261122-b.tmp").mkdir()  # a run still being written: ignored
    (runs / "20261122-c").mkdir()  # no run.json: ignored
    recs = load_run_records(runs)
    assert [r.method for r in recs] == ["Moment-DETR"]
    assert load_run_records(tmp_path / "absent") == []
    (runs / "20261122-d").mkdir()
    (runs / "20261122-d" / "run.json").write_text(json.dumps({"records": [_rec(metrics={"mIoU": 101})]}))
    with pytest.raises(BenchError, match=r"20261122-d/run.json records\[0\] \[metrics.mIoU\]"):
        load_run_records(runs)
    (runs / "20261122-d" / "run.json").write_text(json.dumps({"results": []}))
    with pytest.raises(BenchError, match=r"run.json \[records\]: expected a list"):
        load_run_records(runs)
