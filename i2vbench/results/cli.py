"""``bench tables``, ``bench submit``, ``bench leaderboard`` and ``bench leaderboard build``.

Only light modules are imported at start-up; each command imports what it needs.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``bench``."""

    @app.command("tables")
    def tables_cmd(
        table: str = typer.Option(None, "--table", help="II (fine-grained) or III (coarse-grained)"),
        task: str = typer.Option(None, "--task", help="one task, e.g. tvg"),
        fmt: str = typer.Option("md", "--format", help="md, latex, csv, html or json"),
        with_runs: bool = typer.Option(False, "--with-runs", help="add reproduced numbers from results/runs"),
        with_submissions: bool = typer.Option(False, "--with-submissions",
                                              help="add submitted rows from results/submissions"),
    ) -> None:
        """Regenerate the survey's Tables II and III from result records (best per column in bold)."""
        from i2vbench.results.tables import tables

        typer.echo(tables(fmt, table, task, with_runs, with_submissions), nl=False)

    @app.command("submit")
    def submit_cmd(
        result: Path = typer.Argument(None, help="a result YAML (self-reported numbers)"),
        replace: bool = typer.Option(False, "--replace", help="replace an existing submission of the same "
                                     "method, task, dataset and split"),
        predictions: Path = typer.Option(None, "--predictions", help="predictions to score (verified if scored against registered GT, else self-scored)"),
        task: str = typer.Option(None, "--task"),
        dataset: str = typer.Option(None, "--dataset"),
        gt: Path = typer.Option(None, "--gt", help="ground truth the predictions are scored against"),
        split: str = typer.Option("test", "--split"),
        method: str = typer.Option(None, "--method", help="method name as it should be shown"),
        paradigm: str = typer.Option(None, "--paradigm", help="one of `bench list paradigms`, or other"),
        paradigm_description: str = typer.Option(None, "--paradigm-description"),
        ilfm: str = typer.Option(None, "--ilfm", help="the image-language foundation model used"),
        title: str = typer.Option(None, "--title", help="paper title"),
        url: str = typer.Option(None, "--url", help="paper or code URL"),
        ref: int = typer.Option(None, "--ref", help="the survey's reference number, if the method is in it"),
        venue: str = typer.Option(None, "--venue"),
        year: int = typer.Option(None, "--year"),
        submitter: str = typer.Option(None, "--submitter", help="who submits (name or e-mail)"),
        durations: Path = typer.Option(None, "--durations", help="durations file for Charades-STA txt GT"),
    ) -> None:
        """Add a result: self-reported numbers (RESULT.yaml) or predictions scored by the suite."""
        from i2vbench.results import submit

        if predictions is not None and result is not None:
            raise typer.BadParameter("give either RESULT.yaml or --predictions, not both")
        if predictions is not None:
            fields = {"task": task, "dataset": dataset, "split": split, "method": method,
                      "paradigm": paradigm, "paradigm_description": paradigm_description, "ilfm": ilfm,
                      "venue": venue, "year": year,
                      "citation": {"ref": ref, "title": title, "url": url},
                      "provenance": {"submitter": submitter}}
            paths = submit.submit_predictions(predictions, gt, fields, replace=replace,
                                             options={"durations": durations} if durations else {})
        else:
            if result is None:
                raise typer.BadParameter("give RESULT.yaml, or --predictions with --task, --dataset and --gt")
            paths = submit.submit_file(result, replace=replace, submitter=submitter)
        for path in paths:
            typer.echo(f"accepted: {path}")
        if predictions is not None:
            from i2vbench.results.store import read_submission

            for path in paths:
                rec = read_submission(path)
                if rec.kind == "self-scored":
                    missing = ", ".join((rec.provenance.config or {}).get("gt_not_registered", []))
                    typer.echo(f"stored as self-scored, not verified: the ground truth ({missing}) is not "
                               f"registered for {rec.dataset}/{rec.split} (i2vbench/results/trusted.py)",
                               err=True)

    lb = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                     help="Rank all records of a task by its main column; `build` writes the static site.")

    @lb.callback()
    def leaderboard_cmd(
        ctx: typer.Context,
        task: str = typer.Option(None, "--task", help="one task (default: all)"),
        fmt: str = typer.Option("table", "--format", help="table or json"),
        runs: bool = typer.Option(True, "--runs/--no-runs", help="include reproduced records"),
    ) -> None:
        """Rank all records of a task (reported, reproduced, submitted) by its main column."""
        if ctx.invoked_subcommand is not None:
            return
        from i2vbench.results.leaderboard import leaderboard_text

        typer.echo(leaderboard_text(task, fmt, runs=runs), nl=False)

    @lb.command("build")
    def build_cmd(
        out: Path = typer.Option(Path("leaderboard"), "--out", help="output folder"),
        runs: bool = typer.Option(True, "--runs/--no-runs", help="include reproduced records "
                                  "(the committed site is built with --no-runs)"),
    ) -> None:
        """Write the static leaderboard site (index, a page per task, plots); works from file://."""
        from i2vbench.results.site import build_site

        files = build_site(out, runs=runs)
        typer.echo(f"wrote {len(files)} files to {out}")

    app.add_typer(lb, name="leaderboard")
