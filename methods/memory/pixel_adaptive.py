"""SwiftNet's pixel-adaptive memory, usable by any network that gives per-object keys.

What the released SwiftNet code does (``trigger="periodic"``):

- Every frame but the last is written. The frame just written is matched in full at
  the next read as a *temporary* entry (it is the previous frame then), whatever the
  schedule says.
- A written frame is *memorised* when it is due: ``index % mem_every == 0``. Frame 0
  (more generally, the first frame written for an object) is stored whole; a later due
  frame adds, per object, only its ``N - floor((1 - beta) N)`` (= ceil(beta N)) most
  novel positions: those whose best cosine similarity to the stored keys (before this
  update) is lowest, appended in ascending raster order. Nothing is ever evicted.
- Timing: the written frame t stays pending until frame t + 1 is segmented; writing
  frame t + 1 (or ``finish``) commits it first. So frame t's novel pixels join the
  stored memory after frame t + 1 was read, which already matched all of frame t.

The SwiftNet paper instead triggers memorisation on *variation* (``trigger="variation"``),
which its released code does not implement. Here a written frame is due when, against
the last memorised frame, the fraction of key-grid positions whose mean colour changed
by more than ``th_f`` (mean absolute RGB difference, in [0, 1]) *and* whose mask changed
by more than ``th_m`` (largest absolute change over the objects) exceeds ``p_th``. Both
conditions, because the paper triggers on frames where *objects* vary: colour change
alone fires on camera motion and lighting, mask change alone on the network's own
jitter. Measuring against the last memorised frame (rather than adding up consecutive
differences) makes slow drift trigger eventually and a static video never. Defaults:
th_f = 0.1 (a tenth of the intensity range), th_m = 0.5 (half a cell's mask flipped).
The paper gives no value for P_th; the default 0.025 makes the trigger memorise as
often as the release's ``mem_every=5`` on DAVIS 2016 val with ground-truth masks (274
vs 277 frames over the 20 videos; bench/swiftnet_trigger_rate.py), so that the two
modes compare at equal memory size. The pixel-wise update and the temporary frame are
the same in both modes.

Similarity (``"dot"``: k·q / sqrt(C), SwiftNet's; or ``"l2"``) and ``top_k`` are
parameters of the read (see ``similarity``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from methods.memory.base import MemoryPolicy, Readout
from methods.memory.similarity import SIMILARITIES, read_values
from vosbench.errors import VosbenchError

TRIGGERS = ("periodic", "variation")


@dataclass(frozen=True)
class Update:
    """One pixel-wise update: positions of frame ``frame`` appended, per object (policy order)."""

    frame: int
    positions: dict[int, torch.Tensor]  # object -> ascending raster positions on the key grid


@dataclass
class _Written:
    index: int
    keys: torch.Tensor  # [K, Ck, N]
    values: torch.Tensor  # [K, Cv, N]
    due: bool


def novelty_count(num_positions: int, beta: float) -> int:
    """Positions an update appends: ceil(beta N), computed as the release does so that
    an exact product (beta N = 3.0000000000000004) does not round up."""
    return num_positions - math.floor(num_positions * (1 - beta))


def novel_positions(stored_keys: torch.Tensor, new_keys: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` columns of ``new_keys`` [C, N] least like any of ``stored_keys`` [C, M].

    Likeness is a column's highest cosine similarity to the stored columns. Returns the
    positions in ascending order (the order they are appended in), int64 [count].
    """
    stored = torch.nn.functional.normalize(stored_keys.float(), dim=0)
    new = torch.nn.functional.normalize(new_keys.float(), dim=0)
    best = (new.transpose(0, 1) @ stored).amax(dim=1)
    return best.topk(count, largest=False).indices.sort().values


