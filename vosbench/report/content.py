"""What a report says, once, for every format: sections of tables, figures and sentences.

``assemble`` draws every figure (rasterised to PNG here, so HTML, PDF and Markdown show
the same pixels) and builds every table; the writers in ``html``, ``pdf`` and
``markdown`` only lay it out. Whatever could not be shown is an ``absent`` sentence in
its place and is listed again at the top of the report.
"""

from __future__ import annotations

import datetime
import io
import re
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from vosbench.errors import VosbenchError
from vosbench.report import figures as draw
from vosbench.report import tables
from vosbench.report.inputs import Inputs, RedundancyInput, dataset_name
from vosbench.report.strips import GROUND_TRUTH, load_strips
from vosbench.report.style import palette

DPI = 150  # plots: crisp on a laptop screen, tens of kB each
STRIP_DPI = 96  # strips: one mosaic pixel per CSS pixel
MAX_STRIP_SEQUENCES = 6
REDUNDANCY_FIGURES = {"redundancy": "fig2_similarity", "matching": "fig4_matching", "variation": "variation", "bank": "bank"}


@dataclass(frozen=True)
class TableItem:
    name: str  # file stem: tables/<name>.csv, .md, .tex
    title: str
    caption: str
    data: pd.DataFrame | None  # None when absent
    absent: str | None = None
    digits: dict[str, int] | int = 3
    display: pd.DataFrame | None = None  # what the report shows, when not ``data`` itself

    @property
    def shown(self) -> pd.DataFrame | None:
        return self.display if self.display is not None else self.data


@dataclass(frozen=True)
class FigureItem:
    name: str  # file stem: figures/<name>.png
    title: str
    caption: str
    png: bytes | None  # None when absent
    absent: str | None = None
    dpi: float = DPI
    photo: bool = False  # frames: embedded as JPEG in HTML
    partial: str | None = None  # drawn, but without some methods: which and why (also in the caption)


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    items: list[TableItem | FigureItem] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    title: str
    created: str
    facts: list[tuple[str, str]]  # what the report is made from
    absent: list[str]  # every part not shown, and why
    sections: list[Section]
    colours: dict[str, str]

    @property
    def figures(self) -> list[FigureItem]:
        return [i for s in self.sections for i in s.items if isinstance(i, FigureItem) and i.png is not None]

    @property
    def tables(self) -> list[TableItem]:
        return [i for s in self.sections for i in s.items if isinstance(i, TableItem) and i.data is not None]


def png_of(figure: Figure, dpi: float) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _figure(
    name: str, title: str, caption: str, drawn: Figure | draw.Absent, dpi: float = DPI, photo: bool = False,
    partial: str | None = None,
) -> FigureItem:
    if isinstance(drawn, draw.Absent):
        return FigureItem(name, title, caption, None, drawn.reason)
    if partial:
        caption = f"{caption} {partial}"
    return FigureItem(name, title, caption, png_of(drawn, dpi), dpi=dpi, photo=photo, partial=partial)


def _without(inputs: Inputs, column: str, what: str, why: str) -> str | None:
    """The sentence naming the labels that have no ``column`` values at all, or None."""
    measured = inputs.frames.groupby("method")[column].agg(lambda values: values.notna().any())
    missing = [label for label in inputs.labels if not measured.get(label, False)]
    if not missing or len(missing) == len(inputs.labels):
        return None
    return f"{what}: not measured for {', '.join(missing)} ({why})."


def assemble(inputs: Inputs, title: str | None = None) -> Report:
    """The whole report of ``inputs``."""
    colours = palette(inputs.labels)
    sections = [
        _accuracy(inputs, colours),
        _efficiency(inputs, colours),
        _over_time(inputs, colours),
        _long_video(inputs),
        _qualitative(inputs, colours),
        _redundancy(inputs),
        _settings(inputs),
    ]
    absent = _global_notes(inputs)
    for section in sections:
        absent += [item.absent for item in section.items if item.absent]
        absent += [item.partial for item in section.items if isinstance(item, FigureItem) and item.partial]
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Report(title or _default_title(inputs), created, _facts(inputs), absent, sections, colours)


