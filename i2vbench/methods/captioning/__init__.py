"""Video captioning methods; importing this module registers them.

Registration order is the order `bench run` trains and lists them: the baselines first, then
frozen-feature paradigms, then adapted-feature ones.
"""

# isort: skip_file
from i2vbench.methods.captioning import baselines  # noqa: F401
from i2vbench.methods.captioning import clip4caption  # noqa: F401
from i2vbench.methods.captioning import mams  # noqa: F401
from i2vbench.methods.captioning import mplug2  # noqa: F401
from i2vbench.methods.captioning import swinbert  # noqa: F401
from i2vbench.methods.captioning import vid2seq  # noqa: F401
from i2vbench.methods.captioning import qadapter  # noqa: F401
