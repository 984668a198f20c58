"""Text-video retrieval methods; importing this module registers them.

Registration order is the order `bench run` trains them and lists them: the training-free
baseline first, then frozen-feature paradigms, then adapted-feature ones.
"""

# isort: skip_file
from i2vbench.methods.vtr import zero_shot  # noqa: F401
from i2vbench.methods.vtr import teachclip  # noqa: F401
from i2vbench.methods.vtr import clip4clip  # noqa: F401
from i2vbench.methods.vtr import discovla  # noqa: F401
from i2vbench.methods.vtr import vop  # noqa: F401
from i2vbench.methods.vtr import mv_adapter  # noqa: F401
