"""`vosbench report` end to end: a real run and redundancy folder in; HTML (in Chromium),
PDF (rasterised), LaTeX (compiled), Markdown (parsed back) out; reports with parts
missing; the CLI's errors."""

from __future__ import annotations

import base64
import io
from html import unescape
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import ROOT
from test_report_formats import parse_markdown
from tools import require_latex_package, require_tool
from vosbench.data import open_dataset
from vosbench.errors import VosbenchError
from vosbench.eval import evaluate
from vosbench.redundancy.analysis import Settings
from vosbench.redundancy.run import RedundancyConfig, run_redundancy
from vosbench.report.build import build_report
from vosbench.report.inputs import load_inputs
from vosbench.report.strips import choose_frames, outline, overlay
from vosbench.run import MethodChoice, RunConfig, load_run, run

LABELS = ["stcn", "swem", "swiftnet"]
CONSOLE = re.compile(r"CONSOLE[(:]|Uncaught")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Three methods on two synthetic videos with ground truth, a redundancy folder, the report."""
    base = tmp_path_factory.mktemp("report")
    data = open_dataset("synthetic", base / "data", layout="davis", videos=2, frames=6, objects=2, size="64x96")
    methods = (MethodChoice.of("stcn"), MethodChoice.of("swem", {"num_bases": 16, "top_l": 8}), MethodChoice.of("swiftnet"))
    run(RunConfig(methods), data, base / "run")
    run_redundancy(RedundancyConfig("stcn", analysis=Settings(bases=16)), data, base / "red", figures=False)
    written = build_report([base / "run"], [base / "red"], base / "report")
    record = json.loads((base / "report" / "report.json").read_text())
    return SimpleNamespace(base=base, out=base / "report", written=written, record=record)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """One method, no ground-truth scores (--no-eval), no redundancy, CPU, and the frames deleted."""
    base = tmp_path_factory.mktemp("bare")
    data = open_dataset("synthetic", base / "data", layout="davis", videos=1, frames=5, objects=1, size="48x64")
    run(RunConfig((MethodChoice.of("swiftnet"),), evaluate=False), data, base / "run")
    shutil.rmtree(base / "data")
    written = build_report([base / "run"], out=base / "report", formats=("html", "pdf", "md"))
    record = json.loads((base / "report" / "report.json").read_text())
    return SimpleNamespace(base=base, out=base / "report", written=written, record=record)


def browse(html: Path, folder: Path, probe: bool = False) -> tuple[str, np.ndarray]:
    """Chromium's log and 1366x900 screenshot of ``html``. ``probe`` renders a copy with a
    script that logs how many <img> elements decoded (the report itself has no script)."""
    chromium = require_tool("chromium")
    page = html
    if probe:
        page = folder / "probe.html"
        script = ("<script>window.addEventListener('load', () => { let broken = 0;"
                  " for (const image of document.images) { if (!image.complete || image.naturalWidth === 0) broken++; }"
                  " console.log('vosbench-images ' + document.images.length + ' broken ' + broken); });</script>")
        page.write_text(html.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    shot = folder / ("probe.png" if probe else "shot.png")
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={folder / 'chromium'}", "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
        "--window-size=1366,900", page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert shot.is_file(), result.stderr[-2000:]
    return result.stdout + result.stderr, np.asarray(Image.open(shot).convert("RGB"))


def assert_not_blank(pixels: np.ndarray, ink: float = 0.01) -> None:
    grey = pixels.mean(axis=2)
    assert grey.std() > 10, "the image is flat"
    assert (grey < 128).mean() > ink, "the image has hardly anything dark on it (no text?)"


def rasterise(pdf: Path, folder: Path) -> list[np.ndarray]:
    pdftoppm = require_tool("pdftoppm")
    folder.mkdir(exist_ok=True)
    subprocess.run([pdftoppm, "-png", "-r", "50", str(pdf), str(folder / "page")], check=True, timeout=180)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("page-*.png"))]


def embedded_images(html: str) -> list[Image.Image]:
    sources = re.findall(r'<img src="([^"]+)"', html)
    images = []
    for source in sources:
        assert source.startswith("data:image/"), f"not embedded: {source[:60]}"
        image = Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
        image.load()
        images.append(image)
    return images


# -- the full report ----------------------------------------------------------------------


def test_report_folder_holds_every_format_figure_and_table(full):
    out = full.out
    assert full.written == {f: out / n for f, n in
                            {"html": "report.html", "pdf": "report.pdf", "md": "report.md", "latex": "tables.tex"}.items()}
    names = {Path(p).stem for p in full.record["figures"]}
    assert {"sequence_scores", "latency", "stored_features", "tradeoff", "accuracy_over_time", "strip_synth-000",
            "strip_synth-001", "redundancy_fig2_similarity", "redundancy_fig4_matching", "redundancy_variation",
            "redundancy_bank"} == names
    for name in names:
        assert_not_blank(np.asarray(Image.open(out / "figures" / f"{name}.png").convert("RGB")))
    for table in ("accuracy", "efficiency", "environment", "settings", "redundancy_fractions"):
        for suffix in (".csv", ".md", ".tex"):
            assert (out / "tables" / f"{table}{suffix}").stat().st_size > 0
    # CPU run: the only thing absent is the GPU memory, and the report says why
    assert full.record["absent"] == ["GPU memory: not measured (the run is on cpu, not a GPU)."]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".report.")]  # no temporary left


def test_accuracy_table_equals_the_evaluator_on_the_run_masks(full):
    accuracy = pd.read_csv(full.out / "tables" / "accuracy.csv").set_index("method")
    assert list(accuracy.index) == LABELS
    for label in LABELS:
        result = evaluate(full.base / "run" / "masks" / label, full.base / "data" / "Annotations" / "480p", workers=1)
        expected = result.global_.iloc[0]
        for column in ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"):
            assert accuracy.loc[label, column] == pytest.approx(expected[column], abs=1e-12), (label, column)
        assert accuracy.loc[label, "objects"] == len(result.per_sequence)


def test_efficiency_table_agrees_with_the_run_summary(full):
    efficiency = pd.read_csv(full.out / "tables" / "efficiency.csv").set_index("method")
    summary = load_run(full.base / "run").summary.set_index("method")
    sequences = load_run(full.base / "run").sequences
    for label in LABELS:
        for column in ("fps", "fps_io", "step_p50_ms", "step_p95_ms"):
            assert efficiency.loc[label, column] == pytest.approx(summary.loc[label, column])
        assert efficiency.loc[label, "stored_features_max"] == summary.loc[label, "stored_features_max"]
        ends = sequences.loc[sequences["method"] == label, "stored_features_end"].astype(float)
        assert efficiency.loc[label, "stored_features_end"] == pytest.approx(ends.mean())
    assert efficiency["gpu_peak_mib"].isna().all()  # a CPU run measures no GPU memory


def test_html_is_self_contained_and_renders_in_chromium_without_console_errors(full, tmp_path):
    html = full.written["html"].read_text(encoding="utf-8")
    assert "<script" not in html
    # nothing is fetched: every src/href is embedded data or an anchor in the page
    for link in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert link.startswith(("data:", "#")), link
    images = embedded_images(html)
    assert len(images) == len(full.record["figures"])
    assert all(image.width > 200 and image.height > 100 for image in images)
    log, pixels = browse(full.written["html"], tmp_path)
    assert not CONSOLE.findall(log), [line for line in log.splitlines() if CONSOLE.search(line)]
    assert pixels.shape == (900, 1366, 3)
    assert_not_blank(pixels)
    log, _ = browse(full.written["html"], tmp_path, probe=True)
    assert f"vosbench-images {len(images)} broken 0" in log
    assert full.written["html"].stat().st_size < 5 * 2**20


def test_pdf_pages_rasterise_and_none_is_blank(full, tmp_path):
    pages = rasterise(full.written["pdf"], tmp_path / "pages")
    assert len(pages) == full.record["pdf_pages"] >= 8
    for page in pages:
        assert page.shape[1] > page.shape[0]  # A4 landscape
        assert_not_blank(page, ink=0.002)


def test_latex_tables_compile_as_booktabs_floats(full, tmp_path):
    require_latex_package("booktabs")
    pdflatex = require_tool("pdflatex")
    tables = full.written["latex"].read_text(encoding="utf-8")
    assert tables.count(r"\begin{table}") == tables.count(r"\toprule") == len(full.record["tables"])
    shutil.copy(full.written["latex"], tmp_path / "tables.tex")
    (tmp_path / "paper.tex").write_text("\n".join([
        r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}", r"\begin{document}",
        r"\input{tables.tex}", r"\end{document}",
    ]))
    result = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000


def test_markdown_report_tables_parse_back_to_the_csv(full):
    text = full.written["md"].read_text(encoding="utf-8")
    blocks = re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M)
    assert len(blocks) == len(full.record["tables"])
    header, rule, rows = parse_markdown(blocks[0])  # the accuracy table comes first
    accuracy = pd.read_csv(full.out / "tables" / "accuracy.csv")
    assert header == list(accuracy.columns) and len(rule) == len(header)
    assert [row[0] for row in rows] == LABELS
    assert [float(row[header.index("J&F-Mean")]) for row in rows] == pytest.approx(accuracy["J&F-Mean"], abs=5e-4)
    for figure in full.record["figures"]:
        assert f"]({figure})" in text


# -- reports with parts missing -----------------------------------------------------------


def test_a_report_with_parts_missing_says_what_is_absent(bare, tmp_path):
    absent = bare.record["absent"]
    expected = [
        "One method only (swiftnet)",
        "Memory redundancy: no folder given",
        "Accuracy: no J&F (the runs were made with --no-eval)",
        "J&F per sequence: not drawn, no J&F (the runs were made with --no-eval)",
        "GPU memory: not measured (the run is on cpu, not a GPU)",
        "Speed against accuracy: not drawn",
        "J over time: not drawn",
        "Qualitative strips of synthetic videos (davis2017-val layout) (run): not drawn, the run's dataset folder",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in absent), (start, absent)
    assert sorted(Path(p).stem for p in bare.record["figures"]) == ["latency", "stored_features"]
    assert not (bare.out / "tables" / "accuracy.csv").exists()
    html = bare.written["html"].read_text(encoding="utf-8")
    for line in absent:
        assert line in unescape(html)
    assert len(embedded_images(html)) == 2
    log, pixels = browse(bare.written["html"], tmp_path)
    assert not CONSOLE.findall(log)
    assert_not_blank(pixels)
    pages = rasterise(bare.written["pdf"], tmp_path / "pages")
    assert len(pages) == bare.record["pdf_pages"]
    for page in pages:
        assert_not_blank(page, ink=0.002)
    markdown = bare.written["md"].read_text(encoding="utf-8")
    assert "*Accuracy: no J&F (the runs were made with --no-eval).*" in markdown


def test_runs_sharing_a_label_are_told_apart_by_their_directory(full, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(full.base / "run", again)
    inputs = load_inputs([full.base / "run", again])
    assert inputs.labels == ("stcn@run", "swem@run", "swiftnet@run", "stcn@again", "swem@again", "swiftnet@again")
    assert set(inputs.frames["method"]) == set(inputs.labels)
    assert inputs.frames.groupby("run").size().to_dict() == {"run": len(load_run(again).frames), "again": len(load_run(again).frames)}
    with pytest.raises(VosbenchError, match="given twice"):
        load_inputs([full.base / "run", full.base / "run"])


# -- strips -------------------------------------------------------------------------------


def test_strip_frames_are_evenly_spread_with_the_first_and_last():
    assert choose_frames(6, 4) == [0, 2, 3, 5]
    assert choose_frames(100, 4) == [0, 33, 66, 99]
    assert choose_frames(3, 4) == [0, 1, 2]
    assert choose_frames(0, 4) == []


def test_overlay_fills_in_the_method_colour_and_outlines_each_object_in_its_palette_colour():
    ids = np.zeros((20, 30), dtype=np.uint8)
    ids[5:15, 3:10] = 1
    ids[5:15, 18:28] = 2
    lines = outline(ids)
    assert set(np.unique(lines)) == {0, 1, 2}
    assert lines[10, 6] == 0 and lines[10, 3] == 1 and lines[10, 2] == 1  # inside, inner and outer edge
    frame = np.full((20, 30, 3), 100, dtype=np.uint8)
    out = overlay(frame, ids, "#ff0000")
    assert tuple(out[10, 6]) == (178, 50, 50)  # half frame, half the fill colour
    assert tuple(out[10, 3]) == (128, 0, 0) and tuple(out[10, 18]) == (0, 128, 0)  # DAVIS palette 1 and 2
    assert tuple(out[0, 0]) == (100, 100, 100)


# -- the command line ---------------------------------------------------------------------


def test_cli_writes_the_report_and_prints_its_files(bare, tmp_path):
    from cli import app

    out = tmp_path / "cli-report"
    result = CliRunner().invoke(app, ["report", str(bare.base / "run"), "--out", str(out), "--format", "md,latex",
                                      "--title", "Bare run"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(out / "report.md"), str(out / "tables.tex")]
    assert (out / "report.md").read_text().startswith("# Bare run\n")
    assert not (out / "report.html").exists()


def test_cli_errors_are_one_line_and_write_nothing(bare, tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "cli.py"), "report", *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)

    result = cli(str(tmp_path), "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not a vosbench run directory" in result.stderr
    assert not (tmp_path / "r").exists()


def test_cli_refuses_an_unknown_format(bare, tmp_path):
    from cli import app

    result = CliRunner().invoke(app, ["report", str(bare.base / "run"), "--out", str(tmp_path / "r"), "--format", "html,docx"])
    assert isinstance(result.exception, VosbenchError)
    assert str(result.exception) == "--format html,docx: choose from html,pdf,md,latex"
    assert not (tmp_path / "r").exists()


def test_bad_inputs_raise_before_anything_is_written(bare, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(bare.base / "run" / "manifest.json", empty / "manifest.json")
    with pytest.raises(VosbenchError, match="no finished sequence"):
        build_report([empty], out=tmp_path / "a")
    with pytest.raises(VosbenchError, match="run directory not found"):
        build_report([tmp_path / "missing"], out=tmp_path / "a")
    with pytest.raises(VosbenchError, match="no manifest.json; give a folder made by `vosbench redundancy`"):
        build_report([bare.base / "run"], [tmp_path], out=tmp_path / "a")
    # a folder that is not a report is never replaced
    with pytest.raises(VosbenchError, match="not a vosbench report folder"):
        build_report([bare.base / "run"], out=bare.base / "run", formats=("md",))
    assert (bare.base / "run" / "manifest.json").is_file()
    assert not (tmp_path / "a").exists()


def test_gpu_readings_are_drawn_and_tabled_when_present(full):
    """No GPU here: the GPU fields of the real run are filled with a known ramp, as a CUDA run
    records them (bytes per frame), to check the figure and the table read them."""
    from dataclasses import replace

    from vosbench.report import figures, tables
    from vosbench.report.style import palette

    inputs = load_inputs([full.base / "run"])
    frames = inputs.frames.copy()
    ramp = (frames["frame"].astype("int64") + 1) * 2**20 * frames["method"].map({"stcn": 10, "swem": 20, "swiftnet": 30})
    frames["torch_peak_bytes"] = ramp.astype("Int64")
    gpu = replace(inputs, frames=frames)
    efficiency = tables.efficiency_table(gpu).set_index("method")
    assert tables.gpu_peak_source(gpu) == "torch_peak_bytes"
    assert efficiency["gpu_peak_mib"].to_dict() == {"stcn": 60.0, "swem": 120.0, "swiftnet": 180.0}  # 6 frames
    drawn = figures.gpu_memory_figure(frames, palette(gpu.labels), "unused")
    assert not isinstance(drawn, figures.Absent)
    lines = {line.get_label(): line.get_ydata() for line in drawn.axes[0].get_lines()}
    assert list(lines["swem"]) == [20.0 * (i + 1) for i in range(6)]
    assert isinstance(figures.gpu_memory_figure(inputs.frames, palette(gpu.labels), "the run is on cpu"), figures.Absent)
