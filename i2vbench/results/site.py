"""``bench leaderboard build``: a static leaderboard site that works from ``file://``.

An index and one page per task, each with the ranked table of :mod:`i2vbench.results.leaderboard`
(sortable columns, filters by paradigm, ILFM and kind, in ``site.js``) and plots of the main
metric by paradigm and by year, drawn as inline SVG here. No CDN, no timestamps, fixed orders:
the same records always give byte-identical files, so a test can check that the committed
``leaderboard/`` is up to date (the committed site is built with ``--no-runs``, as run records
are local to a machine).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from i2vbench.results.leaderboard import Ranked, leaderboard
from i2vbench.results.tables import TableRow, fmt
from i2vbench.tasks import TASKS, TaskSpec
from i2vbench.taxonomy import PARADIGMS

ASSETS = Path(__file__).resolve().parent / "site_assets"
KIND_COLOURS = {"reported": "#1f6feb", "reproduced": "#cf222e", "random-init": "#6e7781", "self-reported": "#1a7f37",
                "self-scored": "#9a6700", "verified": "#8250df"}
_e = html.escape


def _page(title: str, body: list[str], crumb: str = "") -> str:
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", '<link rel="stylesheet" href="site.css">', "</head>", "<body>",
        f'<header class="top"><a href="index.html">i2vbench leaderboard</a>{crumb}</header>',
        "<main>", *body, "</main>", '<script src="site.js"></script>', "</body>", "</html>", ""])


# --- plots -----------------------------------------------------------------------------------

def _nice_range(values: list[float]) -> tuple[float, float, float]:
    """Axis limits on a round step, with 2 to 6 steps between them."""
    lo, hi = min(values), max(values)
    span = max(hi - lo, 0.5)
    step = next(s for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1e9) if span / s <= 5)
    lo_t = math.floor(lo / step + 1e-9) * step
    hi_t = math.ceil(hi / step - 1e-9) * step
    if lo - lo_t < 0.1 * step and lo_t - step >= 0 or lo < 0:  # keep dots off the axis, scores >= 0
        lo_t -= step
    if hi_t - hi < 0.1 * step:
        hi_t += step
    return round(lo_t, 6), round(hi_t, 6), step


Point = tuple[str, float, str, TableRow]  # category, value, label, the row it shows


def svg_strip(points: list[Point], categories: list[str], ylabel: str, title: str) -> str:
    """A strip plot: one column per category, one dot per point; dots carry the row's paradigm,
    ILFM and kind so that the page's filters hide them with the table rows."""
    w, h, ml, mr, mt, mb = 700, 340, 52, 130, 14, 106
    pw, ph = w - ml - mr, h - mt - mb
    lo, hi, step = _nice_range([p[1] for p in points])

    def y(v: float) -> float:
        return mt + ph * (1 - (v - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           f'role="img" aria-label="{_e(title)}">']
    for k in range(round((hi - lo) / step) + 1):
        t = lo + k * step
        out.append(f'<line x1="{ml}" x2="{w - mr}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#d0d7de"/>')
        out.append(f'<text x="{ml - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{round(t, 6):g}</text>')
    out.append(f'<text transform="translate(14,{mt + ph / 2:.1f}) rotate(-90)" text-anchor="middle">'
               f"{_e(ylabel)}</text>")
    slot = pw / max(len(categories), 1)
    for i, cat in enumerate(categories):
        cx = ml + slot * (i + 0.5)
        out.append(f'<text transform="translate({cx:.1f},{mt + ph + 12}) rotate(30)" '
                   f'text-anchor="start">{_e(cat)}</text>')
        members = [p for p in points if p[0] == cat]
        for j, (_, v, label, row) in enumerate(members):
            dx = (j - (len(members) - 1) / 2) * min(9.0, slot * 0.6 / max(len(members), 1))
            out.append(f'<circle cx="{cx + dx:.1f}" cy="{y(v):.1f}" r="5" fill="{KIND_COLOURS[row.kind]}" '
                       f'fill-opacity="0.85" data-paradigm="{_e(row.paradigm)}" data-ilfm="{_e(row.ilfm)}" '
                       f'data-kind="{_e(row.kind)}"><title>{_e(label)}: {fmt(v)} ({_e(row.kind)})</title></circle>')
    out.append(f'<line x1="{ml}" x2="{w - mr}" y1="{mt + ph}" y2="{mt + ph}" stroke="#57606a"/>')
    out.append("</svg>")
    return "\n".join(out)


def _legend(kinds: list[str]) -> str:
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{KIND_COLOURS[k]}"></i>{_e(k)}</span>' for k in kinds) + "</p>"


def _plots(spec: TaskSpec, ranked: list[Ranked]) -> list[str]:
    main = spec.main_column
    out = []
    for ds in dict.fromkeys(x.dataset for x in ranked if x.rank is not None):
        group = [x for x in ranked if x.dataset == ds]
        para_order = [p.table_label for p in PARADIGMS] + sorted(
            {x.row.category for x in group} - {p.table_label for p in PARADIGMS})
        by_label = {p.id: p.table_label for p in PARADIGMS}
        pts = [(by_label.get(x.row.paradigm, x.row.category), x.row.values[main], x.row.method, x.row)
               for x in group]
        cats = [c for c in para_order if any(p[0] == c for p in pts)]
        title = f"{main} on {ds} by paradigm"
        out += ["<figure>", f"<figcaption>{_e(title)}</figcaption>", svg_strip(pts, cats, main, title),
                "</figure>"]
        dated = [(str(x.row.year), x.row.values[main], x.row.method, x.row) for x in group if x.row.year]
        if dated:
            years = [str(yr) for yr in range(min(int(p[0]) for p in dated), max(int(p[0]) for p in dated) + 1)]
            title = f"{main} on {ds} by year"
            out += ["<figure>", f"<figcaption>{_e(title)}</figcaption>", svg_strip(dated, years, main, title),
                    "</figure>"]
    kinds = sorted({x.row.kind for x in ranked if x.rank is not None}, key=list(KIND_COLOURS).index)
    return ([_legend(kinds)] if out else []) + out


# --- pages -----------------------------------------------------------------------------------

def _select(name: str, label: str, values: list[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{_e(v)}">{_e(t)}</option>' for v, t in values)
    return (f'<label>{_e(label)}<select id="filter-{name}" data-filter="{name}">'
            f'<option value="">all</option>{opts}</select></label>')


def task_page(spec: TaskSpec, ranked: list[Ranked]) -> str:
    main = spec.main_column
    cols = [main] + [c.header for c in spec.columns if c.header != main]
    heads = ['<th data-sort="num" data-first="asc">Rank</th>', '<th data-sort="text">Method</th>',
             '<th data-sort="text">Kind</th>', '<th data-sort="text">Paradigm</th>',
             '<th data-sort="text">ILFM</th>', '<th data-sort="text">Venue</th>',
             '<th data-sort="num">Year</th>', '<th data-sort="text">Ranked on</th>'] + \
        [f'<th data-sort="num">{_e(c)}</th>' for c in cols]
    body = []
    for x in ranked:
        r = x.row
        ref = f" [{r.ref}]" if r.ref is not None else ""
        cells = [
            f'<td class="num" data-v="{x.rank if x.rank is not None else ""}">{x.rank if x.rank is not None else "-"}</td>',
            f'<td data-v="{_e(r.method)}">{_e(r.method)}{ref}</td>',
            f'<td data-v="{_e(r.kind)}"><span class="kind">{_e(r.kind)}</span></td>',
            f'<td data-v="{_e(r.category)}">{_e(r.category)}</td>',
            f'<td data-v="{_e(r.ilfm)}">{_e(r.ilfm)}</td>',
            f'<td data-v="{_e(r.venue or "")}">{_e(r.venue or "-")}</td>',
            f'<td class="num" data-v="{r.year or ""}">{r.year or "-"}</td>',
            f'<td data-v="{_e(x.dataset)}">{_e(x.dataset or "-")}</td>',
        ]
        for c in cols:
            v = r.values[c]
            best = " best" if c in r.best else ""
            cells.append(f'<td class="num{best}" data-v="{"" if v is None else repr(float(v))}">{fmt(v)}</td>')
        body.append(f'<tr class="{_e(r.kind)}" data-paradigm="{_e(r.paradigm)}" data-ilfm="{_e(r.ilfm)}" '
                    f'data-kind="{_e(r.kind)}">' + "".join(cells) + "</tr>")
    rows = [x.row for x in ranked]
    para_ids = [p.id for p in PARADIGMS]
    paradigms = sorted({(r.paradigm, r.category if r.paradigm not in para_ids else
                         next(p.table_label for p in PARADIGMS if p.id == r.paradigm)) for r in rows},
                       key=lambda t: (para_ids.index(t[0]) if t[0] in para_ids else 99, t[0]))
    ilfms = sorted({r.ilfm for r in rows}, key=str.casefold)
    kinds = sorted({r.kind for r in rows}, key=list(KIND_COLOURS).index)
    own = spec.column(main).dataset
    parts = [
        f"<h1>{_e(spec.label)}: {_e(spec.title)}</h1>",
        f'<p class="note">Table {spec.table} of the survey. Ranked by '
        f"{_e(main)} within the dataset it was measured on ({_e(own)} first); bold: best of a column "
        f"on its own dataset. Click a column header to sort; choose a filter to narrow the rows.</p>",
        '<section class="filters">',
        _select("paradigm", "Paradigm", paradigms), _select("ilfm", "ILFM", [(i, i) for i in ilfms]),
        _select("kind", "Kind", [(k, k) for k in kinds]), '<span id="count"></span>', "</section>",
        '<table id="board" class="board">', "<thead><tr>" + "".join(heads) + "</tr></thead>", "<tbody>",
        *body, "</tbody>", "</table>", *_plots(spec, ranked),
    ]
    return _page(f"{spec.label} — i2vbench leaderboard", parts, f" › {_e(spec.label)}")


def index_page(boards: dict[str, list[Ranked]]) -> str:
    rows = []
    for tid, ranked in boards.items():
        spec = TASKS.get(tid)
        top = next((x for x in ranked if x.rank == 1), None)
        kinds = {}
        for x in ranked:
            kinds[x.row.kind] = kinds.get(x.row.kind, 0) + 1
        counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda t: list(KIND_COLOURS).index(t[0])))
        lead = f"{_e(top.row.method)} ({fmt(top.row.values[spec.main_column])})" if top else "-"
        rows.append(f'<tr><td><a href="{tid}.html">{_e(spec.label)}</a></td><td>{_e(spec.title)}</td>'
                    f"<td>{spec.table}</td><td>{_e(spec.main_column)}</td><td>{lead}</td><td>{_e(counts)}</td></tr>")
    cover_head = "".join(f"<th>{_e(TASKS.get(t).label)}</th>" for t in boards)
    cover = []
    for p in PARADIGMS:
        cells = "".join(
            f'<td class="num">{sum(x.row.paradigm == p.id for x in boards[t]) or ""}</td>' for t in boards)
        cover.append(f"<tr><td>{_e(p.name)}</td><td>{_e(p.root.value)}</td>{cells}</tr>")
    body = [
        "<h1>i2vbench leaderboard</h1>",
        '<p class="note">Image-to-video transfer learning on image-language foundation models: the '
        "survey's Tables II and III (reported), numbers reproduced by <code>bench run</code>, and "
        "submitted results (<code>bench submit</code>), per task. Generated by "
        "<code>bench leaderboard build</code>; do not edit by hand.</p>",
        "<table><thead><tr><th>Task</th><th>Title</th><th>Table</th><th>Ranked by</th>"
        "<th>Leader (own dataset)</th><th>Rows</th></tr></thead><tbody>", *rows, "</tbody></table>",
        "<h2>Rows per paradigm and task</h2>",
        f"<table><thead><tr><th>Paradigm</th><th>Features</th>{cover_head}</tr></thead><tbody>",
        *cover, "</tbody></table>",
    ]
    return _page("i2vbench leaderboard", body)


def site_files(runs: bool = True) -> dict[str, str]:
    """Every file of the site, name → text (deterministic)."""
    boards = {tid: leaderboard(tid, runs=runs) for tid in TASKS.names()}
    files = {"index.html": index_page(boards)}
    for tid, ranked in boards.items():
        files[f"{tid}.html"] = task_page(TASKS.get(tid), ranked)
    for name in ("site.css", "site.js"):
        files[name] = (ASSETS / name).read_text(encoding="utf-8")
    files["README.md"] = ("# Leaderboard (generated)\n\nBuilt by `bench leaderboard build --no-runs` from "
                          "`results/reported/` and `results/submissions/`; open `index.html` in a browser. "
                          "Do not edit: `tests/test_leaderboard.py` checks it is up to date.\n")
    return files


def build_site(out: Path, runs: bool = True) -> list[Path]:
    """Write the site into ``out`` (files written atomically; stale generated pages removed)."""
    from i2vbench.io import atomic_write_text

    files = site_files(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [atomic_write_text(out / name, text) for name, text in files.items()]
    for stale in out.glob("*.html"):
        if stale.name not in files:
            stale.unlink()
    return written
