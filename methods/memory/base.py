"""The interface every memory policy implements, whatever network feeds it.

Shapes (per video; K objects, N key-grid positions of a frame, M stored entries):
- keys: [K, Ck, N] per object (networks whose key is shared by all objects pass the
  same tensor expanded over K);
- values: [K, Cv, N];
- masks: [K, N] soft probability of each object on the key grid, used by policies that
  weight or group what they store (EM bases, pixel-adaptive update);
- hard_masks (optional): [K, N] 0/1 object masks on the key grid, for networks whose hard
  mask is not the argmax of ``masks`` (SWEM takes the argmax at full size, then resizes).
  Policies that need a hard mask and get none take that argmax; others ignore it.
- shrinkage [N] (written) and selection [Ck, N] (written and read; optional): XMem's
  similarity terms, from networks that compute them. A policy whose similarity takes
  them (XMem's working/long-term memory) uses them; the others match by their own
  similarity and ignore them, so any network can feed any policy.

A policy with several tiers (XMem's working and long-term memory) reports each tier's
entries with ``tiers``, and the changes between them with ``events``.

``wants`` is asked before a frame's values are encoded (the expensive part), so a
policy that will not store a frame costs nothing for it. Before it, ``observe`` shows
the policy the segmented frame (colour and masks on the key grid), for policies that
decide from how the video changes; the others ignore it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch


@dataclass
class Readout:
    """What a read returns: values per object, plus policy-specific extras.

    ``values`` is [K, Cv, N]. ``extras`` holds named tensors some networks consume
    (SWEM's permutation-invariant feature, say); a network that needs an extra the
    policy does not provide says so with a clear error.
    """

    values: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class MemoryPolicy(ABC):
    @abstractmethod
    def reset(self, num_objects: int) -> None:
        """Empty the memory for a new video with ``num_objects`` objects."""

    def observe(self, index: int, image: torch.Tensor, masks: torch.Tensor) -> None:
        """See frame ``index`` once it is segmented, before ``wants`` is asked.

        image: [3, N] mean RGB in [0, 1] of each key-grid cell; masks: [K, N] as in
        ``write``. Default: ignored.
        """

    @abstractmethod
    def wants(self, index: int, is_last: bool) -> bool:
        """Whether frame ``index`` should be written (asked before encoding values)."""

    @abstractmethod
    def write(
        self,
        index: int,
        keys: torch.Tensor,
        values: torch.Tensor,
        masks: torch.Tensor,
        hard_masks: torch.Tensor | None = None,
        shrinkage: torch.Tensor | None = None,
        selection: torch.Tensor | None = None,
    ) -> None:
        """Store frame ``index``: keys [K, Ck, N], values [K, Cv, N], masks [K, N] (hard_masks [K, N] or None)."""

    @abstractmethod
    def read(self, query: torch.Tensor, selection: torch.Tensor | None = None) -> Readout:
        """Read for query keys [Ck, N] (shared by the objects) or [K, Ck, N]."""

    @abstractmethod
    def stored_features(self) -> list[int]:
        """Stored feature vectors per object (positions or bases)."""

    def matched_features(self) -> list[int]:
        """Feature vectors per object the last read matched against.

        Default: the stored ones; a policy that also matches entries it does not store
        (SwiftNet's temporary previous frame) overrides it.
        """
        return self.stored_features()

    def tiers(self) -> dict[str, int]:
        """Stored entries per tier (shared by the objects), for policies with several
        (XMem's ``working`` and ``long_term``). Default: none."""
        return {}

    def events(self) -> list:
        """Changes between tiers in this video (XMem's consolidations and removals),
        oldest first; each has ``frame`` and ``kind``. Default: none."""
        return []

    def finish(self) -> None:
        """No frame follows in this video: settle anything held back. Default: nothing."""

    def foreground_entries(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Stored keys [Ck, M] and how much each entry belongs to each object [K, M]
        (0/1 for stored positions, re-estimated for prototypes), for networks whose read
        compares an object's foreground and background entries (SWEM's top-L feature)
        over a memory that does not group them itself. Default: None (not kept)."""
        return None

    @abstractmethod
    def nbytes(self) -> int:
        """Bytes of keys and values held."""

    @abstractmethod
    def add_objects(self, num_new: int) -> None:
        """Make room for ``num_new`` objects that appear after the first frame.

        Their memory starts empty (or, for a shared-key bank, with zero values at the
        stored positions) until a frame showing them is written.
        """


def argmax_masks(soft: torch.Tensor) -> torch.Tensor:
    """Hard 0/1 masks [K, N] from soft ones [K, N]: argmax over background (1 - sum) and the objects."""
    prob = torch.cat((1 - soft.sum(dim=0, keepdim=True), soft))
    labels = prob.argmax(dim=0)
    objects = torch.arange(1, prob.shape[0], device=soft.device).unsqueeze(1)
    return (labels.unsqueeze(0) == objects).to(soft.dtype)
