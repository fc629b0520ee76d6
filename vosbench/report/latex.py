"""The report's tables for a paper: one booktabs ``table`` float each, in ``tables.tex``
(needs ``\\usepackage{booktabs}``; ``\\input`` it, or copy a float out)."""

from __future__ import annotations

from vosbench.report.content import Report, TableItem
from vosbench.report.table_formats import latex_escape, to_latex


def table_float(item: TableItem) -> str:
    """``item`` as a ``table`` float with its caption and a ``tab:vosbench-<name>`` label."""
    return "\n".join([
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(item.title)}. {latex_escape(item.caption)}}}",
        rf"\label{{tab:vosbench-{item.name.replace('_', '-')}}}",
        to_latex(item.shown, item.digits).rstrip(),
        r"\end{table}",
    ]) + "\n"


def render_latex(report: Report) -> str:
    """Every table of the report that has data, as floats (settings and environment too)."""
    header = f"% {latex_escape(report.title)}: tables made by vosbench on {report.created}\n% needs \\usepackage{{booktabs}}\n"
    return header + "\n".join(table_float(item) for item in report.tables)
