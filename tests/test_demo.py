"""``vosbench demo``: every step on tiny generated videos, resumed by a rerun."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vosbench.data.synth import SynthParams
from vosbench.demo import METHODS, run_demo
from vosbench.run import load_run

ROOT = Path(__file__).resolve().parents[1]
TINY = SynthParams(layout="davis", videos=2, frames=5, height=64, width=96, objects=2, seed=3)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, synth=TINY)


def test_demo_writes_every_step(demo):
    out, result = demo
    run = load_run(result.run)
    assert sorted(run.summary["method"]) == sorted(METHODS)
    assert run.summary["J&F-Mean"].notna().all()
    assert (result.redundancy / "summary.csv").is_file()
    assert set(result.report) == {"html", "pdf", "md", "latex"}
    for path in result.report.values():
        assert path.is_file() and path.stat().st_size > 0
    html = result.report["html"].read_text(encoding="utf-8")
    for method in METHODS:
        assert method in html
    assert "Memory redundancy" in html
    made_from = json.loads((out / "report" / "report.json").read_text())
    assert made_from  # the report says what it was made from


def test_demo_rerun_resumes(demo):
    out, result = demo
    parts = sorted((result.run / "parts").rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in parts if p.is_file()}
    assert len(stamps) >= len(METHODS) * TINY.videos
    again = run_demo(out, synth=TINY)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # finished sequences are not redone
    assert again.report["html"].is_file()


def test_demo_options_need_root(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "demo", "--out", str(tmp_path / "d"), "--max-frames", "3"],
        capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert "--root" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()
