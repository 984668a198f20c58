"""Structure an outside reader relies on: loaders do not import metrics, shared pieces live once."""

from __future__ import annotations

import subprocess
import sys

import pytest

LOADERS = ["i2vbench.datasets." + m for m in
           ("nextqa", "msrvtt", "how2qa", "msvd_qa", "kinetics", "ssv2", "tao", "vidstg", "charades_sta", "qa")]


@pytest.mark.parametrize("module", LOADERS)
def test_loaders_import_no_metric(module):
    code = f"import sys, {module}; print(sorted(k for k in sys.modules if k.startswith('i2vbench.metrics')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", (module, out)


def test_qaitem_lives_in_datasets():
    from i2vbench.datasets.qa import QAItem
    from i2vbench.metrics import videoqa

    assert videoqa.QAItem is QAItem and QAItem.__module__ == "i2vbench.datasets.qa"


def test_hota_and_teta_share_one_matching_module():
    import i2vbench.metrics.hota as hota
    import i2vbench.metrics.tao_matching as tm
    import i2vbench.metrics.teta as teta

    assert hota.cluster_match is tm.cluster_match is teta.cluster_match
    assert not [n for n in vars(hota) if n.startswith("_") and getattr(teta, n, None) is getattr(hota, n)
                and not n.startswith("__")]
