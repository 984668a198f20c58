"""Tables II and III regenerated from records, in Markdown, LaTeX (booktabs), CSV, HTML and JSON.

Rows follow the survey: grouped by task in the survey's order, reported rows in the printed
order, the survey's column names. Reproduced rows (``--with-runs``) sit right after the survey
row they stand for (matched by ``(task, citation.ref)``); submitted rows follow a task's survey
rows. Only test numbers are tabulated (a run's val records are where choices are made); a
reproduced record over several training seeds prints as ``mean ± std`` (sample std). The best value of each column is in bold; only numbers measured on the column's own
dataset compete for it (a reproduced SynthVid number is shown but never bold), so without
extra rows the bold cells are exactly the survey's.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field

from i2vbench.errors import BenchError
from i2vbench.results.schema import ResultRecord, column_values, table_dataset
from i2vbench.tasks import TASKS, TaskSpec
from i2vbench.taxonomy import PARADIGM_IDS, paradigm

CAPTIONS = {
    "II": "TABLE II: Experimental results of representative methods in fine-grained video "
          "understanding tasks.",
    "III": "TABLE III: Experimental results of representative methods in coarse-grained video "
           "understanding tasks.",
}
FORMATS = ("md", "latex", "csv", "html", "json")
DECIMALS = 1  # the survey prints every number with one decimal


@dataclass
class TableRow:
    """One printed row: a survey row, or the numbers of a reproduced/submitted method."""

    task: str
    kind: str
    method: str
    ref: int | None
    paradigm: str  # taxonomy id or "other"
    category: str  # the paradigm as the row prints it
    venue: str | None  # "CVPR 2023", as printed
    year: int | None
    ilfm: str
    datasets: list[str] = field(default_factory=list)
    values: dict[str, float | None] = field(default_factory=dict)  # column header → value
    stds: dict[str, float] = field(default_factory=dict)  # column header → std over seeds (if several)
    comparable: set[str] = field(default_factory=set)  # columns measured on their own dataset
    best: list[str] = field(default_factory=list)
    printed_as: str | None = None
    survey_row: int | None = None

    @property
    def label(self) -> str:
        """The Method cell: name and reference as the survey prints it; kind for added rows."""
        ref = f" [{self.ref}]" if self.ref is not None else ""
        if self.kind == "reported":
            return f"{self.method}{ref}"
        if self.kind == "reproduced":  # sits under the survey row it reproduces
            return f"↳ {self.method} ({self.kind}, {', '.join(self.datasets)})"
        other = [d for d in self.datasets if d not in TASKS.get(self.task).datasets]
        return f"{self.method}{ref} ({', '.join([self.kind, *other])})"

    def to_json(self) -> dict:
        return {"table": TASKS.get(self.task).table, "task": self.task, "paradigm": self.paradigm,
                "category": self.category, "method": self.method, "printed_as": self.printed_as,
                "ref": self.ref, "venue": self.venue, "year": self.year, "ilfm": self.ilfm,
                "kind": self.kind, "dataset": ", ".join(self.datasets),
                "metrics": dict(self.values), **({"metrics_std": dict(self.stds)} if self.stds else {}),
                "best": list(self.best)}


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.{DECIMALS}f}"


def cell(row: TableRow, header: str) -> str:
    """A value as printed: ``mean ± std`` for a reproduced value over several seeds."""
    v = row.values[header]
    std = row.stds.get(header)
    return fmt(v) if v is None or std is None else f"{fmt(v)} ± {fmt(std)}"


def _category(rec: ResultRecord) -> str:
    if rec.survey and "category" in rec.survey.printed:
        return rec.survey.printed["category"]
    if rec.paradigm in PARADIGM_IDS:
        return paradigm(rec.paradigm).table_label
    return f"Other: {rec.paradigm_description}"


def _row_from(recs: list[ResultRecord], spec: TaskSpec) -> TableRow:
    first = recs[0]
    venue = f"{first.venue} {first.year}" if first.venue and first.year else first.venue
    row = TableRow(
        task=spec.id, kind=first.kind, method=first.method, ref=first.citation.ref,
        paradigm=first.paradigm, category=_category(first), venue=venue, year=first.year,
        ilfm=first.ilfm, values={c.header: None for c in spec.columns},
        printed_as=(first.survey.printed.get("method") if first.survey else None),
        survey_row=first.survey.row if first.survey else None,
    )
    # records over more seeds overwrite those over fewer, and among equals newer runs overwrite
    # older ones, column by column: a later one-seed run (a timing run, a val probe) does not
    # replace a three-seed mean
    for rec in sorted(recs, key=lambda r: len(r.per_seed or ())):
        if rec.dataset not in row.datasets:
            row.datasets.append(rec.dataset)
        on_own = rec.dataset == table_dataset(rec)
        several = rec.per_seed is not None and len(rec.per_seed) > 1
        stds = column_values(rec, std=True)
        for header, v in column_values(rec).items():
            if v is not None or row.values[header] is None:
                row.values[header] = v
                if several and stds.get(header) is not None:
                    row.stds[header] = stds[header]
                else:
                    row.stds.pop(header, None)
            if on_own and v is not None:
                row.comparable.add(header)
            elif v is not None:
                row.comparable.discard(header)
    return row


def _mark_best(rows: list[TableRow], spec: TaskSpec) -> None:
    for col in spec.columns:
        vals = [round(r.values[col.header], DECIMALS) for r in rows
                if col.header in r.comparable and r.values[col.header] is not None]
        if not vals:
            continue
        best = max(vals) if col.higher_is_better else min(vals)
        for r in rows:
            v = r.values[col.header]
            if col.header in r.comparable and v is not None and round(v, DECIMALS) == best:
                r.best.append(col.header)


def _family(rec: ResultRecord, spec: TaskSpec) -> str:
    """Which benchmark a record belongs to, so that one row never mixes benchmarks: the survey's
    datasets form one family; ``synthvid-kinetics400`` and ``synthvid-ssv2`` form another."""
    if rec.dataset in spec.datasets:
        return "survey"
    td = table_dataset(rec)
    return rec.dataset.replace(td, "*") if td and td in rec.dataset else rec.dataset


def build_rows(records: list[ResultRecord], spec: TaskSpec) -> list[TableRow]:
    """A task's rows in print order, with the best cells marked."""
    recs = [r for r in records if r.task == spec.id and r.split != "val"]
    groups: dict[tuple, list[ResultRecord]] = {}
    for r in recs:
        key = ("reported", r.survey.row) if r.kind == "reported" and r.survey else \
            (r.kind, r.method, r.ilfm, r.split, r.method_id, _family(r, spec))
        groups.setdefault(key, []).append(r)
    reported = [_row_from(g, spec) for k, g in groups.items() if k[0] == "reported"]
    reproduced = [_row_from(g, spec) for k, g in groups.items() if k[0] == "reproduced"]
    submitted = [_row_from(g, spec) for k, g in groups.items() if k[0] not in ("reported", "reproduced")]
    rows: list[TableRow] = []
    placed: set[int] = set()
    for row in reported:
        rows.append(row)
        for i, rep in enumerate(reproduced):
            if i not in placed and rep.ref is not None and rep.ref == row.ref:
                rows.append(rep)
                placed.add(i)
    rows += [rep for i, rep in enumerate(reproduced) if i not in placed] + submitted
    _mark_best(rows, spec)
    return rows


