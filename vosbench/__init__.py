"""vosbench: benchmarking and analysis of memory in semi-supervised VOS."""

from vosbench.errors import VosbenchError

__version__ = "0.1.0"
__all__ = ["VosbenchError", "__version__", "load_run"]


def load_run(path):
    """A run directory's manifest and tables (``vosbench.run.Run``), for notebooks."""
    # imported here: ``import vosbench`` stays light (no pandas, no torch)
    from vosbench.run.tables import load_run as load

    return load(path)
