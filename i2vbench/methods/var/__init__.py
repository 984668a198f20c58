"""VAR methods: one per paradigm of Table III's action-recognition rows, plus two baselines.

Importing this package registers them (see :mod:`i2vbench.methods.registry`), in the order the
run table lists them: baselines, side-tuning, adapters.
"""

import importlib

for _module in ("baselines", "side_tuning", "adapters"):
    importlib.import_module(f"{__name__}.{_module}")
