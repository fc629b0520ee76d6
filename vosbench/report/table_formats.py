"""Tables as text: CSV, Markdown (pipe tables) and LaTeX (booktabs ``tabular``).

Written here rather than through pandas' ``to_markdown`` (it needs tabulate) and
``to_latex`` (its escaping and number formats vary between versions), so a table reads
the same in every report. Missing values print as an en dash: absent, not zero.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import pandas as pd

MISSING = "–"
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "–": "--",
}


def cell(value, digits: int = 3) -> str:
    """One value as text: integers whole, reals to ``digits`` decimals, missing as a dash."""
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}f}"
    return str(value)


def is_numeric(series: pd.Series) -> bool:
    """Numbers (right-aligned), not booleans."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def texts(table: pd.DataFrame, digits: dict[str, int] | int = 3) -> list[list[str]]:
    """Every cell as text (``cell``), row by row; ``digits`` per column name or for all."""
    def places(column: str) -> int:
        return digits.get(column, 3) if isinstance(digits, dict) else digits

    # column by column: iterrows would cast a row of ints and floats to floats
    columns = [[cell(value, places(column)) for value in table[column].tolist()] for column in table.columns]
    return [list(row) for row in zip(*columns)]


def to_markdown(table: pd.DataFrame, digits: dict[str, int] | int = 3) -> str:
    """A GitHub pipe table; numeric columns right-aligned."""
    header = [str(c).replace("|", r"\|") for c in table.columns]
    rule = ["---:" if is_numeric(table[c]) else "---" for c in table.columns]
    rows = [[t.replace("|", r"\|") for t in row] for row in texts(table, digits)]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: pd.DataFrame, digits: dict[str, int] | int = 3) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), ready for a table float."""
    align = "".join("r" if is_numeric(table[c]) else "l" for c in table.columns)
    header = " & ".join(latex_escape(str(c)) for c in table.columns)
    body = [" & ".join(latex_escape(t) for t in row) + r" \\" for row in texts(table, digits)]
    return "\n".join([rf"\begin{{tabular}}{{{align}}}", r"\toprule", header + r" \\", r"\midrule", *body,
                      r"\bottomrule", r"\end{tabular}"]) + "\n"
