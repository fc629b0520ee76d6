"""``build_report``: run and redundancy directories in, a report folder out.

Layout of the report folder (written whole into a temporary sibling and moved in, so a
reader never sees half a report; an earlier report there is replaced):

- ``report.html`` (self-contained), ``report.pdf``, ``report.md``, ``tables.tex``: the
  formats asked for;
- ``figures/<name>.png``: every figure drawn;
- ``tables/<name>.csv`` (tidy), ``.md`` and ``.tex`` (booktabs ``tabular``): every table;
- ``report.json``: what the report was made from, its files and what is absent.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path

from vosbench import __version__
from vosbench.atomic import atomic_dir, check_output_folder
from vosbench.errors import VosbenchError
from vosbench.report.content import Report, assemble
from vosbench.report.html import render_html
from vosbench.report.inputs import load_inputs
from vosbench.report.latex import render_latex
from vosbench.report.markdown import render_markdown
from vosbench.report.pdf import write_pdf
from vosbench.report.table_formats import to_latex, to_markdown

FORMATS = ("html", "pdf", "md", "latex")
MAIN_FILES = {"html": "report.html", "pdf": "report.pdf", "md": "report.md", "latex": "tables.tex"}
MARKER = "report.json"


def parse_formats(text: str) -> tuple[str, ...]:
    """``"html,pdf"`` -> ("html", "pdf"); an unknown or empty list raises."""
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    return check_formats(formats)


def check_formats(formats: Collection[str]) -> tuple[str, ...]:
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise VosbenchError(f"--format {','.join(formats) or '(empty)'}: choose from {','.join(FORMATS)}")
    return formats


def default_out(runs: Sequence[str | Path]) -> Path:
    """``reports/<name of the first run directory>``."""
    return Path("reports") / Path(runs[0]).resolve().name


def build_report(
    runs: Sequence[str | Path],
    redundancy: Sequence[str | Path] = (),
    out: str | Path | None = None,
    formats: Collection[str] = FORMATS,
    title: str | None = None,
) -> dict[str, Path]:
    """Write the report of ``runs`` (and ``redundancy`` folders) into ``out``; returns
    format -> its main file. Bad input raises ``VosbenchError`` before anything is written."""
    formats = check_formats(formats)
    if not runs:
        raise VosbenchError("no run directory given; pass one or more RUN_DIRs made by `vosbench run`")
    out = Path(out) if out is not None else default_out(runs)
    _check_out(out)
    inputs = load_inputs(runs, redundancy)
    report = assemble(inputs, title)
    with atomic_dir(out) as tmp:
        pages = _write(report, tmp, formats)
        record = {
            "vosbench": __version__,
            "title": report.title,
            "created": report.created,
            "runs": [str(r.root.resolve()) for r in inputs.runs],
            "redundancy": [str(r.root.resolve()) for r in inputs.redundancy],
            "formats": {f: MAIN_FILES[f] for f in formats},
            "pdf_pages": pages,
            "figures": [f"figures/{f.name}.png" for f in report.figures],
            "tables": [f"tables/{t.name}.csv" for t in report.tables],
            "absent": report.absent,
        }
        (tmp / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return {f: out / MAIN_FILES[f] for f in formats}


def _check_out(out: Path) -> None:
    """``out`` is replaced whole: only a new, empty or earlier report folder may be."""
    check_output_folder(out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise VosbenchError(f"{out}: exists and is not a vosbench report folder; give a new or empty --out")


def _write(report: Report, folder: Path, formats: tuple[str, ...]) -> int | None:
    """Every file of the report into ``folder``; the PDF's page count (None without a PDF)."""
    (folder / "figures").mkdir()
    (folder / "tables").mkdir()
    for figure in report.figures:
        (folder / "figures" / f"{figure.name}.png").write_bytes(figure.png)
    for table in report.tables:
        stem = folder / "tables" / table.name
        table.data.to_csv(stem.with_suffix(".csv"), index=False)
        stem.with_suffix(".md").write_text(to_markdown(table.shown, table.digits), encoding="utf-8")
        stem.with_suffix(".tex").write_text(to_latex(table.shown, table.digits), encoding="utf-8")
    pages = None
    if "html" in formats:
        (folder / MAIN_FILES["html"]).write_text(render_html(report), encoding="utf-8")
    if "md" in formats:
        (folder / MAIN_FILES["md"]).write_text(render_markdown(report), encoding="utf-8")
    if "latex" in formats:
        (folder / MAIN_FILES["latex"]).write_text(render_latex(report), encoding="utf-8")
    if "pdf" in formats:
        pages = write_pdf(report, folder / MAIN_FILES["pdf"])
    return pages
