"""`python -m i2vbench.perf train --quick` prints per-method step costs and the side-by-side ratio."""

from __future__ import annotations


def test_perf_train_quick_times_every_trained_method(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path))
    from i2vbench.perf.__main__ import main

    assert main(["train", "--quick"]) == 0
    out = capsys.readouterr().out
    for name in ("moment_detr", "r2_tuning", "temporal_adapter"):
        assert name in out
    assert "prior" not in out  # training-free: nothing to time
    assert "side by side, 1 thread each (s)" in out and "speed-up" in out
