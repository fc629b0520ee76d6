"""The ``vosbench`` command line (Typer). Commands are thin: the work lives in vosbench/."""

from __future__ import annotations

import sys

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
