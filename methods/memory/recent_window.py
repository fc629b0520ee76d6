"""SAM 2's memory as a policy: the conditioning frames (where objects were given), the
``num_maskmem - 1`` most recent other frames and up to ``max_obj_ptrs`` object pointers.

Every frame is written (but the last). A read for frame t attends to the conditioning
frames, then to the frames t - (num_maskmem - 1) .. t - 1 that were written, oldest
first; a frame's temporal slot is its distance minus one (the conditioning frames take
the last slot, ``num_maskmem - 1``). With a ``temporal_stride`` r > 1 (the official
``memory_temporal_stride_for_eval``) the frame t - 1 stays, and the others come from
every r-th frame: ((t - 2) // r) r, then r, 2r, ... before it; the slots stay those of
r = 1. Object pointers (vectors a network writes beside a
frame's memory, SAM 2's decoder tokens) are read from the conditioning frames at or
before t, then from t - 1, t - 2, ... back to t - (P - 1), where
P = min(video length, ``max_obj_ptrs``), each with its signed distance.

``keep`` says what is stored: ``all`` keeps every frame's memory for the whole video, as
the official predictor does (only the attention is capped, so storage grows linearly:
sam2#196, #264); ``window`` drops what no later frame can attend again (a frame's
features once it leaves the window, its pointer once it is P - 1 frames old), so a long
video's memory stays flat.

Networks without pointers (STCN, the weightless mode) read the selected frames' values
by L2 similarity, top-k as they configure. ``tiers`` reports, per object, the tokens and
bytes kept and those the last read attended (a pointer counts as pointer size / key
channels tokens, as SAM 2 splits it).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from methods.memory.base import MemoryPolicy, Readout
from methods.memory.similarity import read_values
from vosbench.errors import VosbenchError
from vosbench.registry import Param

KEEP = ("all", "window")


@dataclass
class Entry:
    keys: torch.Tensor | None  # [K, Ck, N]; None once dropped (keep=window)
    values: torch.Tensor | None  # [K, Cv, N]; the keys themselves when a network passes one tensor as both
    conditioning: bool
    pointer: torch.Tensor | None = None  # [K, C]


def _nbytes(*tensors: torch.Tensor | None) -> int:
    seen, total = set(), 0
    for t in tensors:
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def _pad(t: torch.Tensor | None, num_new: int) -> torch.Tensor | None:
    return None if t is None else torch.cat([t, t.new_zeros(num_new, *t.shape[1:])])


class RecentWindowMemory(MemoryPolicy):
    def __init__(
        self, num_maskmem: int = 7, max_obj_ptrs: int = 16, keep: str = "all", top_k: int | None = None, temporal_stride: int = 1
    ):
        if isinstance(num_maskmem, bool) or not isinstance(num_maskmem, int) or num_maskmem < 1:
            raise ValueError(f"num_maskmem must be a positive integer, got {num_maskmem!r}")
        if isinstance(temporal_stride, bool) or not isinstance(temporal_stride, int) or temporal_stride < 1:
            raise ValueError(f"temporal_stride must be a positive integer, got {temporal_stride!r}")
        if isinstance(max_obj_ptrs, bool) or not isinstance(max_obj_ptrs, int) or max_obj_ptrs < 1:
            raise ValueError(f"max_obj_ptrs must be a positive integer, got {max_obj_ptrs!r}")
        if keep not in KEEP:
            raise ValueError(f"keep must be one of {list(KEEP)}, got {keep!r}")
        self.num_maskmem = num_maskmem
        self.max_obj_ptrs = max_obj_ptrs
        self.keep = keep
        self.top_k = top_k
        self.temporal_stride = temporal_stride
        self.num_frames: int | None = None  # the video's length, for the pointer cap
        self.reset(0)

    def empty(self, num_objects: int) -> "RecentWindowMemory":
        """A new, empty memory with the same settings for ``num_objects`` objects (SAM 2
        keeps one per group of objects given together)."""
        fresh = copy.copy(self)
        fresh.reset(num_objects)
        return fresh

    # --- state -----------------------------------------------------------------------
    def reset(self, num_objects: int) -> None:
        self.num_objects = num_objects
        self.entries: dict[int, Entry] = {}
        self._given = True  # the next frame written shows objects given there: a conditioning frame
        self._latest = -1
        self._channels = 1
        self._attended = (0, 0)  # tokens, bytes per object in the last read

    def add_objects(self, num_new: int) -> None:
        # later objects see zero values at the stored frames; their own frame conditions them
        for entry in self.entries.values():
            same = entry.values is entry.keys
            entry.keys, entry.pointer = _pad(entry.keys, num_new), _pad(entry.pointer, num_new)
            entry.values = entry.keys if same else _pad(entry.values, num_new)
        self.num_objects += num_new
        self._given = True

    def wants(self, index: int, is_last: bool) -> bool:
        return not is_last

    def write(self, index, keys, values, masks, hard_masks=None, shrinkage=None, selection=None) -> None:
        self.entries[index] = Entry(keys, values, self._given)
        self._channels = keys.shape[1]  # a pointer of C channels is C / this many tokens
        self._given = False
        self._latest = max(self._latest, index)
        if self.keep == "window":
            self._drop(index + 1)

    def write_pointer(self, index: int, pointer: torch.Tensor) -> None:
        """The object pointers [K, C] of frame ``index`` (written with its memory)."""
        self.entries[index].pointer = pointer
        if self.keep == "window":
            self._drop(index + 1)

    def _drop(self, upcoming: int) -> None:
        # nothing outside the windows of the next frame and later ones is attended again
        r, last = self.temporal_stride, self.num_maskmem - 1
        oldest = self._frame_in_slot(upcoming, last)  # the oldest strided frame of the next read
        for frame, entry in self.entries.items():
            if entry.conditioning:
                continue
            if frame < upcoming - 1 and (last < 2 or frame % r or frame < oldest):
                entry.keys = entry.values = None
            if frame < upcoming - (self.max_obj_ptrs - 1):
                entry.pointer = None
        self.entries = {f: e for f, e in self.entries.items() if e.keys is not None or e.pointer is not None}

    # --- selection ---------------------------------------------------------------------
    def spatial(self, index: int) -> list[tuple[int, int]]:
        """(frame, temporal slot) of the frames frame ``index`` attends to, in order."""
        last = self.num_maskmem - 1
        chosen = [(f, last) for f, e in sorted(self.entries.items()) if e.conditioning and f < index]
        for distance in range(last, 0, -1):  # the official t_rel: the slot, and the distance when r = 1
            frame = self._frame_in_slot(index, distance)
            entry = self.entries.get(frame)
            if entry is not None and not entry.conditioning and entry.keys is not None:
                chosen.append((frame, distance - 1))
        return chosen

    def _frame_in_slot(self, index: int, distance: int) -> int:
        """The frame frame ``index`` reads at temporal distance ``distance`` (slot
        ``distance - 1``): the previous frame, then every r-th frame before it."""
        r = self.temporal_stride
        return index - 1 if distance == 1 else ((index - 2) // r) * r - (distance - 2) * r

    def pointer_cap(self) -> int:
        """P: pointers read at most (the video's length when shorter than ``max_obj_ptrs``)."""
        return min(self.num_frames or self.max_obj_ptrs, self.max_obj_ptrs)

    def pointers(self, index: int) -> list[tuple[int, int]]:
        """(frame, signed distance) of the object pointers frame ``index`` reads, in order."""
        chosen = [(f, index - f) for f, e in sorted(self.entries.items()) if e.conditioning and f <= index and e.pointer is not None]
        for distance in range(1, self.pointer_cap()):
            if index - distance < 0:
                break
            entry = self.entries.get(index - distance)
            if entry is not None and not entry.conditioning and entry.pointer is not None:
                chosen.append((index - distance, distance))
        return chosen

    def note_attended(self, spatial: list[tuple[int, int]], pointers: list[tuple[int, int]]) -> None:
        """Record what a read attended (for ``tiers``); networks that select themselves call it."""
        tokens = nbytes = 0
        for frame, _ in spatial:
            entry = self.entries[frame]
            tokens += entry.keys.shape[-1]
            nbytes += _nbytes(entry.keys, entry.values)
        for frame, _ in pointers:
            entry = self.entries[frame]
            tokens += self._pointer_tokens(entry)
            nbytes += _nbytes(entry.pointer)
        objects = max(self.num_objects, 1)
        self._attended = (tokens, nbytes // objects)

    def _pointer_tokens(self, entry: Entry) -> int:
        return entry.pointer.shape[-1] // self._channels

    def read(self, query: torch.Tensor, selection: torch.Tensor | None = None) -> Readout:
        index = self._latest + 1
        spatial = self.spatial(index)
        if not spatial:
            raise RuntimeError("read before any frame was written")
        self.note_attended(spatial, [])
        entries = [self.entries[f] for f, _ in spatial]
        keys = torch.cat([e.keys for e in entries], dim=-1)  # [K, Ck, M]
        values = torch.cat([e.values for e in entries], dim=-1).transpose(1, 2)  # [K, M, Cv]
        shared = keys.shape[0] == 1 or keys.stride(0) == 0 or bool((keys[1:] == keys[:1]).all())
        if query.dim() == 2 and shared:
            return Readout(read_values(keys[0], values, query, "l2", self.top_k))
        queries = query if query.dim() == 3 else query.expand(keys.shape[0], -1, -1)
        reads = [read_values(keys[k], values[k : k + 1], queries[k], "l2", self.top_k)[0] for k in range(keys.shape[0])]
        return Readout(torch.stack(reads))

    # --- reporting -----------------------------------------------------------------------
    def _kept(self) -> tuple[int, int]:
        tokens = nbytes = 0
        for entry in self.entries.values():
            if entry.keys is not None:
                tokens += entry.keys.shape[-1]
            if entry.pointer is not None:
                tokens += self._pointer_tokens(entry)
            nbytes += _nbytes(entry.keys, entry.values, entry.pointer)
        return tokens, nbytes // max(self.num_objects, 1)

    def stored_features(self) -> list[int]:
        return [self._kept()[0]] * self.num_objects

    def matched_features(self) -> list[int]:
        return [self._attended[0]] * self.num_objects

    def tiers(self) -> dict[str, int]:
        kept, kept_bytes = self._kept()
        attended, attended_bytes = self._attended
        return {"kept": kept, "attended": attended, "kept_bytes": kept_bytes, "attended_bytes": attended_bytes}

    def nbytes(self) -> int:
        return sum(_nbytes(e.keys, e.values, e.pointer) for e in self.entries.values())


# Registered parameters of the policy, for every method that offers it; the defaults are
# SAM 2.1's (num_maskmem 7, max_obj_ptrs_in_encoder 16) with the official keep-everything storage.
RECENT_WINDOW_PARAMS = (
    Param("num_maskmem", 7, "recent-window memory: the conditioning frames' slot plus this many minus one most recent frames attended"),
    Param("max_obj_ptrs", 16, "recent-window memory: object pointers attended at most (capped by the video's length)"),
    Param("temporal_stride", 1, "recent-window memory: beside the previous frame, attend every this-many-th frame (official memory_temporal_stride_for_eval; 1: the most recent)"),
    Param("keep", "all", "recent-window memory: all (official: every frame kept, only attention capped) or window (drop what cannot be attended again: flat memory)", choices=KEEP),
)


def recent_window_memory(config: dict, method: str, top_k: int | None = None) -> RecentWindowMemory:
    """The policy from ``config``'s ``RECENT_WINDOW_PARAMS`` values; a bad value is one
    error line naming ``method``'s parameter."""
    try:
        return RecentWindowMemory(config["num_maskmem"], config["max_obj_ptrs"], config["keep"], top_k, config["temporal_stride"])
    except ValueError as error:
        raise VosbenchError(f"{method}: parameter {error}") from None
