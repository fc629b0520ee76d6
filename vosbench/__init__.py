"""vosbench: benchmarking and analysis of memory in semi-supervised VOS."""

import os

# NNPACK's convolutions (methods/fast_inference.py) run on their own thread pool: OpenMP
# workers that keep spinning after each oneDNN call would take its cores (SwiftNet 0.45
# -> 0.32 s/frame at 480p on 2 cores when they sleep instead). OpenMP reads this when
# torch loads, so it counts only where vosbench is imported before torch (the CLI, the
# benchmarks); a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vosbench.errors import VosbenchError

__version__ = "0.1.0"
__all__ = ["VosbenchError", "__version__", "load_run"]


def load_run(path):
    """A run directory's manifest and tables (``vosbench.run.Run``), for notebooks."""
    # imported here: ``import vosbench`` stays light (no pandas, no torch)
    from vosbench.run.tables import load_run as load

    return load(path)
