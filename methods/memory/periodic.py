"""Periodic memory bank (STM / STCN): whole frames stored every few frames, read by
top-k attention.

Each stored frame adds N positions: one key per position, shared by the objects
([Ck, N]), and one value per object ([K, Cv, N]). Storage is preallocated in frame
slots and doubles when full, so an insertion copies one frame, not the whole bank.

Schedule: a frame is written when some object has no memory yet (the frame where it is
given) or when ``every`` frames have passed since the last write, never at the last
frame. With all objects given at frame 0 that is STCN's DAVIS rule
``t % every == 0 and t != T - 1``; with later objects it is its YouTube-VOS rule
(the period restarts at each frame where objects are given).

Objects added later read only the frames written since they were given, as the
official YouTube-VOS inference keeps one bank per object.

Capacity: with ``max_frames`` set, a write into a full bank replaces the oldest frame
that is not the first frame of some object (the given masks are never evicted); when
every stored frame is such a first frame the bank grows past ``max_frames``.
"""

from __future__ import annotations

import torch

from methods.memory.base import MemoryPolicy, Readout
from methods.memory.similarity import SIMILARITIES, read_values


class PeriodicBank(MemoryPolicy):
    def __init__(
        self,
        every: int = 5,
        top_k: int | None = 20,
        similarity: str = "l2",
        max_frames: int | None = None,
    ):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {list(SIMILARITIES)}, got {similarity!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self.every = every
        self.top_k = top_k
        self.similarity = similarity
        self.max_frames = max_frames
        self.reset(0)

    # --- state -------------------------------------------------------------------
    def reset(self, num_objects: int) -> None:
        self._num_objects = num_objects
        self._keys: torch.Tensor | None = None  # [Ck, capacity * N]
        # values position-major: a read gathers whole rows of Cv channels, not Cv scattered ones
        self._values: torch.Tensor | None = None  # [K, capacity * N, Cv]
        self._n = 0  # positions per frame
        self._slot_frame: list[int] = []  # frame index held by each used slot
        self._object_slots: list[set[int]] = [set() for _ in range(num_objects)]
        self._first_slot: list[int | None] = [None] * num_objects
        self._last_write: int | None = None

    def add_objects(self, num_new: int) -> None:
        if num_new <= 0:
            return
        if self._values is not None:
            pad = self._values.new_zeros((num_new, *self._values.shape[1:]))
            self._values = torch.cat([self._values, pad], dim=0)
        self._num_objects += num_new
        self._object_slots += [set() for _ in range(num_new)]
        self._first_slot += [None] * num_new

    def frames(self) -> list[int]:
        """Indices of the frames held, in time order."""
        return sorted(self._slot_frame)

    def stored_features(self) -> list[int]:
        return [len(slots) * self._n for slots in self._object_slots]

    def nbytes(self) -> int:
        if self._keys is None:
            return 0
        key_bytes = len(self._slot_frame) * self._n * self._keys.shape[0] * self._keys.element_size()
        value_bytes = sum(self.stored_features()) * self._values.shape[2] * self._values.element_size()
        return key_bytes + value_bytes

    # --- writing -----------------------------------------------------------------
    def wants(self, index: int, is_last: bool) -> bool:
        if is_last or self._num_objects == 0:
            return False
        if any(slot is None for slot in self._first_slot):
            return True
        return index - self._last_write >= self.every

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
        # masks are not needed: the bank stores whole frames
        key = keys[0] if keys.dim() == 3 else keys  # shared by the objects
        if values.shape[0] != self._num_objects:
            raise ValueError(f"values for {values.shape[0]} objects, the bank holds {self._num_objects}")
        n = key.shape[-1]
        if self._keys is None:
            self._n = n
            self._allocate(key, values.shape[0], values.shape[1], values.dtype, slots=2 if self.max_frames is None else min(2, self.max_frames))
        elif n != self._n:
            raise ValueError(f"a frame of {n} positions; this video's frames have {self._n}")
        slot = self._free_slot()
        columns = slice(slot * n, (slot + 1) * n)
        self._keys[:, columns] = key
        self._values[:, columns] = values.transpose(1, 2)
        if slot == len(self._slot_frame):
            self._slot_frame.append(index)
        else:
            self._slot_frame[slot] = index
            for slots in self._object_slots:
                slots.discard(slot)
        for k, slots in enumerate(self._object_slots):
            slots.add(slot)
            if self._first_slot[k] is None:
                self._first_slot[k] = slot
        self._last_write = index

    def _allocate(self, key: torch.Tensor, objects: int, channels: int, dtype: torch.dtype, slots: int) -> None:
        self._keys = key.new_empty((key.shape[0], slots * self._n))
        self._values = key.new_zeros((objects, slots * self._n, channels), dtype=dtype)

    def _free_slot(self) -> int:
        used = len(self._slot_frame)
        if self.max_frames is not None and used >= self.max_frames:
            protected = {s for s in self._first_slot if s is not None}
            evictable = [s for s in range(used) if s not in protected]
            if evictable:
                return min(evictable, key=lambda s: self._slot_frame[s])
        if used * self._n == self._keys.shape[1]:
            self._grow(2 * used)
        return used

    def _grow(self, slots: int) -> None:
        if self.max_frames is not None:
            slots = max(min(slots, self.max_frames), len(self._slot_frame) + 1)
        keys, values = self._keys, self._values
        self._allocate(keys, values.shape[0], values.shape[2], values.dtype, slots)
        self._keys[:, : keys.shape[1]] = keys
        self._values[:, : values.shape[1]] = values

    # --- reading -----------------------------------------------------------------
    def read(self, query: torch.Tensor, selection: torch.Tensor | None = None) -> Readout:
        """Top-k readout: for each query position, a softmax over its ``top_k`` most
        similar stored positions (max-subtracted), applied to the values gathered there."""
        q = query[0] if query.dim() == 3 else query
        if self._keys is None:
            raise ValueError("read from an empty memory bank")
        out = q.new_zeros((self._num_objects, self._values.shape[2], q.shape[-1]), dtype=self._values.dtype)
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, slots in enumerate(self._object_slots):
            groups.setdefault(tuple(sorted(slots)), []).append(k)
        used = len(self._slot_frame)
        for slots, objects in groups.items():
            if not slots:
                continue
            if len(slots) == used:
                columns = slice(0, used * self._n)
            else:
                starts = torch.tensor(slots, device=q.device) * self._n
                columns = (starts[:, None] + torch.arange(self._n, device=q.device)).flatten()
            keys = self._keys[:, columns]
            values = self._values[:, columns]
            if len(objects) < self._num_objects:
                values = values[objects]
            out[objects] = read_values(keys, values, q, self.similarity, self.top_k).to(out.dtype)
        return Readout(out)
