"""``vosbench sweep``: a grid over method parameters, run as one run directory.

``grid`` (``--grid`` axes, their product, labels, checks), ``tables`` (the ablation
tables from a run read back), ``figure`` (FPS against J&F), ``runner`` (the run, the
recorded grid and the outputs in ``OUT/sweep/``).
"""

from vosbench.sweep.grid import Axis, Sweep, label_of, plan_sweep
from vosbench.sweep.runner import SweepResult, run_sweep

__all__ = ["Axis", "Sweep", "SweepResult", "label_of", "plan_sweep", "run_sweep"]
