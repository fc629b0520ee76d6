"""External programs some tests drive (Chromium, pdftoppm, pdflatex) and optional Python
packages (Ray, from the ``ray`` extra, which the ``test`` extra includes).

Tests install nothing: a missing program or package skips the test with the reason, or
fails it when VOSBENCH_REQUIRE_TOOLS=1 (as in CI, whose .ci/run installs them).
"""

from __future__ import annotations

import os
import shutil

import pytest

PACKAGES = {"chromium": "chromium", "pdftoppm": "poppler-utils", "pdflatex": "texlive-latex-base", "kpsewhich": "texlive-latex-base"}


def require_tool(name: str) -> str:
    """The path of program ``name``, or skip/fail the test when it is not installed."""
    path = shutil.which(name)
    if path is None:
        reason = f"needs {name} (Debian package {PACKAGES.get(name, name)}), which is not installed"
        if os.environ.get("VOSBENCH_REQUIRE_TOOLS") == "1":
            pytest.fail(reason + "; VOSBENCH_REQUIRE_TOOLS=1 forbids skipping")
        pytest.skip(reason)
    return path


def require_latex_package(name: str, package: str = "texlive-latex-recommended") -> None:
    """Skip/fail unless pdflatex and the LaTeX package ``name`` (``name.sty``) are installed."""
    import subprocess

    require_tool("pdflatex")
    kpsewhich = require_tool("kpsewhich")
    found = subprocess.run([kpsewhich, f"{name}.sty"], capture_output=True, text=True).stdout.strip()
    if not found:
        reason = f"needs the LaTeX package {name} (Debian package {package}), which is not installed"
        if os.environ.get("VOSBENCH_REQUIRE_TOOLS") == "1":
            pytest.fail(reason + "; VOSBENCH_REQUIRE_TOOLS=1 forbids skipping")
        pytest.skip(reason)


def require_module(name: str, extra: str) -> None:
    """Skip/fail unless the Python package ``name`` (from the ``extra`` extra) imports."""
    import importlib.util

    if importlib.util.find_spec(name) is None:
        reason = f"needs the Python package {name}, which is not installed (pip install -e '.[{extra}]')"
        if os.environ.get("VOSBENCH_REQUIRE_TOOLS") == "1":
            pytest.fail(reason + "; VOSBENCH_REQUIRE_TOOLS=1 forbids skipping")
        pytest.skip(reason)
