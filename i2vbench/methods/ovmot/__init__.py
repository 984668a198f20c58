"""OV-MOT methods: one per paradigm of Table II's OV-MOT rows, plus the baseline.

Importing this package registers them (see :mod:`i2vbench.methods.registry`), in the order the
run table lists them.
"""

import importlib

for _module in ("baseline", "ovtrack", "masa", "nettrack", "ovtr"):
    importlib.import_module(f"{__name__}.{_module}")
