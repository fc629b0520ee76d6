"""J&F evaluation, identical to davis2017-evaluation (semi-supervised) and much faster.

``evaluate(pred_dir, gt_dir)`` returns an ``EvalResult`` of tidy tables; modules:
``jaccard`` (J), ``boundary`` (seg2bmap, the disk, F from counts), ``bitmask`` and
``frame`` (both computed on packed words inside the masks' box), ``statistics`` (mean,
recall, decay), ``sequence`` (which objects and frames are scored, per ``Mode``),
``folders`` (layout checks) and ``evaluate`` (workers and combination).
"""

from vosbench.eval.evaluate import EvalResult, evaluate
from vosbench.eval.sequence import Mode

__all__ = ["EvalResult", "Mode", "evaluate"]
