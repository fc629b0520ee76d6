"""The ``vosbench`` command line (Typer). Commands are thin: the work lives in vosbench/."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from vosbench.atomic import check_output_folder
from vosbench.errors import VosbenchError

app = typer.Typer(
    name="vosbench",
    help="Benchmark and analyse memory in semi-supervised video object segmentation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Datasets: generate synthetic videos (synth), check a dataset before a run (check).", no_args_is_help=True)
app.add_typer(data_app, name="data")


@functools.cache
def rich_console(stderr: bool = False):
    """The rich console on stdout, or on stderr, made at first use: importing rich costs a
    quick command such as ``eval`` (which prints without it) a fiftieth of its CPU."""
    from rich.console import Console

    return Console(stderr=stderr)


@app.command("eval")
def eval_command(
    pred_dir: Path = typer.Argument(..., help="Folder of per-sequence prediction folders: <sequence>/<frame>.png."),
    gt: Path = typer.Option(..., "--gt", help="Folder of per-sequence annotation folders, e.g. DAVIS Annotations/480p."),
    out: Path = typer.Option(..., "--out", help="Folder for per_frame, per_sequence and global tables (.csv and .parquet)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes (default: the usable cores)."),
    mode: Optional[str] = typer.Option(
        None,
        "--mode",
        help="davis: objects of the first annotation frame, scored on every annotation frame but the first and last "
        "(davis2017-evaluation; also Long-Time Video and MOSE v1). youtube: every annotated object, scored on the "
        "annotation frames after its first. lvos, mose2, sav: those datasets' own scorers (README, Evaluation). "
        "Default: the --dataset's protocol, else davis.",
    ),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Dataset kind (lvos, mose, ltv, sav, ...): sets the default --mode."),
    meta: Optional[Path] = typer.Option(None, "--meta", help="lvos: the split's <split>_meta.json; mose2: meta.json (optional)."),
    unseen: Optional[Path] = typer.Option(None, "--unseen", help="lvos: file of the unseen-category videos, one per line."),
    sequences: Optional[str] = typer.Option(None, "--sequences", help="Comma-separated names (default: every folder in --gt)."),
    split: Optional[Path] = typer.Option(None, "--split", help="File of sequence names, one per line (e.g. DAVIS ImageSets)."),
) -> None:
    """J&F of predictions against ground truth, exactly as each benchmark's own evaluator computes them."""
    import time

    from vosbench.eval.folders import read_split
    from vosbench.eval.protocols import evaluate_protocol

    if sequences is not None and split is not None:
        raise VosbenchError("give either --sequences or --split, not both")
    check_output_folder(out)
    interrupt_note(f"nothing was written to {out} (its tables are written when every sequence is scored); rerun the command")
    if dataset is not None:
        from vosbench.data import KINDS  # the dataset readers, only for their protocol

        if dataset not in KINDS:
            raise VosbenchError(f"unknown dataset kind {dataset!r}; known: {', '.join(KINDS)}")
    mode = mode or (KINDS[dataset][0].protocol if dataset else "davis")
    names = read_split(split) if split is not None else None
    if sequences is not None:
        names = sequence_names(sequences)
    began = time.perf_counter()
    result = evaluate_protocol(
        mode, pred_dir, gt, meta=meta, unseen=read_split(unseen) if unseen else (), sequences=names,
        workers=workers, progress=True,
    )
    result.write(out)
    # the columns, not the DataFrames: building those would import pandas
    overall, objects = result.columns["global"], result.columns["per_sequence"]["sequence"]
    figures = "  ".join(f"{name} {float(values[0]):.3f}" for name, values in list(overall.items())[:4])
    # plain prints: rich is not needed for them (see rich_console)
    print(
        f"{out}: {figures}  over {len(objects)} object(s) in {len(set(objects))} sequence(s) ({mode} mode, "
        f"{time.perf_counter() - began:.1f} s)"
    )
    if mode == "lvos" and unseen is None:
        print("note: no --unseen file, so every video counts as seen and LVOS's released J&F-Mean is NaN; see J&F-objects", file=sys.stderr)
    if result.unscored:
        listed = ", ".join(f"{s}/{o}" for s, o in result.unscored[:5])
        print(f"note: {len(result.unscored)} object(s) have no scored frame and are left out: {listed}", file=sys.stderr)


