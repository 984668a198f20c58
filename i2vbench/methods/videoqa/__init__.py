"""VideoQA methods; importing this module registers them.

Registration order is the order `bench run` trains and lists them: the two baselines first,
then the frozen-feature paradigms, then adapted-feature ones.
"""

# isort: skip_file
from i2vbench.methods.videoqa import baselines  # noqa: F401
from i2vbench.methods.videoqa import videodistill  # noqa: F401
from i2vbench.methods.videoqa import atp  # noqa: F401
from i2vbench.methods.videoqa import vitis  # noqa: F401
from i2vbench.methods.videoqa import tem_adapter  # noqa: F401