def _default_title(inputs: Inputs) -> str:
    datasets = sorted({dataset_name(r.manifest.get("dataset")) for r in inputs.runs})
    return f"vosbench report: {', '.join(inputs.labels)} on {', '.join(datasets)}"


def _facts(inputs: Inputs) -> list[tuple[str, str]]:
    facts = []
    for run in inputs.runs:
        config = run.manifest["config"]
        sequences = run.run.frames["sequence"].nunique()
        planned = len(run.manifest.get("sequences") or [])
        done = f"{sequences} of {planned} sequences" if planned and planned != sequences else f"{sequences} sequences"
        facts.append((
            "run",
            f"{run.root.resolve()} ({', '.join(run.labels.values())}; {dataset_name(run.manifest.get('dataset'))}, {done}, "
            f"{config.get('device')}, {config.get('dtype')})",
        ))
    for red in inputs.redundancy:
        facts.append(("redundancy", f"{red.root.resolve()} ({red.title}, {len(red.sequences)} sequences)"))
    return facts


def _global_notes(inputs: Inputs) -> list[str]:
    notes = []
    if len(inputs.labels) == 1:
        notes.append(f"One method only ({inputs.labels[0]}): it is shown alone, with nothing to compare it with.")
    partial = [r for r in inputs.runs if len(r.manifest.get("sequences") or []) > r.run.frames["sequence"].nunique()]
    for run in partial:
        notes.append(f"Run {run.name} is unfinished: only its finished sequences are reported.")
    if not inputs.redundancy:
        notes.append("Memory redundancy: no folder given (make one with `vosbench redundancy` and pass it with --redundancy).")
    return notes


def _no_scores(inputs: Inputs, labels: list[str]) -> str:
    """Why ``labels`` have no J&F: --no-eval, or no ground truth."""
    runs = {inputs.run_of(label).name: inputs.run_of(label) for label in labels}
    if all(not r.manifest["config"].get("evaluate", True) for r in runs.values()):
        return "the runs were made with --no-eval"
    return "the dataset has no ground truth for the frames run, or the sequences are too short to score"


def _scored(drawn: Figure | draw.Absent, what: str, inputs: Inputs) -> Figure | draw.Absent:
    """A figure of J&F with the runs' reason when nothing was scored."""
    if isinstance(drawn, draw.Absent) and inputs.objects.empty:
        return draw.Absent(f"{what}: not drawn, no J&F ({_no_scores(inputs, list(inputs.labels))}).")
    return drawn


def _accuracy(inputs: Inputs, colours: dict[str, str]) -> Section:
    accuracy = tables.accuracy_table(inputs)
    unscored = [label for label in inputs.labels if label not in set(accuracy["method"])]
    caption = (
        "Means over sequence-objects as davis2017-evaluation's global row: J (region similarity, IoU) and F "
        "(boundary F-measure) mean, recall (share of frames above 0.5) and decay (first quarter minus last quarter); "
        "J&F is the mean of J-Mean and F-Mean."
    )
    if accuracy.empty:
        table = TableItem("accuracy", "Accuracy per method", caption, None,
                          f"Accuracy: no J&F ({_no_scores(inputs, unscored)}).")
    else:
        if unscored:
            caption += f" Not in the table: {', '.join(unscored)}, no J&F ({_no_scores(inputs, unscored)})."
        table = TableItem("accuracy", "Accuracy per method", caption, accuracy)
    per_sequence = _figure(
        "sequence_scores", "J&F per sequence", "Each sequence's J&F (mean over its objects) per method.",
        _scored(draw.sequence_scores_figure(tables.sequence_scores(inputs), colours), "J&F per sequence", inputs),
    )
    return Section("Accuracy", [], [table, per_sequence])