@app.command("budget")
def budget_command(
    run_dir: Path = typer.Argument(..., help="A run directory (vosbench run, with telemetry)."),
    gpu: str = typer.Option("24,80", "--gpu", help="GPU memory budgets in GiB, comma-separated."),
    fit_frames: Optional[int] = typer.Option(
        None, "--fit-frames", min=4, help="Fit on the frames before this one only, and check the prediction on the rest."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for budget.csv, objects.csv (and check.csv); default RUN_DIR/budget."),
) -> None:
    """Fit each method's memory and latency growth over frames (and objects, across sequences) and project long videos (README, Long videos)."""
    from rich.table import Table

    from vosbench import budget
    from vosbench.run.tables import load_run

    try:
        gpus = tuple(float(v) for v in gpu.split(",") if v.strip())
    except ValueError:
        raise VosbenchError(f"--gpu {gpu!r}: expected GiB numbers, e.g. 24,80") from None
    run = load_run(run_dir)
    folder = check_output_folder(out or run_dir / "budget")
    interrupt_note(f"{folder}: budget.csv is written whole or not at all; rerun the command")
    table = budget.project(run, gpus, fit_frames)
    written = [budget.write(table, folder / "budget.csv")]
    view = Table(title=f"{run_dir}: memory and latency budget", show_lines=False)
    for name in ("method", "sequence", "memory growth", "bytes/frame", f"frames to {gpus[0]:g} GiB at 1080p", "ms/frame after 60 min at 1080p"):
        view.add_column(name)
    for row in table.to_dict("records"):
        view.add_row(
            row["method"], row["sequence"], row["memory_growth"], f"{row['memory_b_bytes_per_frame']:.4g}",
            f"{row[f'frames_to_{gpus[0]:g}GiB_1080p']:.4g}", f"{row['step_ms_60min_1080p']:.4g}",
        )
    rich_console().print(view)
    grown = budget.objects(table, gpus)
    written.append(budget.write(grown, folder / "objects.csv"))
    for row in grown.to_dict("records"):
        if row["objects_growth"] == "objects not varied":
            line = f"{row['method']}: every sequence has {row['objects_seen']} object(s): no fit in objects"
        else:
            line = (
                f"{row['method']}: {row['objects_growth']} over {row['sequences']} sequences ({row['objects_seen']} objects); "
                f"per object {row['level_per_object_bytes_per_pixel']:.4g} bytes/pixel held and "
                f"{row['growth_per_object_bytes_per_pixel_frame']:.4g} bytes/pixel added per frame; "
                f"{gpus[0]:g} GiB at 1080p with 10 objects after {row[f'frames_to_{gpus[0]:g}GiB_1080p_10obj']:.4g} frames"
            )
        rich_console().print(line, highlight=False, soft_wrap=True)
    if fit_frames is not None:
        checked = budget.check(run, fit_frames)
        written.append(budget.write(checked, folder / "check.csv"))
        for row in checked.to_dict("records"):
            rich_console().print(
                f"{row['method']} {row['sequence']}: fitted on frames < {fit_frames}, memory of the other "
                f"{row['checked_frames']} predicted within {100 * row['memory_max_rel_error']:.2f} % "
                f"(mean {100 * row['memory_mean_rel_error']:.2f} %), latency median error "
                f"{100 * row['latency_median_rel_error']:.1f} %",
                highlight=False, soft_wrap=True,
            )
    rich_console().print(f"wrote {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True)


@app.command("methods")
def methods_command() -> None:
    """List the registered methods, their parameters and defaults."""
    from rich.table import Table

    from vosbench import registry

    table = Table(title="vosbench methods", show_lines=True)
    table.add_column("method", style="bold")
    table.add_column("parameter")
    table.add_column("default")
    table.add_column("meaning")
    for spec in registry.methods().values():
        first = True
        for param in spec.params or ():
            table.add_row(spec.name if first else "", param.name, repr(param.default), param.help)
            first = False
        for family, values in spec.dataset_defaults.items():
            shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
            table.add_row("", f"on {family} videos", shown, "the official evaluation's defaults for this dataset family (-d frames: generic)")
        if first:
            table.add_row(spec.name, "", "", spec.summary)
    rich_console().print(table)


@data_app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", help="Folder to write (new or empty, or an earlier run's to resume)."),
    layout: str = typer.Option("davis", "--layout", help="davis, youtube (YouTube-VOS 2019 valid), lvos (long videos: objects leave and come back), mose (v2: every frame scored, objects leave and come back), ltv (Long-Time Video: sparse ground truth) or sav (SA-V val: per-object masks at 6 of 24 fps)."),
    videos: int = typer.Option(3, "--videos", help="Number of videos."),
    frames: int = typer.Option(30, "--frames", help="Frames per video."),
    size: str = typer.Option("240x432", "--size", help="Frame size, HEIGHTxWIDTH."),
    objects: int = typer.Option(2, "--objects", help="Objects per video."),
    seed: int = typer.Option(0, "--seed", help="Same seed and options give byte-identical files."),
    quality: int = typer.Option(90, "--quality", help="JPEG quality."),
) -> None:
    """Generate synthetic videos: textured objects that move, scale, occlude and enter."""
    import time

    from vosbench.data.synth import SynthParams, generate, parse_size

    height, width = parse_size(size)
    check_output_folder(out)
    interrupt_note(f"the videos finished in {out} are kept; rerun the same command to write the rest")
    params = SynthParams(layout, videos, frames, height, width, objects, seed, quality)
    began = time.perf_counter()
    result = generate(out, params)
    written = len(result.sequences) - len(result.skipped)
    rich_console().print(
        f"{result.root}: {written} videos written, {len(result.skipped)} already complete "
        f"({layout}, {frames} frames of {height}x{width}, {objects} objects, seed {seed}) "
        f"in {time.perf_counter() - began:.1f} s; " + (f"index {result.index}" if result.index else "no index file (the layout has none)"),
        highlight=False,
        soft_wrap=True,
    )


@data_app.command("check")
def check_command(
    dataset: str = typer.Option(..., "--dataset", "-d", help="davis2016, davis2017, youtube2018, youtube2019, frames or synthetic."),
    root: Path = typer.Option(..., "--root", help="Dataset root (for frames: the folder of frames)."),
    split: Optional[str] = typer.Option(None, help="Split (default: the dataset's val/valid)."),
    mask: Optional[Path] = typer.Option(None, help="First-frame mask PNG (dataset frames)."),
    sequences: Optional[str] = typer.Option(None, help="Comma-separated sequence names (default: all)."),
) -> None:
    """Read a dataset as `vosbench run` would, without segmenting: every sequence's frames
    and annotations (sizes from their headers) and the objects its given masks hold. A
    problem ends in one line naming the file, before a long run meets it."""
    from rich.table import Table

    data = _open_data(dataset, root, split, sequences, mask)
    table = Table(title=f"{data.name}{' (synthetic)' if data.synthetic else ''}: {len(data.sequences)} sequence(s)")
    for column in ("sequence", "frames", "size", "objects (first frame)", "annotated frames"):
        table.add_column(column, justify="left" if column == "sequence" else "right")
    frames = 0
    for name in data.sequences:
        video = data.video(name)
        video.check()
        info = video.info
        frames += info.num_frames
        objects = ", ".join(f"{i} ({info.first_frame[i]})" for i in info.objects.ids)
        table.add_row(name, str(info.num_frames), f"{info.height}x{info.width}", objects, str(len(video.gt_frames)))
    rich_console().print(table)
    rich_console().print(f"{root}: {len(data.sequences)} sequence(s), {frames} frames, every file readable", highlight=False, soft_wrap=True)


# Options that `run` and `sweep` share (a sweep is a run over a grid of settings)
WARMUP = typer.Option(1, help="First frames of each sequence marked warm-up and left out of speed figures.")
SEED = typer.Option(0, help="torch's seed, set before each sequence.")
EVALUATE = typer.Option(True, "--eval/--no-eval", help="Score each sequence against the dataset's ground truth, if any.")
TELEMETRY = typer.Option(
    True, "--telemetry/--no-telemetry", help="Stage latency, memory and GPU readings (off: host-clock load/step/write only)."
)
OVERWRITE = typer.Option(False, "--overwrite", help="Redo finished sequences instead of skipping them.")

# Where the tasks of `run` and `sweep` execute (README "Scale-out"); one definition for both.
EXECUTOR = typer.Option(
    "inprocess", "--executor", rich_help_panel="Scale-out",
    help="inprocess (default), or ray: each task (one method label over --sequences-per-task sequences) is a Ray task "
    "on a local Ray started here or on the cluster at --address, retried when its worker dies.",
)
ADDRESS = typer.Option(
    None, "--address", rich_help_panel="Scale-out",
    help="Ray cluster to join: auto (the cluster this machine joined with `ray start`), HOST:6379 or ray://HOST:10001 "
    "(default: $RAY_ADDRESS if set, else a new local Ray). RUN_DIR must be on a filesystem every node sees.",
)
WORKERS = typer.Option(None, "--workers", rich_help_panel="Scale-out", help="Local Ray only: tasks at once (default: one per core).")
CPUS_PER_TASK = typer.Option(None, "--cpus-per-task", rich_help_panel="Scale-out", help="CPUs per task; its torch threads (default 1).")
GPUS_PER_TASK = typer.Option(
    None, "--gpus-per-task", rich_help_panel="Scale-out", help="GPUs per task, may be a share such as 0.5 (default: 1 with --device cuda, else 0)."
)
SEQUENCES_PER_TASK = typer.Option(
    None, "--sequences-per-task", rich_help_panel="Scale-out", help="Sequences of one method label per task (default 1)."
)
RETRIES = typer.Option(None, "--retries", rich_help_panel="Scale-out", help="How often Ray reruns a task whose worker died (default 3).")


def _executor(name, device, address, workers, cpus_per_task, gpus_per_task, sequences_per_task, retries):
    from vosbench.executors import make_executor

    return make_executor(
        name, device=device, address=address, workers=workers, cpus_per_task=cpus_per_task,
        gpus_per_task=gpus_per_task, sequences_per_task=sequences_per_task, retries=retries,
    )


@app.command("run")
def run_command(
    method: list[str] = typer.Option(
        ..., "--method", "-m",
        help="Registered method (see `vosbench methods`); repeat for several. NAME@TAG labels a second run of "
        "one method, e.g. -m stcn -m stcn@every10.",
    ),
    dataset: str = typer.Option(..., "--dataset", "-d", help="davis2016, davis2017, youtube2018, youtube2019, frames or synthetic."),
    root: Path = typer.Option(..., "--root", help="Dataset root (for frames: the folder of frames)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory; rerunning the same command resumes it."),
    split: Optional[str] = typer.Option(None, help="Split (default: the dataset's val/valid)."),
    mask: Optional[Path] = typer.Option(None, help="First-frame mask PNG (dataset frames)."),
    checkpoint: list[str] = typer.Option(
        [], "--checkpoint",
        help="Official checkpoint, as PATH (one method) or LABEL:PATH; a method without one runs training-free.",
    ),
    settings: list[str] = typer.Option(
        [], "--set",
        help="Method parameter as name=value for every method, or LABEL:name=value for one (repeatable).",
    ),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    dtype: str = typer.Option("float32", help="float32, or float16/bfloat16 autocast."),
    save_probs: bool = typer.Option(False, "--save-probs", help="Also write probs/<sequence>.npz (float32 [T, K+1, H, W])."),
    max_frames: Optional[int] = typer.Option(None, help="Run only the first N frames of each sequence."),
    sequences: Optional[str] = typer.Option(None, help="Comma-separated sequence names (default: all)."),
    shard: Optional[str] = typer.Option(None, help="i/n: this run takes every n-th of the sorted sequences, from the i-th; "
                                        "join the shards' run directories with `vosbench merge`."),
    warmup: int = WARMUP,
    seed: int = SEED,
    evaluate: bool = EVALUATE,
    telemetry: bool = TELEMETRY,
    overwrite: bool = OVERWRITE,
    executor: str = EXECUTOR,
    address: Optional[str] = ADDRESS,
    workers: Optional[int] = WORKERS,
    cpus_per_task: Optional[float] = CPUS_PER_TASK,
    gpus_per_task: Optional[float] = GPUS_PER_TASK,
    sequences_per_task: Optional[int] = SEQUENCES_PER_TASK,
    retries: Optional[int] = RETRIES,
) -> None:
    """Segment a dataset with one or more methods, measuring every frame.

    RUN_DIR gets masks in the dataset's layout (masks/<sequence>/, or masks/<label>/<sequence>/ with several methods; YouTube-VOS: Annotations/ and a zip), per-frame records (frames.parquet: latency by stage, memory, stored features, J and F), sequences.parquet, summary.csv and manifest.json.

    Each sequence is committed when done: after Ctrl-C or a kill, rerun the same command to resume.
    """
    import sys as _sys

    from vosbench.run import RunConfig, Shard, choose_methods, run
    from vosbench.run.progress import RichProgress

    choose_methods(method, settings, checkpoint)  # bad methods fail before any dataset is read
    check_output_folder(out)
    interrupt_note(f"the sequences finished in {out} are kept; rerun the same command to resume")
    engine = _executor(executor, device, address, workers, cpus_per_task, gpus_per_task, sequences_per_task, retries)
    data = _open_data(dataset, root, split, sequences, mask)
    methods = choose_methods(method, settings, checkpoint, data.family)  # with the dataset's own defaults
    config = RunConfig(
        methods, device, dtype, save_probs, max_frames, warmup, seed, telemetry, evaluate,
        Shard.parse(shard) if shard else None,
    )
    with RichProgress(rich_console(stderr=True)) as progress:
        report = run(
            config, data, out, overwrite=overwrite, progress=progress, command=["vosbench", *_sys.argv[1:]], executor=engine
        )
    _print_summary(out, len(report.segmented), len(report.skipped))


def _print_summary(out: Path, segmented: int, skipped: int) -> None:
    rich_console().print(f"{out}: {segmented} sequence(s) segmented, {skipped} already done", highlight=False, soft_wrap=True)
    _print_run_table(out)


def _print_run_table(out: Path) -> None:
    """The run's summary, a row per method label."""
    from rich.table import Table

    from vosbench.run import load_run

    summary = load_run(out).summary
    console = rich_console()
    table = Table()
    # method labels are never cut (a narrow terminal wraps the figures' headers instead)
    widest = max([len("method"), *(len(label) for label in summary["method"])])
    table.add_column("method", justify="left", no_wrap=True, min_width=widest)
    for column in ("sequences", "frames", "fps", "fps I/O", "p50 ms", "p95 ms", "stored max", "J&F"):
        table.add_column(column, justify="right")
    for row in summary.to_dict("records"):
        table.add_row(
            row["method"], str(row["sequences"]), str(row["frames"]), _figure(row["fps"], ".2f"),
            _figure(row["fps_io"], ".2f"), _figure(row["step_p50_ms"], ".1f"), _figure(row["step_p95_ms"], ".1f"),
            _figure(row["stored_features_max"], "d"), _figure(row["J&F-Mean"], ".3f"),
        )
    console.print(table)


def _figure(value, spec: str) -> str:
    import pandas as pd

    return "-" if pd.isna(value) else format(value, spec)


@app.command("sweep")
def sweep_command(
    method: list[str] = typer.Option(
        ..., "--method", "-m", help="Registered method (see `vosbench methods`); repeat for several. Each takes the grid axes it has."
    ),
    grid: list[str] = typer.Option(
        ..., "--grid", help="An axis as name=v1,v2,... (repeatable); the sweep runs every combination, e.g. "
        "--grid num_bases=64,128 --grid em_iters=1,2.",
    ),
    dataset: str = typer.Option(..., "--dataset", "-d", help="davis2016, davis2017, youtube2018, youtube2019, frames or synthetic."),
    root: Path = typer.Option(..., "--root", help="Dataset root (for frames: the folder of frames)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory of the sweep; rerunning the same command resumes it."),
    settings: list[str] = typer.Option(
        [], "--set", help="Fixed parameter as name=value for every method, or METHOD:name=value for one (repeatable)."
    ),
    checkpoint: list[str] = typer.Option(
        [], "--checkpoint", help="Official checkpoint, as PATH (one method) or METHOD:PATH; without one a method runs training-free."
    ),
    split: Optional[str] = typer.Option(None, help="Split (default: the dataset's val/valid)."),
    mask: Optional[Path] = typer.Option(None, help="First-frame mask PNG (dataset frames)."),
    sequences: Optional[str] = typer.Option(None, help="Comma-separated sequence names (default: all)."),
    max_frames: Optional[int] = typer.Option(None, help="Run only the first N frames of each sequence."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    dtype: str = typer.Option("float32", help="float32, or float16/bfloat16 autocast."),
    shard: Optional[str] = typer.Option(None, help="i/n: every n-th of the sorted sequences, from the i-th (join with `vosbench merge`)."),
    warmup: int = WARMUP,
    seed: int = SEED,
    evaluate: bool = EVALUATE,
    telemetry: bool = TELEMETRY,
    overwrite: bool = OVERWRITE,
    executor: str = EXECUTOR,
    address: Optional[str] = ADDRESS,
    workers: Optional[int] = WORKERS,
    cpus_per_task: Optional[float] = CPUS_PER_TASK,
    gpus_per_task: Optional[float] = GPUS_PER_TASK,
    sequences_per_task: Optional[int] = SEQUENCES_PER_TASK,
    retries: Optional[int] = RETRIES,
) -> None:
    """Run a grid of method settings as one run directory and tabulate the ablation.

    Every combination of the --grid values is one method label (swem@num_bases=64,em_iters=2) of one run in OUT, so it resumes, shards and merges as `vosbench run` does; OUT/sweep.json records the grid. Each invocation ends by writing OUT/sweep/: ablation.csv (a row per setting), ablation.md and ablation.tex (J&F / FPS, a pivot for two axes) and tradeoff.png/.pdf (FPS against J&F).
    """
    import sys as _sys

    from rich.table import Table

    from vosbench.report.table_formats import cell
    from vosbench.run import Shard
    from vosbench.run.progress import RichProgress
    from vosbench.sweep import plan_sweep, run_sweep
    from vosbench.sweep.tables import DIGITS, display_tables

    plan_sweep(method, grid, settings, checkpoint)  # bad values fail before any dataset is read
    check_output_folder(out)
    interrupt_note(f"the sequences finished in {out} are kept; rerun the same command to resume")
    engine = _executor(executor, device, address, workers, cpus_per_task, gpus_per_task, sequences_per_task, retries)
    data = _open_data(dataset, root, split, sequences, mask)
    plan = plan_sweep(method, grid, settings, checkpoint, data.family)  # with the dataset's own defaults
    config = plan.config(
        device=device, dtype=dtype, max_frames=max_frames, warmup=warmup, seed=seed, telemetry=telemetry,
        evaluate=evaluate, shard=Shard.parse(shard) if shard else None,
    )
    with RichProgress(rich_console(stderr=True)) as progress:
        result = run_sweep(
            plan, config, data, out, overwrite=overwrite, progress=progress, command=["vosbench", *_sys.argv[1:]],
            executor=engine,
        )
    console = rich_console()
    report = result.report
    console.print(f"{out}: {len(plan.choices)} setting(s); {len(report.segmented)} sequence(s) segmented, "
                  f"{len(report.skipped)} already done", highlight=False, soft_wrap=True)
    caption, shown = display_tables(result.table, plan.axis_names)[0]
    console.print(caption, highlight=False, soft_wrap=True)
    table = Table()
    for column in shown.columns:
        table.add_column(str(column), justify="right" if column not in ("method",) else "left")
    for row in shown.itertuples(index=False):
        table.add_row(*(cell(value, DIGITS.get(column, 3)) for column, value in zip(shown.columns, row)))
    console.print(table)
    console.print(f"tables and trade-off figure: {result.outputs}", highlight=False, soft_wrap=True)


@app.command("merge")
def merge_command(
    out: Path = typer.Argument(..., help="New run directory for the merged run."),
    shards: list[Path] = typer.Argument(..., help="The run directories of every shard (--shard 1/n ... n/n)."),
) -> None:
    """Join the run directories of the shards of one run into a complete run directory."""
    from vosbench.run.merge import merge

    check_output_folder(out, "OUT")
    interrupt_note(f"{out} is written only when the merge is complete; rerun the command")
    merge(out, shards)
    rich_console().print(f"{out}: merged {len(shards)} shard(s)")


@app.command("redundancy")
def redundancy_command(
    dataset: str = typer.Option(..., "--dataset", "-d", help="davis2016, davis2017, youtube2018, youtube2019, frames or synthetic."),
    root: Path = typer.Option(..., "--root", help="Dataset root (for frames: the folder of frames)."),
    features: str = typer.Option(..., "--features", "-f", help="Registered method whose key features are analysed."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new, or an earlier run's with the same settings to resume)."),
    split: Optional[str] = typer.Option(None, help="Split (default: the dataset's val/valid)."),
    mask: Optional[Path] = typer.Option(None, help="First-frame mask PNG (dataset frames)."),
    checkpoint: Optional[Path] = typer.Option(None, help="Official checkpoint: the trained key encoder; without it, training-free features."),
    settings: list[str] = typer.Option([], "--set", help="Method parameter as name=value (repeatable), e.g. tf_stride=8."),
    sequences: Optional[str] = typer.Option(None, help="Comma-separated sequence names (default: all)."),
    max_frames: Optional[int] = typer.Option(None, min=1, help="Analyse only the first N frames of each sequence."),
    bases: int = typer.Option(256, help="EM bases per frame; SWEM's matching memory holds half per group."),
    bins: int = typer.Option(100, help="Histogram bins over [-1, 1]; a multiple of 20 (every threshold on an edge)."),
    bank_every: int = typer.Option(5, help="The periodic bank stores every n-th frame (STCN's mem_every); XMem's memory too."),
    max_mid_term_frames: int = typer.Option(10, help="XMem's long-term memory: working frames that trigger a consolidation."),
    min_mid_term_frames: int = typer.Option(5, help="XMem's long-term memory: newest frames a consolidation leaves."),
    num_prototypes: int = typer.Option(128, help="XMem's long-term memory: prototypes per consolidation."),
    th_f: float = typer.Option(0.1, help="SwiftNet variation: colour change threshold (mean over RGB, 0..1)."),
    th_m: float = typer.Option(0.5, help="SwiftNet variation: mask change threshold."),
    p_th: float = typer.Option(0.025, help="SwiftNet variation: the trigger fires above this share of varied positions."),
    beta: float = typer.Option(0.1, help="SwiftNet: share of a memorised frame's positions the update adds."),
    save_features: bool = typer.Option(False, "--save-features", help="Also write features/<sequence>.npy (float32 [T, N, C])."),
    device: str = typer.Option("cpu", help="Device of the feature extractor: cpu or cuda."),
    threads: Optional[int] = typer.Option(None, min=1, help="CPU threads (default: torch's choice; 1 is faster on a busy machine)."),
) -> None:
    """Memory redundancy of a method's key features: SWEM's inter/intra-frame analyses with
    and without EM bases, SWEM's matching similarity, SwiftNet's variation, and the
    redundancy of a periodic bank, of XMem's long-term prototypes and of an object memory's
    summaries (Cutie's) over time."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from vosbench import registry
    from vosbench.redundancy.analysis import Settings
    from vosbench.redundancy.run import RedundancyConfig, run_redundancy
    from vosbench.redundancy.summary import ALL, HEADLINES

    if threads is not None:
        torch.set_num_threads(threads)
    registry.get(features)  # an unknown method fails before any dataset is read
    check_output_folder(out)
    interrupt_note(f"the sequences analysed in {out} are kept; rerun the same command to resume")
    analysis = Settings(
        bases=bases, bins=bins, bank_every=bank_every, max_mid_term_frames=max_mid_term_frames,
        min_mid_term_frames=min_mid_term_frames, num_prototypes=num_prototypes, th_f=th_f, th_m=th_m, p_th=p_th, beta=beta,
    )
    data = _open_data(dataset, root, split, sequences, mask)
    config = RedundancyConfig(
        features, str(checkpoint) if checkpoint else None, registry.parse_settings(settings), device, analysis,
        max_frames, save_features,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    err = rich_console(stderr=True)
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(features, total=None)

        def advance(sequence: str, index: int, count: int) -> None:
            progress.update(task, description=f"{features} {sequence}", completed=index + 1, total=count)

        tables = run_redundancy(config, data, out, on_frame=advance)

    overall = tables.summary[tables.summary["sequence"] == ALL].set_index("analysis")
    notes = {h.analysis: h.paper_note for h in HEADLINES}
    table = Table(title=f"redundancy of {features} key features ({'trained' if checkpoint else 'training-free'})")
    for name in ("analysis", "share of counts", "fraction", "SWEM paper"):
        table.add_column(name)
    for analysis_name, row in overall.iterrows():
        table.add_row(analysis_name, f">= {row['threshold']:g}", f"{row['fraction']:.3f}", notes[analysis_name])
    console = rich_console()
    console.print(table)
    for _, row in tables.sequences[~tables.sequences["masks"]].iterrows():
        rich_console(stderr=True).print(f"note: {row['sequence']}: {row['note']}")
    console.print(f"{len(tables.sequences)} sequences analysed into {out}", highlight=False, soft_wrap=True)


@app.command("report")
def report_command(
    runs: list[Path] = typer.Argument(
        ..., metavar="RUN_DIR", help="Run directories made by `vosbench run` (several are compared side by side)."
    ),
    redundancy: list[Path] = typer.Option([], "--redundancy", help="Output folder of `vosbench redundancy` (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: reports/<first run directory's name>)."),
    formats: str = typer.Option("html,pdf,md,latex", "--format", help="Comma-separated: html, pdf, md, latex."),
    title: Optional[str] = typer.Option(None, "--title", help="The report's title (default: its methods and datasets)."),
) -> None:
    """Compare runs' methods in figures and tables: HTML, PDF, Markdown and LaTeX.

    Accuracy, speed, memory, qualitative strips and memory redundancy, as one self-contained HTML file, a PDF, Markdown and LaTeX tables; figures as PNG and tables as CSV beside them. Parts a run did not measure are stated, not drawn empty.
    """
    from vosbench.report.build import build_report, parse_formats

    chosen = parse_formats(formats)  # a bad --format fails before any run is read
    interrupt_note("a report folder is replaced only when the new report is complete; rerun the command")
    written = build_report(runs, redundancy, out, chosen, title)
    console = rich_console()
    for path in written.values():
        console.print(str(path), highlight=False, soft_wrap=True)


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("demo"), "--out", "-o", help="Folder for the data, run, redundancy analysis and report."),
    root: Optional[Path] = typer.Option(None, "--root", help="A DAVIS-layout dataset to use instead of generated videos."),
    dataset: str = typer.Option("davis2017", "--dataset", "-d", help="Kind of --root: davis2016 or davis2017."),
    sequences: Optional[str] = typer.Option(None, help="With --root: comma-separated sequence names (default: all)."),
    max_frames: Optional[int] = typer.Option(None, min=1, help="With --root: only the first N frames of each sequence."),
) -> None:
    """Everything vosbench does, on generated videos: segment them with STCN, SwiftNet and
    SWEM (training-free), score them, analyse memory redundancy and write the HTML and PDF
    report. About a minute on two CPU cores; a rerun resumes."""
    import time

    from vosbench.demo import run_demo
    from vosbench.run.progress import RichProgress

    if root is None and (sequences is not None or max_frames):
        raise VosbenchError("--sequences and --max-frames choose from --root; give --root DAVIS_DIR or leave them out")
    check_output_folder(out)
    interrupt_note(f"what the demo finished in {out} is kept; rerun `vosbench demo` to resume")
    began = time.perf_counter()
    chosen = sequence_names(sequences) if sequences is not None else None
    with RichProgress(rich_console(stderr=True)) as progress:
        result = run_demo(out, root, dataset, chosen, max_frames, progress=progress, on_step=lambda s: rich_console(stderr=True).print(s))
    _print_run_table(result.run)
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
    console = rich_console()
    console.print(f"demo done in {time.perf_counter() - began:.1f} s ({steps})", highlight=False, soft_wrap=True)
    for path in result.report.values():
        console.print(str(path), highlight=False, soft_wrap=True)


def sequence_names(text: str, option: str = "--sequences") -> list[str]:
    """``--sequences a,b`` -> names; an empty list is a mistake, not "every sequence"."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise VosbenchError(f"{option} {text!r}: names no sequence; give comma-separated names, or leave it out for all")
    return names


def _open_data(kind: str, root: Path, split: Optional[str], sequences: Optional[str], mask: Optional[Path]):
    """The dataset of ``--dataset/--root/--split``, limited to ``--sequences`` (comma-separated).

    Paths are made absolute: tasks on other machines (``--executor ray``) start elsewhere."""
    from vosbench.data import open_dataset

    options = {}
    if sequences is not None:
        options["sequences"] = sequence_names(sequences)
    if mask is not None:
        options["mask"] = mask.absolute()
    return open_dataset(kind, root.absolute(), split, **options)


# What Ctrl-C keeps, said by the command that is running (``interrupt_note``).
_INTERRUPTED = {"note": "nothing was left half-written"}


def interrupt_note(note: str) -> None:
    """What a Ctrl-C during this command keeps, and how to go on (printed by ``main``)."""
    _INTERRUPTED["note"] = note


def main() -> None:
    """Console-script entry: bad input ends in one line on stderr and a non-zero exit.

    Every ending passes here: a ``VosbenchError`` (bad input), running out of memory and
    a file-system refusal end in one line each and exit 2; Ctrl-C (which typer turns
    into exit code 130) says what was kept. Anything else is a bug and keeps its traceback.
    """
    # numpy's OpenBLAS starts a thread per core as numpy loads, about a tenth of a second
    # of CPU per process (more with worker processes), and vosbench never gives numpy a
    # matrix big enough to use them: the heavy algebra runs in torch, on its own threads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app()
    except VosbenchError as error:
        _fail(str(error))
    except MemoryError:
        _fail("ran out of memory; try fewer or shorter sequences (--max-frames), smaller frames or a bigger machine")
    except OSError as error:
        # a refusal of the file system that no earlier check could foresee (disk full, say)
        where = f"{error.filename}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error}; free space or choose another output folder")
    except RuntimeError as error:
        if not _out_of_memory(error):
            raise
        _fail(f"ran out of memory ({str(error).splitlines()[0][:120]}); try --max-frames, smaller frames "
              "(--set resize_short=...), fewer methods at once or a bigger device")
    except SystemExit as done:
        if done.code == 130:
            rich_console(stderr=True).print(f"vosbench: interrupted; {_INTERRUPTED['note']}", highlight=False, soft_wrap=True)
        raise


def _fail(message: str) -> None:
    rich_console(stderr=True).print(f"[bold red]vosbench: error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _out_of_memory(error: RuntimeError) -> bool:
    import torch

    text = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


if __name__ == "__main__":
    main()
