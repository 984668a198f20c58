"""Spatio-temporal video grounding methods; importing this module registers them.

Registration order is the order `bench run` trains and lists them: the frozen frame-wise
baseline first, then the adapted-feature ones.
"""

# isort: skip_file
from i2vbench.methods.stvg import base  # noqa: F401
from i2vbench.methods.stvg import tubedetr  # noqa: F401
from i2vbench.methods.stvg import cgstvg  # noqa: F401
from i2vbench.methods.stvg import spacevllm  # noqa: F401
