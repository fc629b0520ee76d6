"""Every scoring protocol behind one call: ``vosbench eval --mode``.

``davis`` and ``youtube`` are the per-sequence protocols of ``vosbench.eval.sequence``
(davis2017-evaluation and its sparse, late-object variant; the Long-Time Video set and
MOSE v1 are scored with ``davis``). ``lvos``, ``mose2`` and ``sav`` are those datasets'
own scorers (``vosbench.eval.lvos``, ``.mose``, ``.sav``). A dataset kind names its
own as ``Dataset.protocol``, the default when ``vosbench eval`` is told the dataset.
"""

from __future__ import annotations

import os
from typing import Iterable

from vosbench.errors import VosbenchError
from vosbench.eval.evaluate import EvalResult, evaluate

PROTOCOLS = ("davis", "youtube", "lvos", "mose2", "sav")


def evaluate_protocol(
    mode: str,
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    *,
    meta: str | os.PathLike | None = None,
    unseen: Iterable[str] = (),
    sequences: Iterable[str] | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> EvalResult:
    """Score ``pred_dir`` against ``gt_dir`` with protocol ``mode``; ``meta`` is LVOS's
    ``<split>_meta.json`` (required) or MOSE v2's ``meta.json`` (optional), ``unseen``
    LVOS's unseen videos."""
    if mode not in PROTOCOLS:
        raise VosbenchError(f"unknown mode {mode!r}; choose one of {list(PROTOCOLS)}")
    if meta is not None and mode not in ("lvos", "mose2"):
        raise VosbenchError(f"--meta is for the lvos and mose2 modes, not {mode}")
    if mode == "lvos":
        from vosbench.eval.lvos import evaluate_lvos

        if meta is None:
            raise VosbenchError("the lvos mode needs --meta, the split's <split>_meta.json (it gives each object's frames)")
        return evaluate_lvos(pred_dir, gt_dir, meta, unseen, sequences)
    if mode == "mose2":
        from vosbench.eval.mose import evaluate_mose2

        return evaluate_mose2(pred_dir, gt_dir, meta, sequences)
    if mode == "sav":
        from vosbench.eval.sav import evaluate_sav

        return evaluate_sav(pred_dir, gt_dir, sequences)
    return evaluate(pred_dir, gt_dir, sequences=sequences, mode=mode, workers=workers, progress=progress)
