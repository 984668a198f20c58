"""i2vbench: a reproducible benchmark suite for image-to-video transfer learning."""

__version__ = "0.1.0"