def _gpu_reason(inputs: Inputs) -> str:
    reasons = []
    for run in inputs.runs:
        telemetry = ((run.manifest.get("sessions") or [{}])[-1]).get("telemetry") or {}
        reason = (telemetry.get("gpu") or {}).get("reason") if telemetry.get("telemetry", True) else "--no-telemetry"
        reasons.append(reason or f"run {run.name} has no GPU readings")
    return "; ".join(dict.fromkeys(reasons))


def _efficiency(inputs: Inputs, colours: dict[str, str]) -> Section:
    efficiency = tables.efficiency_table(inputs)
    source = tables.gpu_peak_source(inputs)
    gpu = (f"gpu_peak_mib: the largest {tables.GPU_PEAKS[source]} over all frames (MiB)" if source
           else f"gpu_peak_mib: not measured ({_gpu_reason(inputs)})")
    caption = (
        "fps: frames per second of the method's step alone; fps_io: with reading the frame and writing its masks "
        "(warm-up frames left out of both). step_p50_ms, step_p95_ms: median and 95th percentile of the step latency. "
        f"{gpu}. stored_features_end: feature vectors in memory (summed over objects) after the last frame, mean "
        "over sequences; stored_features_max: the most at any frame of any sequence."
    )
    items: list[TableItem | FigureItem] = [TableItem("efficiency", "Efficiency per method", caption, efficiency, digits=tables.DIGITS)]
    items.append(_figure(
        "latency", "Per-frame latency",
        "The method's step time against the frame index (as SWEM's Fig. 6): a memory that grows makes later frames "
        "slower, a fixed-size one keeps them flat.",
        draw.latency_figure(inputs.frames, colours),
    ))
    items.append(_figure(
        "stored_features", "Memory size",
        "Feature vectors the memory holds per object after each frame.",
        draw.stored_figure(inputs.frames, colours),
        partial=_without(inputs, "stored_features", "Stored features", "made with --no-telemetry"),
    ))
    items.append(_figure(
        "gpu_memory", "GPU memory", "GPU memory per frame, from the best reading the runs have.",
        draw.gpu_memory_figure(inputs.frames, colours, _gpu_reason(inputs)),
        partial=_without(inputs, "torch_peak_bytes", "GPU memory", "a CPU run, or no GPU readings"),
    ))
    items.append(_figure(
        "tradeoff", "Speed, accuracy and memory",
        "Each method's FPS against its J&F; the bubble's area is the stored features per object (each sequence's "
        "most, averaged over sequences), as SWEM's Fig. 7.",
        _scored(draw.tradeoff_figure(tables.tradeoff_points(inputs), colours), "Speed against accuracy", inputs),
    ))
    return Section("Efficiency", [], items)


def _over_time(inputs: Inputs, colours: dict[str, str]) -> Section:
    figure = _figure(
        "accuracy_over_time", "Accuracy and memory through the video",
        "Mean J of the frames at each stage of the video, above the memory size at the same stage: does a memory that "
        "compresses or forgets lose accuracy late in a video?",
        _scored(draw.accuracy_over_time_figure(inputs.frames, colours), "J over time", inputs),
    )
    return Section("Accuracy over time", [], [figure])


def _long_video(inputs: Inputs) -> Section:
    caption = (
        "Memory and step latency fitted against the frame index on the second half of each run (vosbench budget, "
        "README: Long videos), and projected: frames until memory fills a 24 or 80 GiB GPU and the step after 60 "
        "minutes of 24 fps video, at 1080p (growth scaled by pixels, latency growth by pixels squared; assumptions, "
        "not measurements). Memory is the GPU allocation where measured, else the method's memory bank."
    )
    try:
        table = tables.budget_table(inputs)
    except VosbenchError as error:
        return Section("Long videos", [], [TableItem("budget", "Memory budget", caption, None, f"Memory budget: {error}.")])
    return Section("Long videos", [], [TableItem("budget", "Memory budget", caption, table, digits=4)])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _qualitative(inputs: Inputs, colours: dict[str, str]) -> Section:
    found = load_strips(inputs, colours, max_sequences=MAX_STRIP_SEQUENCES)
    items: list[TableItem | FigureItem] = []
    for strip in found.strips:
        drawn = draw.strip_figure(strip, colours, STRIP_DPI)
        caption = f"{strip.dataset}, frames {', '.join(map(str, strip.columns))}."
        items.append(_figure(f"strip_{_slug(strip.sequence)}", strip.sequence, caption, drawn, dpi=STRIP_DPI, photo=True))
    items += [FigureItem("strips", "", "", None, reason) for reason in found.absent]
    if not found.strips and not found.absent:
        items.append(FigureItem("strips", "", "", None, "Qualitative strips: no sequence has frames with masks."))
    paragraphs = []
    if found.strips:
        truth = any(s.rows[0] == GROUND_TRUTH for s in found.strips)
        paragraphs.append(
            "Each method's masks are filled in its colour and every object is outlined in its DAVIS palette colour"
            + ("; the ground truth, filled white, is the top row." if truth else ".")
        )
    return Section("Qualitative results", paragraphs + found.notes, items)


