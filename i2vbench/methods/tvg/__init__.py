"""Temporal video grounding methods; importing this module registers them.

Registration order is the order `bench run` trains them and lists them: the training-free
baseline first, then frozen-feature paradigms, then adapted-feature ones.
"""

# isort: skip_file
from i2vbench.methods.tvg import prior  # noqa: F401
from i2vbench.methods.tvg import moment_detr  # noqa: F401
from i2vbench.methods.tvg import r2_tuning  # noqa: F401
from i2vbench.methods.tvg import adapter  # noqa: F401
from i2vbench.methods.tvg import vtimellm  # noqa: F401
