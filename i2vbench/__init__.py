"""i2vbench: a reproducible benchmark suite for image-to-video transfer learning."""

import os

# Measured on 2-core CPUs: OpenMP's default spin-waiting made 5-10x slower training steps
# whenever another process shared the cores. It must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
