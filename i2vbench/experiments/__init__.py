"""Runnable experiments behind numbers in the README and the asset cards: each module prints the
table it stands for (``python -m i2vbench.experiments.<name>``)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from i2vbench.errors import BenchError


def run_main(main: Callable[[], object]) -> int:
    """An experiment's ``main`` as a program: bad input (a missing record, an unknown method) ends
    in one line on stderr and ``bench``'s exit code, not a traceback."""
    try:
        main()
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0
