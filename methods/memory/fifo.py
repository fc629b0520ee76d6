"""FIFO pixel memory with a permanent first frame (Cutie's default memory): whole frames
written every ``every`` frames into a working memory of at most ``max_frames`` frames,
the oldest leaving first; with ``permanent="first"`` the first frame written stays for
the whole video and counts as one of the ``max_frames``.

It is XMem's working memory without consolidation (methods/memory/consolidation.py):
the same write schedule (a frame where an object is given is always written), the same
similarity (XMem's anisotropic L2 when the network gives shrinkage and selection, L2
otherwise) and top-k read, so every network and the weightless mode can use it.
Tiers: ``working`` (every stored entry, the permanent frame included, as Cutie counts
its working memory) and ``permanent`` (the part of it never evicted).
"""

from __future__ import annotations

import torch

from methods.memory.consolidation import WorkingLongTermMemory
from vosbench.errors import VosbenchError
from vosbench.registry import Param

PERMANENT = ("first", "none")


class FifoMemory(WorkingLongTermMemory):
    def __init__(self, every: int = 5, top_k: int | None = 30, max_frames: int = 5, permanent: str = "first"):
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
            raise ValueError(f"max_mem_frames must be a positive integer, got {max_frames!r}")
        if permanent not in PERMANENT:
            raise ValueError(f"permanent must be one of {list(PERMANENT)}, got {permanent!r}")
        if permanent == "first" and max_frames < 2:
            raise ValueError("max_mem_frames counts the permanent first frame: give at least 2, or permanent=none")
        self.max_frames = max_frames
        self.permanent = permanent
        super().__init__(every=every, top_k=top_k, long_term=False)

    def tiers(self) -> dict[str, int]:
        return {"working": self.size(), "permanent": self._n if self.permanent == "first" else 0}

    def write(self, index, keys, values, masks, hard_masks=None, shrinkage=None, selection=None) -> None:
        # the selection is only kept for consolidation, which never happens here
        super().write(index, keys, values, masks, hard_masks, shrinkage, None)
        kept = self._n if self.permanent == "first" else 0
        excess = self.size() - self.max_frames * self._n
        if excess > 0:  # drop the oldest frames after the permanent one
            self._keep(torch.cat([torch.arange(kept), torch.arange(kept + excess, self.size())]).to(self._keys.device))


# Registered parameters of the policy beside ``mem_every`` and ``top_k``, for every method
# that offers it; the defaults are Cutie's official eval_config.yaml settings.
FIFO_PARAMS = (
    Param("max_mem_frames", 5, "FIFO memory's capacity in frames, the permanent first frame included"),
    Param("permanent", "first", "FIFO memory: the first frame written stays for the whole video (first) or is evicted like any (none)", choices=PERMANENT),
)


def fifo_memory(config: dict, method: str) -> FifoMemory:
    """The policy from ``config``'s ``mem_every``, ``top_k`` and ``FIFO_PARAMS`` values;
    a bad value is one error line naming ``method``'s parameter."""
    for name in ("mem_every", "top_k", "max_mem_frames"):
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise VosbenchError(f"{method}: parameter {name} must be a positive integer, got {value!r}")
    try:
        return FifoMemory(config["mem_every"], config["top_k"], config["max_mem_frames"], config["permanent"])
    except ValueError as error:
        raise VosbenchError(f"{method}: {error}") from None
