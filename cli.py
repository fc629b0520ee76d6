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


@data_app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", help="Folder to write (new or empty, or an earlier run's to resume)."),
    layout: str = typer.Option("davis", "--layout", help="davis or youtube (YouTube-VOS 2019 valid)."),
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
    params = SynthParams(layout, videos, frames, height, width, objects, seed, quality)
    began = time.perf_counter()
    result = generate(out, params)
    written = len(result.sequences) - len(result.skipped)
    Console().print(
        f"{result.root}: {written} videos written, {len(result.skipped)} already complete "
        f"({layout}, {frames} frames of {height}x{width}, {objects} objects, seed {seed}) "
        f"in {time.perf_counter() - began:.1f} s; index {result.index}",
        highlight=False,
        soft_wrap=True,
    )


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
