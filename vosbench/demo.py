"""``vosbench demo``: all of vosbench, on generated videos, in about a minute on two cores.

Four steps into one folder, each resumable, so a second call only redoes what is missing:

1. ``data/``: a synthetic multi-object video set (or the user's DAVIS-layout ``--root``);
2. ``run/``: STCN, SwiftNet and SWEM, training-free, every frame measured and scored;
3. ``redundancy/``: SWEM's redundancy analyses of the same features;
4. ``report/``: the HTML and PDF report (Markdown and LaTeX tables beside them).

The demo's settings are the methods' defaults, except that SWEM reads frames at their
own size (its default resizes to 480x864, which only trained weights need) and the
redundancy analysis uses fewer EM bases: both keep the demo within its time budget and
both are written in the report's settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vosbench.data import open_dataset
from vosbench.data.synth import SynthParams, generate
from vosbench.run import RunConfig, choose_methods, run
from vosbench.run.progress import RunProgress

METHODS = ("stcn", "swiftnet", "swem")
SETTINGS = ("swem:input_size=none",)
SYNTH = SynthParams(layout="davis", videos=3, frames=24, height=240, width=432, objects=3, seed=0)
REDUNDANCY_FEATURES = "swem"
REDUNDANCY_BASES = 64


@dataclass
class DemoResult:
    """Where each step wrote, the report's files by format, and each step's seconds."""

    out: Path
    data: Path
    run: Path
    redundancy: Path
    report: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    out: str | Path,
    root: str | Path | None = None,
    kind: str = "davis2017",
    sequences: list[str] | None = None,
    max_frames: int | None = None,
    synth: SynthParams = SYNTH,
    progress: RunProgress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo into ``out``; with ``root``, on that dataset (``kind``) instead of the
    videos ``synth`` describes."""
    from vosbench.redundancy.analysis import Settings
    from vosbench.redundancy.run import RedundancyConfig, run_redundancy
    from vosbench.report.build import build_report

    out = Path(out)
    seconds: dict[str, float] = {}
    announce = on_step or (lambda step: None)

    began = time.perf_counter()
    if root is None:
        announce(f"generating {synth.videos} videos of {synth.frames} frames with {synth.objects} objects")
        data_root = generate(out / "data", synth).root
        kind = "davis2017"
    else:
        data_root = Path(root)
    options = {"sequences": sequences} if sequences else {}
    dataset = open_dataset(kind, data_root, **options)
    seconds["data"] = time.perf_counter() - began

    began = time.perf_counter()
    announce(f"segmenting {len(dataset.sequences)} videos with {', '.join(METHODS)} (training-free)")
    config = RunConfig(choose_methods(list(METHODS), list(SETTINGS), [], dataset.family), max_frames=max_frames)
    run(config, dataset, out / "run", progress=progress, command=["vosbench", "demo"])
    seconds["run"] = time.perf_counter() - began

    began = time.perf_counter()
    announce(f"analysing the redundancy of {REDUNDANCY_FEATURES}'s features")
    redundancy = RedundancyConfig(
        REDUNDANCY_FEATURES,
        settings={"input_size": "none"},
        analysis=Settings(bases=REDUNDANCY_BASES),
        max_frames=max_frames,
    )
    run_redundancy(redundancy, dataset, out / "redundancy")
    seconds["redundancy"] = time.perf_counter() - began

    began = time.perf_counter()
    announce("writing the report")
    written = build_report([out / "run"], [out / "redundancy"], out / "report", title="vosbench demo")
    seconds["report"] = time.perf_counter() - began
    return DemoResult(out, data_root, out / "run", out / "redundancy", written, seconds)