def select_tasks(table: str | None = None, task: str | None = None) -> list[TaskSpec]:
    """Tasks to print, in the survey's order; ``table`` is "II" or "III"."""
    if table is not None and table.upper() not in CAPTIONS:
        raise BenchError(f"unknown table {table!r}; expected II or III")
    specs = [TASKS.get(task)] if task else [s for _, s in TASKS.items()]
    if table is not None:
        specs = [s for s in specs if s.table == table.upper()]
        if task and not specs:
            raise BenchError(f"task {task!r} is in Table {TASKS.get(task).table}, not Table {table.upper()}")
    return specs


def venue_header(spec: TaskSpec) -> str:
    """ "Venue" or "Publication", as the survey prints it for this task's block."""
    from i2vbench.results.reported import reported_table

    return reported_table(spec.id).printed_header[3]


def _headers(spec: TaskSpec) -> list[str]:
    arrows = ["↑" if c.higher_is_better else "↓" for c in spec.columns]
    return ["Task", "Category", "Method", venue_header(spec), "ILFM"] + \
        [f"{c.header}{a}" for c, a in zip(spec.columns, arrows, strict=True)]


def _cells(row: TableRow, spec: TaskSpec, first: bool) -> list[str]:
    return [spec.label if first else "", row.category, row.label, row.venue or "-", row.ilfm]


# --- renderers -------------------------------------------------------------------------------

def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def render_md(blocks: list[tuple[TaskSpec, list[TableRow]]]) -> str:
    out: list[str] = []
    table = None
    for spec, rows in blocks:
        if spec.table != table:
            table = spec.table
            out += [f"**{CAPTIONS[table]}**", ""]
        heads = _headers(spec)
        out.append("| " + " | ".join(heads) + " |")
        out.append("|" + "|".join(["---"] * 5 + ["--:"] * len(spec.columns)) + "|")
        for i, row in enumerate(rows):
            vals = [f"**{cell(row, c.header)}**" if c.header in row.best else cell(row, c.header)
                    for c in spec.columns]
            out.append("| " + " | ".join(_md_cell(c) for c in _cells(row, spec, i == 0) + vals) + " |")
        out.append("")
    return "\n".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "²": r"\textsuperscript{2}", "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "↳": r"$\hookrightarrow$"}


def tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def render_latex(blocks: list[tuple[TaskSpec, list[TableRow]]]) -> str:
    """One booktabs ``table*`` per survey table; each task block repeats its header row."""
    out: list[str] = [r"% i2vbench: bench tables --format latex (needs \usepackage{booktabs})"]
    by_table: dict[str, list[tuple[TaskSpec, list[TableRow]]]] = {}
    for spec, rows in blocks:
        by_table.setdefault(spec.table, []).append((spec, rows))
    for table, tblocks in by_table.items():
        ncol = 5 + max(len(s.columns) for s, _ in tblocks)
        out += [r"\begin{table*}[t]", r"\centering", f"\\caption{{{tex(CAPTIONS[table].split(': ', 1)[1])}}}",
                r"\begin{tabular}{" + "l" * 5 + "r" * (ncol - 5) + "}", r"\toprule"]
        for b, (spec, rows) in enumerate(tblocks):
            if b:
                out.append(r"\midrule")
            out.append(" & ".join(tex(h) for h in _headers(spec)) + r" \\")
            out.append(r"\midrule")
            for i, row in enumerate(rows):
                vals = [f"\\textbf{{{tex(cell(row, c.header))}}}" if c.header in row.best
                        else tex(cell(row, c.header)) for c in spec.columns]
                out.append(" & ".join([tex(c) for c in _cells(row, spec, i == 0)] + vals) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table*}", ""]
    return "\n".join(out)


def render_csv(blocks: list[tuple[TaskSpec, list[TableRow]]]) -> str:
    """Wide CSV: fixed leading fields, then every column of the selected tasks (empty where a
    column is not the row's task's; "-" where the survey prints "-"); ``best`` lists bold columns."""
    cols = [c.header for spec, _ in blocks for c in spec.columns]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Table", "Task", "Category", "Paradigm", "Method", "Ref", "Venue", "ILFM", "Kind",
                "Dataset", *cols, "best"])
    for spec, rows in blocks:
        for row in rows:
            vals = [fmt(row.values[h]) if h in row.values else "" for h in cols]
            w.writerow([spec.table, spec.label, row.category, row.paradigm, row.method,
                        row.ref if row.ref is not None else "", row.venue or "", row.ilfm, row.kind,
                        ", ".join(row.datasets), *vals, ";".join(row.best)])
    return buf.getvalue()


def html_table(spec: TaskSpec, rows: list[TableRow], attrs: str = "") -> str:
    """One task's block as an HTML table (also used by the leaderboard site)."""
    e = html.escape
    heads = "".join(f"<th>{e(h)}</th>" for h in _headers(spec))
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td>{e(c)}</td>" for c in _cells(row, spec, i == 0))
        vals = "".join(f'<td class="num"><b>{e(cell(row, c.header))}</b></td>' if c.header in row.best
                       else f'<td class="num">{e(cell(row, c.header))}</td>' for c in spec.columns)
        body.append(f'<tr class="{e(row.kind)}">{cells}{vals}</tr>')
    return (f"<table{attrs}>\n<thead><tr>{heads}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody>\n</table>")


def render_html(blocks: list[tuple[TaskSpec, list[TableRow]]]) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', '<head><meta charset="utf-8">',
           "<title>i2vbench: Tables II and III</title>",
           "<style>table{border-collapse:collapse;margin:1em 0}th,td{padding:2px 8px}"
           "thead th{border-bottom:1px solid #000}td.num{text-align:right}"
           "tr.reproduced,tr.random-init,tr.self-reported,tr.self-scored,tr.verified{font-style:italic}</style>",
           "</head>", "<body>"]
    table = None
    for spec, rows in blocks:
        if spec.table != table:
            table = spec.table
            out.append(f"<h2>{html.escape(CAPTIONS[table])}</h2>")
        out.append(html_table(spec, rows, f' id="{spec.id}"'))
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def render_json(blocks: list[tuple[TaskSpec, list[TableRow]]]) -> str:
    return json.dumps([row.to_json() for _, rows in blocks for row in rows], indent=2,
                      ensure_ascii=False) + "\n"


RENDERERS = {"md": render_md, "latex": render_latex, "csv": render_csv, "html": render_html,
             "json": render_json}


def tables(fmt_: str = "md", table: str | None = None, task: str | None = None,
           with_runs: bool = False, with_submissions: bool = False) -> str:
    """The text ``bench tables`` prints."""
    from i2vbench.results.store import load_records

    if fmt_ not in RENDERERS:
        raise BenchError(f"unknown format {fmt_!r}; expected one of {', '.join(FORMATS)}")
    specs = select_tasks(table, task)
    recs = load_records(task, runs=with_runs, submissions=with_submissions)
    blocks = [(spec, build_rows(recs, spec)) for spec in specs]
    return RENDERERS[fmt_](blocks)