def _redundancy(inputs: Inputs) -> Section:
    if not inputs.redundancy:
        return Section("Memory redundancy", ["No redundancy folder given: run `vosbench redundancy` and pass its output "
                                             "folder with --redundancy to add SWEM's Figs. 2 and 4 here."])
    items: list[TableItem | FigureItem] = []
    paragraphs = []
    for k, red in enumerate(inputs.redundancy):
        prefix = "redundancy" if len(inputs.redundancy) == 1 else f"redundancy{k + 1}"
        paragraphs.append(f"{prefix}: {red.title}, from {red.root.resolve()}.")
        items.append(_redundancy_table(red, prefix))
        every = (red.manifest.get("analysis") or {}).get("bank_every", "n")
        titles = {
            "redundancy": ("Inter- and intra-frame similarity",
                           "Cosine similarity of key features (as SWEM's Fig. 2): each position's best match in the "
                           "previous frame, all pairs within a frame, and both again with the frame compressed to EM bases."),
            "matching": ("Matching similarity to SWEM's bases",
                         "Each position's best match to the bases SWEM's memory fitted up to the previous frame, with "
                         "fixed and adaptive weights (as SWEM's Fig. 4)."),
            "variation": ("SwiftNet's variation",
                          "SwiftNet's variation-aware trigger run on the ground truth: the share of positions that varied "
                          "since the last memorised frame, and how often the trigger fires."),
            "bank": ("Redundancy inside a periodic bank",
                     f"A bank that adds a frame every {every} frames: the share of its features with a near duplicate."),
        }
        for key, drawn in draw.redundancy_figures(red).items():
            title, caption = titles[key]
            if len(inputs.redundancy) > 1:
                title = f"{prefix}: {title}"
            items.append(_figure(f"{prefix}_{REDUNDANCY_FIGURES[key]}", title, caption, drawn))
    return Section("Memory redundancy", paragraphs, items)


def _redundancy_table(red: RedundancyInput, prefix: str) -> TableItem:
    from vosbench.redundancy.summary import ALL

    overall = red.summary[red.summary["sequence"].astype(str) == ALL]
    table = overall[["analysis", "threshold", "fraction", "paper"]].reset_index(drop=True)
    table = table.assign(analysis=table["analysis"].astype(str))
    return TableItem(
        f"{prefix}_fractions", "Headline fractions" if prefix == "redundancy" else f"{prefix}: headline fractions",
        "Share of all counts at or above each analysis's threshold, pooled over sequences, next to the SWEM paper's "
        "figure (DAVIS 2017 val, STM's trained encoder).",
        table, digits={"threshold": 2, "fraction": 3, "paper": 3},
    )


def _settings(inputs: Inputs) -> Section:
    environment = tables.environment_table(inputs)
    settings = tables.settings_table(inputs)
    items = [
        TableItem("environment", "Environment", "Where each run ran (its latest session).", environment),
        TableItem("settings", "Method settings", "Every parameter of each method as the run resolved it, and its "
                  "checkpoint (blank: the method has no such parameter).", settings,
                  display=tables.settings_grid(settings, inputs.labels)),
    ]
    return Section("Environment and settings", [], items)
