"""``vosbench run``: methods over a dataset into a run directory that loses nothing.

``config`` (methods, labels, settings, shard), ``runner`` (the loop, one committed
sequence at a time), ``store`` (the run directory and its commits), ``records`` (the
per-frame table), ``selfeval`` (J and F of each sequence), ``summaries`` and ``tables``
(per-sequence and per-method tables, ``load_run``), ``merge`` (shards into one run),
``progress`` (what the CLI shows).
"""

from vosbench.run.config import MethodChoice, RunConfig, Shard, choose_methods
from vosbench.run.runner import RunReport, run
from vosbench.run.tables import Run, load_run

__all__ = ["MethodChoice", "Run", "RunConfig", "RunReport", "Shard", "choose_methods", "load_run", "run"]
