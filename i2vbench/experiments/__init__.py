"""Runnable experiments behind numbers in the README and the asset cards: each module prints the
table it stands for (``python -m i2vbench.experiments.<name>``)."""
