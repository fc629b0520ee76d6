"""Table writers shared by reports and sweeps: cells, Markdown pipe tables, booktabs LaTeX."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from tools import require_latex_package, require_tool
from vosbench.report.table_formats import MISSING, cell, latex_escape, texts, to_latex, to_markdown


def parse_markdown(text: str) -> tuple[list[str], list[str], list[list[str]]]:
    """A pipe table back into header, alignment rule and rows (cells stripped)."""
    lines = [line for line in text.splitlines() if line.strip()]
    rows = []
    for line in lines:
        assert line.startswith("| ") and line.endswith(" |"), line
        rows.append([c.strip() for c in line[2:-2].split(" | ")])
    return rows[0], rows[1], rows[2:]


def sample() -> pd.DataFrame:
    return pd.DataFrame({
        "method": ["stcn", "swem@k_64", "a|b"],
        "frames": [16, 8, 3],
        "fps": [152.7759, np.nan, 3.0],
        "stored": pd.array([240, None, 7], dtype="Int64"),
        "ok": [True, False, True],
    })


def test_cells_keep_integers_whole_and_show_missing_as_a_dash():
    assert cell(3) == "3" and cell(np.int64(3)) == "3"
    assert cell(0.12345) == "0.123" and cell(0.12345, 1) == "0.1"
    assert cell(None) == cell(np.nan) == cell(pd.NA) == MISSING
    assert cell(True) == "yes" and cell(float("inf")) == "inf"
    # a row of ints and floats only must not turn the ints into floats
    assert texts(pd.DataFrame({"n": [1, 2], "x": [0.5, 1.25]})) == [["1", "0.500"], ["2", "1.250"]]


def test_markdown_parses_back_with_numeric_columns_right_aligned():
    header, rule, rows = parse_markdown(to_markdown(sample(), {"fps": 1}))
    assert header == ["method", "frames", "fps", "stored", "ok"]
    assert rule == ["---", "---:", "---:", "---:", "---"]
    assert len(rows) == 3 and all(len(row) == len(header) for row in rows)
    assert rows[0] == ["stcn", "16", "152.8", "240", "yes"]
    assert rows[1][2] == MISSING and rows[1][3] == MISSING
    assert rows[2][0] == r"a\|b"  # a pipe inside a cell is escaped


def test_latex_is_a_booktabs_tabular_with_escaped_text():
    tex = to_latex(sample(), {"fps": 1})
    lines = tex.strip().splitlines()
    assert lines[0] == r"\begin{tabular}{lrrrl}"
    assert lines[1:4] == [r"\toprule", r"method & frames & fps & stored & ok \\", r"\midrule"]
    assert lines[-2:] == [r"\bottomrule", r"\end{tabular}"]
    assert lines[4] == r"stcn & 16 & 152.8 & 240 & yes \\"
    assert r"swem@k\_64 & 8 & -- & -- & no \\" in lines
    assert latex_escape("J&F 50% #1 $x_1$ ~ ^ \\") == r"J\&F 50\% \#1 \$x\_1\$ \textasciitilde{} \textasciicircum{} \textbackslash{}"


def test_latex_table_compiles_in_a_table_float(tmp_path):
    require_latex_package("booktabs")
    pdflatex = require_tool("pdflatex")
    table = sample().assign(note=["J&F 50%", "x_1 {a}", "~#$^\\"])
    document = "\n".join([
        r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}", r"\begin{document}",
        r"\begin{table}[t]\centering", r"\caption{Special characters}", to_latex(table), r"\end{table}",
        r"\end{document}",
    ])
    (tmp_path / "t.tex").write_text(document)
    result = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


@pytest.mark.parametrize("writer", [to_markdown, to_latex])
def test_an_empty_table_keeps_its_header(writer):
    text = writer(pd.DataFrame({"method": pd.Series([], dtype="str"), "fps": pd.Series([], dtype="float64")}))
    assert "method" in text and "fps" in text
