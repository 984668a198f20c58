"""i2vbench: a reproducible benchmark suite for image-to-video transfer learning.

Importing the package changes no environment variable and no global setting of the process it
is imported into; the ``bench`` entry point (:func:`i2vbench.cli.main`) sets its thread policy.
"""

__version__ = "0.1.0"
