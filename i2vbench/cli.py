"""The ``bench`` command.

Each area of the suite adds its own commands through a ``register(app)`` function in its
``cli`` module, so this file stays a table of contents. Heavy imports (torch) happen inside the
commands, never at start-up, so ``bench --help`` and ``bench eval`` start fast.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import typer

from i2vbench.errors import BenchError

app = typer.Typer(
    name="bench",
    help="i2vbench: image-to-video transfer learning benchmark suite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = (
    "i2vbench.benchmarks.cli",  # bench run
    "i2vbench.metrics.cli",  # bench eval
    "i2vbench.results.cli",  # bench tables, submit, leaderboard
    "i2vbench.methods.cli",  # bench pretrain
    "i2vbench.listing",  # bench list
)


@app.callback()
def _root() -> None:
    """i2vbench: image-to-video transfer learning benchmark suite."""


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def _say_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A warning from the library, said as the CLI says things: one ``warning:`` line on stderr
    (Python's default format adds the file, line number and the source line that warned)."""
    typer.echo(f"warning: {message}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``bench``; a user error prints one line on stderr and gives exit code 2."""
    # Measured on 2-core CPUs: OpenMP's default spin-waiting made 5-10x slower training steps
    # whenever another process shared the cores. Set here, by the program, before any command
    # loads torch (and so OpenMP); a library import must not change its host's environment.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _say_warning
            app(args=argv, prog_name="bench")  # typer reports usage errors itself and exits
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BenchError as e:
        typer.echo(f"error: {e}", err=True)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