def changed_positions(
    image: torch.Tensor,
    reference_image: torch.Tensor,
    masks: torch.Tensor,
    reference_masks: torch.Tensor,
    th_f: float,
    th_m: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which positions changed in colour ([3, N], mean absolute difference over RGB above
    ``th_f``) and which in mask ([K, N], largest absolute change over the objects above
    ``th_m``): two bool [N].

    Objects that appeared after the reference count as absent (mask 0) in it.
    """
    frame_change = (image.float() - reference_image.float()).abs().mean(dim=0)
    missing = masks.shape[0] - reference_masks.shape[0]
    if missing > 0:
        reference_masks = torch.cat([reference_masks, reference_masks.new_zeros(missing, reference_masks.shape[1])])
    mask_change = (masks.float() - reference_masks.float()).abs().amax(dim=0)
    return frame_change > th_f, mask_change > th_m


def varied_fraction(
    image: torch.Tensor,
    reference_image: torch.Tensor,
    masks: torch.Tensor,
    reference_masks: torch.Tensor,
    th_f: float,
    th_m: float,
) -> float:
    """Fraction of positions whose colour ([3, N]) and mask ([K, N]) both changed enough
    (``changed_positions``)."""
    frame_changed, mask_changed = changed_positions(image, reference_image, masks, reference_masks, th_f, th_m)
    return float((frame_changed & mask_changed).float().mean())


class PixelAdaptiveMemory(MemoryPolicy):
    """Stored columns per object plus the last written frame as a temporary entry."""

    def __init__(
        self,
        mem_every: int = 5,
        beta: float = 0.1,
        trigger: str = "periodic",
        th_f: float = 0.1,
        th_m: float = 0.5,
        p_th: float = 0.025,
        similarity: str = "dot",
        top_k: int | None = None,
    ):
        if trigger not in TRIGGERS:
            raise VosbenchError(f"pixel-adaptive memory: trigger {trigger!r} is not one of {list(TRIGGERS)}")
        if similarity not in SIMILARITIES:
            raise VosbenchError(f"pixel-adaptive memory: similarity {similarity!r} is not one of {list(SIMILARITIES)}")
        if int(mem_every) < 1:
            raise VosbenchError(f"pixel-adaptive memory: mem_every must be at least 1, got {mem_every}")
        for name, value in (("beta", beta), ("th_f", th_f), ("th_m", th_m), ("p_th", p_th)):
            if not 0.0 <= float(value) <= 1.0:
                raise VosbenchError(f"pixel-adaptive memory: {name} must lie in [0, 1], got {value}")
        if top_k is not None and int(top_k) < 1:
            raise VosbenchError(f"pixel-adaptive memory: top_k must be at least 1 (or None), got {top_k}")
        self.mem_every = int(mem_every)
        self.beta = float(beta)
        self.trigger = trigger
        self.th_f, self.th_m, self.p_th = float(th_f), float(th_m), float(p_th)
        self.similarity = similarity
        self.top_k = None if top_k is None else int(top_k)
        self.reset(0)

    def reset(self, num_objects: int) -> None:
        self._keys: list[torch.Tensor | None] = [None] * num_objects  # stored [Ck, M_o] per object
        self._values: list[torch.Tensor | None] = [None] * num_objects
        self._written: _Written | None = None  # the temporary frame, not yet committed
        self._observed: tuple[int, torch.Tensor, torch.Tensor] | None = None
        self._reference: tuple[torch.Tensor, torch.Tensor] | None = None  # last memorised image, masks
        self._matched = [0] * num_objects
        self._value_channels: int | None = None
        self.memorised: list[int] = []  # frames that were due, in order
        self.updates: list[Update] = []  # pixel-wise updates, in order

    def add_objects(self, num_new: int) -> None:
        self._keys += [None] * num_new
        self._values += [None] * num_new
        self._matched += [0] * num_new

    def observe(self, index: int, image: torch.Tensor, masks: torch.Tensor) -> None:
        self._observed = (index, image, masks)

    def wants(self, index: int, is_last: bool) -> bool:
        # Every frame that has a successor is matched by it as the temporary entry.
        return not is_last

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
        self._commit()
        due = self._due(index, masks)
        if due:
            self.memorised.append(index)
        self._written = _Written(index, keys, values, due)
        self._value_channels = values.shape[1]

    def finish(self) -> None:
        self._commit()

    def read(self, query: torch.Tensor, selection: torch.Tensor | None = None) -> Readout:
        outputs, matched = [], []
        for o in range(len(self._keys)):
            keys, values = self._memory_of(o)
            q = query if query.dim() == 2 else query[o]
            matched.append(0 if keys is None else keys.shape[-1])
            if keys is None:  # nothing written of this object yet: no evidence to read
                if self._value_channels is None:
                    raise RuntimeError("pixel-adaptive memory: read before any frame was written")
                outputs.append(q.new_zeros(self._value_channels, q.shape[-1]))
            else:
                outputs.append(read_values(keys, values.transpose(0, 1), q, self.similarity, self.top_k))
        self._matched = matched
        return Readout(torch.stack(outputs))

    def stored_features(self) -> list[int]:
        return [0 if k is None else k.shape[-1] for k in self._keys]

    def matched_features(self) -> list[int]:
        return list(self._matched)

    def nbytes(self) -> int:
        held = [t for t in self._keys + self._values if t is not None]
        if self._written is not None:
            held += [self._written.keys, self._written.values]
        return sum(t.numel() * t.element_size() for t in held)

    # -- internals -------------------------------------------------------------------

    def _due(self, index: int, masks: torch.Tensor) -> bool:
        if self.trigger == "periodic":
            return index % self.mem_every == 0
        if self._observed is None or self._observed[0] != index:
            raise VosbenchError(
                "pixel-adaptive memory: trigger 'variation' needs each frame's colour, but the method did not "
                "pass it through observe(); use trigger=periodic with this method"
            )
        image = self._observed[1]
        due = self._reference is None or (
            varied_fraction(image, self._reference[0], masks, self._reference[1], self.th_f, self.th_m) > self.p_th
        )
        if due:
            self._reference = (image, masks)
        return due

    def _commit(self) -> None:
        written, self._written = self._written, None
        if written is None:
            return
        count = novelty_count(written.keys.shape[-1], self.beta)
        appended = {}
        for o in range(written.keys.shape[0]):
            keys, values = written.keys[o], written.values[o]
            if self._keys[o] is None:  # the object's first frame is its reference: kept whole
                self._keys[o], self._values[o] = keys, values
            elif written.due and count > 0:
                positions = novel_positions(self._keys[o], keys, count)
                self._keys[o] = torch.cat([self._keys[o], keys[:, positions].to(self._keys[o].dtype)], dim=1)
                self._values[o] = torch.cat([self._values[o], values[:, positions].to(self._values[o].dtype)], dim=1)
                appended[o] = positions
        if appended:
            self.updates.append(Update(written.index, appended))

    def _memory_of(self, o: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        keys, values = self._keys[o], self._values[o]
        written = self._written
        if written is None or o >= written.keys.shape[0]:
            return keys, values
        if keys is None:
            return written.keys[o], written.values[o]
        return (
            torch.cat([keys, written.keys[o].to(keys.dtype)], dim=1),
            torch.cat([values, written.values[o].to(values.dtype)], dim=1),
        )
