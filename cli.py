"""The ``vosbench`` command line (Typer). Commands are thin: the work lives in vosbench/."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from vosbench.errors import VosbenchError

app = typer.Typer(
    name="vosbench",
    help="Benchmark and analyse memory in semi-supervised video object segmentation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(help="Datasets: generate synthetic videos, inspect layouts.", no_args_is_help=True)
app.add_typer(data_app, name="data")

stderr = Console(stderr=True)


@app.command("eval")
def eval_command(
    pred_dir: Path = typer.Argument(..., help="Folder of per-sequence prediction folders: <sequence>/<frame>.png."),
    gt: Path = typer.Option(..., "--gt", help="Folder of per-sequence annotation folders, e.g. DAVIS Annotations/480p."),
    out: Path = typer.Option(..., "--out", help="Folder for per_frame, per_sequence and global tables (.csv and .parquet)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes (default: the usable cores)."),
    mode: str = typer.Option(
        "davis",
        "--mode",
        help="davis: objects of the first annotation frame, scored on every annotation frame but the first and last "
        "(davis2017-evaluation). youtube: every annotated object, scored on the annotation frames after its first.",
    ),
    sequences: str | None = typer.Option(None, "--sequences", help="Comma-separated names (default: every folder in --gt)."),
    split: Path | None = typer.Option(None, "--split", help="File of sequence names, one per line (e.g. DAVIS ImageSets)."),
) -> None:
    """J&F of predictions against ground truth, exactly as davis2017-evaluation computes them."""
    import time

    from vosbench.eval import evaluate
    from vosbench.eval.folders import read_split

    if sequences is not None and split is not None:
        raise VosbenchError("give either --sequences or --split, not both")
    names = read_split(split) if split is not None else None
    if sequences is not None:
        names = [name.strip() for name in sequences.split(",") if name.strip()]
    began = time.perf_counter()
    result = evaluate(pred_dir, gt, sequences=names, mode=mode, workers=workers, progress=True)
    result.write(out)
    row = result.global_.iloc[0]
    scored = result.per_sequence
    Console().print(
        f"{out}: J&F {row['J&F-Mean']:.3f}  J {row['J-Mean']:.3f}  F {row['F-Mean']:.3f}  "
        f"over {len(scored)} object(s) in {scored['sequence'].nunique()} sequence(s) ({mode} mode, "
        f"{time.perf_counter() - began:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )
    if result.unscored:
        listed = ", ".join(f"{s}/{o}" for s, o in result.unscored[:5])
        stderr.print(f"note: {len(result.unscored)} object(s) have no scored frame and are left out: {listed}")


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
        if first:
            table.add_row(spec.name, "", "", spec.summary)
    Console().print(table)


def main() -> None:
    """Console-script entry: bad input ends in one line on stderr and a non-zero exit."""
    try:
        app()
    except VosbenchError as error:
        stderr.print(f"[bold red]vosbench: error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        stderr.print("vosbench: interrupted; finished work is kept and a rerun resumes")
        sys.exit(130)


if __name__ == "__main__":
    main()
