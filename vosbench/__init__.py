"""vosbench: benchmarking and analysis of memory in semi-supervised VOS."""

from vosbench.errors import VosbenchError

__version__ = "0.1.0"
__all__ = ["VosbenchError", "__version__"]
