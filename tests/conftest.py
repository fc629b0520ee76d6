"""Shared fixtures. ``shared`` is ../shared beside the project (or $VOSBENCH_SHARED).

Tests that need it skip with the reason when it is absent, and fail instead when
VOSBENCH_REQUIRE_SHARED=1 (as in CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on two cores: one torch thread per worker (and per CLI subprocess),
    # or four threads fight over two cores and small work runs many times slower
    import torch

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
SHARED = Path(os.environ.get("VOSBENCH_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under the shared folder, or skip/fail the test when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"needs the shared data folder: {path} is missing (set VOSBENCH_SHARED to its location)"
        if os.environ.get("VOSBENCH_REQUIRE_SHARED") == "1":
            pytest.fail(reason + "; VOSBENCH_REQUIRE_SHARED=1 forbids skipping")
        pytest.skip(reason)
    return path


@pytest.fixture
def davis2016() -> Path:
    return shared_path("data", "davis2016-val")
