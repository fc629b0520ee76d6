"""XMem's working and long-term memory: frames written periodically into a working
memory, which, once full, is consolidated into prototypes held in a long-term memory,
whose least-used entries are removed beyond a capacity.

Entries are positions of the key grid: a key per position shared by the objects, an
optional shrinkage (the memory side of XMem's anisotropic L2) and, in working memory
only, the selection (the query side, used when its entries become prototypes), and one
value per object. Every read adds, to each entry, the attention it received (``use``)
and one to its age (``life``); usage = use / life.

- Write: frame ``index`` is written when an object has no memory yet (the frame it is
  given) or ``every`` frames after the last write, never at the last frame; its N
  positions are appended to working memory with use 0, life 1e-7.
- Consolidation, after a write that fills working memory to ``max_mid_term_frames``
  frames: first, if long-term memory holds at least ``max_long_term_elements -
  num_prototypes`` entries, its entries with usage at or below the (excess)-th smallest
  are removed, down to ``max_long_term_elements - num_prototypes - buffer_tokens``
  (``buffer_tokens`` is Cutie's headroom, 0 in XMem, so removal is rarer); then the
  candidates (working memory less its first frame, never consolidated, and its newest
  ``min_mid_term_frames - 1`` frames) give their ``num_prototypes`` most-used positions
  as prototypes: their keys, and values and shrinkage re-estimated by a softmax read over all candidates (no top-k) with the
  prototypes as queries. The candidates leave working memory; the prototypes join
  long-term memory.
- Each entry also keeps its share of each object (the written hard mask; for a
  prototype, re-estimated with its values), so that networks comparing an object's
  foreground and background entries (SWEM's top-L feature) can read this memory.
- Read: long-term then working entries, top-k softmax of the (anisotropic) L2
  similarity. Long-term usage is counted only with ``count_usage``; without it, removal
  drops the oldest long-term entries instead.

With ``long_term=False`` working memory is never consolidated: a periodic bank with
XMem's similarity. Objects given after the first frame get zero values at the entries
stored before them (the official code instead keeps one group of values per start
frame and reads each group's own entries; its removal refuses several groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.memory.base import MemoryPolicy, Readout, argmax_masks
from methods.memory.similarity import read_values
from vosbench.errors import VosbenchError
from vosbench.registry import Param

NEW_LIFE = 1e-7  # an entry's age before its first read: usage 0 / 1e-7 = 0, never 0 / 0


@dataclass(frozen=True)
class MemoryEvent:
    """A change of memory tiers after writing frame ``frame``."""

    frame: int
    kind: str  # "consolidation" or "removal"
    before: int  # long-term entries before
    after: int  # long-term entries after
    entries: int  # candidates consolidated, or entries removed

    def __str__(self) -> str:
        return f"{self.kind} of {self.entries}: long-term {self.before} -> {self.after}"


class WorkingLongTermMemory(MemoryPolicy):
    def __init__(
        self,
        every: int = 5,
        top_k: int | None = 30,
        long_term: bool = True,
        count_usage: bool = True,
        max_mid_term_frames: int = 10,
        min_mid_term_frames: int = 5,
        num_prototypes: int = 128,
        max_long_term_elements: int = 10000,
        buffer_tokens: int = 0,
    ):
        for name, value in (
            ("every", every),
            ("max_mid_term_frames", max_mid_term_frames),
            ("min_mid_term_frames", min_mid_term_frames),
            ("num_prototypes", num_prototypes),
            ("max_long_term_elements", max_long_term_elements),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        if min_mid_term_frames >= max_mid_term_frames:
            raise ValueError(
                f"min_mid_term_frames ({min_mid_term_frames}) must be below max_mid_term_frames ({max_mid_term_frames})"
            )
        if isinstance(buffer_tokens, bool) or not isinstance(buffer_tokens, int) or buffer_tokens < 0:
            raise ValueError(f"buffer_tokens must be a non-negative integer, got {buffer_tokens!r}")
        if max_long_term_elements < num_prototypes + buffer_tokens:
            raise ValueError(
                f"max_long_term_elements ({max_long_term_elements}) must hold at least num_prototypes ({num_prototypes}) "
                f"plus buffer_tokens ({buffer_tokens})"
            )
        self.every = every
        self.top_k = top_k
        self.long_term = long_term
        self.count_usage = count_usage
        self.max_mid_term_frames = max_mid_term_frames
        self.min_mid_term_frames = min_mid_term_frames
        self.num_prototypes = num_prototypes
        self.max_long_term_elements = max_long_term_elements
        self.buffer_tokens = buffer_tokens
        self.reset(0)

    # --- state -------------------------------------------------------------------
    def reset(self, num_objects: int) -> None:
        self._num_objects = num_objects
        self._pending = num_objects  # objects given whose frame is not written yet
        self._last_write: int | None = None
        self._n = 0  # positions per frame
        self._long = 0  # long-term entries, stored first
        self._keys: torch.Tensor | None = None  # [Ck, M]
        self._shrinkage: torch.Tensor | None = None  # [M], or None when the network gives none
        self._selection: torch.Tensor | None = None  # [Ck, working], or None
        self._values: torch.Tensor | None = None  # [K, M, Cv], position-major
        self._foreground: torch.Tensor | None = None  # [K, M] float32: each entry's share of each object
        self._use: torch.Tensor | None = None  # [M] float32
        self._life: torch.Tensor | None = None  # [M] float32
        self._events: list[MemoryEvent] = []

    def add_objects(self, num_new: int) -> None:
        if num_new <= 0:
            return
        if self._values is not None:
            self._values = torch.cat([self._values, self._values.new_zeros((num_new, *self._values.shape[1:]))])
            self._foreground = torch.cat([self._foreground, self._foreground.new_zeros((num_new, self.size()))])
        self._num_objects += num_new
        self._pending += num_new

    def size(self) -> int:
        return 0 if self._keys is None else self._keys.shape[1]

    def tiers(self) -> dict[str, int]:
        return {"working": self.size() - self._long, "long_term": self._long}

    def stored_features(self) -> list[int]:
        return [self.size()] * self._num_objects

    def nbytes(self) -> int:
        held = [self._keys, self._shrinkage, self._selection, self._values, self._foreground]
        return sum(t.numel() * t.element_size() for t in held if t is not None)

    def events(self) -> list[MemoryEvent]:
        return list(self._events)

    def foreground_entries(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        return None if self._keys is None else (self._keys, self._foreground)

    def long_term_keys(self) -> torch.Tensor | None:
        """Keys of the long-term entries (prototypes) [Ck, L]."""
        return None if self._keys is None else self._keys[:, : self._long]

    def usage(self) -> torch.Tensor:
        """use / life of every entry, long-term first [M] (float32)."""
        return self._use / self._life

    # --- writing -----------------------------------------------------------------
    def wants(self, index: int, is_last: bool) -> bool:
        if is_last or self._num_objects == 0:
            return False
        return self._pending > 0 or index - self._last_write >= self.every

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
        key = keys[0] if keys.dim() == 3 else keys
        if values.shape[0] != self._num_objects:
            raise ValueError(f"values for {values.shape[0]} objects, the memory holds {self._num_objects}")
        n = key.shape[-1]
        # whole frames are stored; the hard masks only label entries (foreground_entries)
        hard = argmax_masks(masks) if hard_masks is None else hard_masks
        fresh = {
            "_keys": key,
            "_shrinkage": None if shrinkage is None else shrinkage.reshape(n),
            "_selection": selection,
            "_values": values.transpose(1, 2),
            "_foreground": hard.to(torch.float32),
            "_use": key.new_zeros(n, dtype=torch.float32),
            "_life": key.new_full((n,), NEW_LIFE, dtype=torch.float32),
        }
        if self._keys is None:
            self._n = n
            for name, tensor in fresh.items():
                setattr(self, name, tensor)
        else:
            if n != self._n:
                raise ValueError(f"a frame of {n} positions; this video's frames have {self._n}")
            for name, tensor in fresh.items():
                held = getattr(self, name)
                if (held is None) != (tensor is None):
                    raise ValueError(f"write {name[1:]} with every frame of a video or with none")
                if held is not None:
                    setattr(self, name, torch.cat([held, tensor], dim=1 if name == "_values" else -1))
        self._pending = 0
        self._last_write = index
        if self.long_term and self.size() - self._long >= self.max_mid_term_frames * n:
            if self._long >= self.max_long_term_elements - self.num_prototypes:
                self._remove(index, self.max_long_term_elements - self.num_prototypes - self.buffer_tokens)
            self._consolidate(index)

    def _remove(self, index: int, limit: int) -> None:
        """Long-term memory down to at most ``limit`` entries, the least used going (the
        oldest without usage counts); ties at the cut all go, as in the official code."""
        before = self._long
        excess = before - limit
        if self.count_usage:
            usage = self.usage()[:before]
            cut = usage.kthvalue(excess).values
            survivors = torch.nonzero(usage > cut).flatten()
        else:
            survivors = torch.arange(excess, before, device=self._keys.device)
        self._keep(torch.cat([survivors, torch.arange(before, self.size(), device=self._keys.device)]))
        self._long = len(survivors)
        self._events.append(MemoryEvent(index, "removal", before, self._long, before - self._long))

    def _keep(self, entries: torch.Tensor) -> None:
        """Keep only ``entries`` (indices, in order) of everything held per entry; the
        working memory's selection is the caller's to cut."""
        self._keys, self._values, self._foreground = self._keys[:, entries], self._values[:, entries], self._foreground[:, entries]
        self._use, self._life = self._use[entries], self._life[entries]
        if self._shrinkage is not None:
            self._shrinkage = self._shrinkage[entries]

    def _consolidate(self, index: int) -> None:
        n, long = self._n, self._long
        start = long + n  # the first frame of working memory is never consolidated
        end = self.size() - (self.min_mid_term_frames - 1) * n
        count = min(self.num_prototypes, end - start)
        chosen = self.usage()[start:end].topk(count, sorted=True).indices  # most used first
        keys = self._keys[:, start:end]
        shrinkage = None if self._shrinkage is None else self._shrinkage[start:end]
        channels = self._values.shape[2]
        # foreground shares (and shrinkage) are re-estimated with the values, as more channels
        values = torch.cat([self._values[:, start:end], self._foreground[:, start:end, None].to(self._values.dtype)], dim=2)
        if shrinkage is not None:
            values = torch.cat([values, shrinkage[None, :, None].expand(values.shape[0], -1, 1).to(values.dtype)], dim=2)
        selection = None if self._selection is None else self._selection[:, start - long : end - long]
        read = read_values(
            keys, values, keys[:, chosen], "l2", None, shrinkage, None if selection is None else selection[:, chosen]
        ).to(self._values.dtype)  # [K, Cv + 1 (+1), P]
        prototypes = {
            "_keys": keys[:, chosen],
            "_values": read[:, :channels].transpose(1, 2),
            "_foreground": read[:, channels].float(),
            "_use": self._use.new_zeros(count),
            "_life": self._life.new_full((count,), NEW_LIFE),
        }
        if shrinkage is not None:
            prototypes["_shrinkage"] = read[0, -1].to(self._shrinkage.dtype)
        total = self.size()
        for name, tensor in prototypes.items():
            held = getattr(self, name)
            dim = 1 if name in ("_keys", "_values", "_foreground") else 0
            parts = [held.narrow(dim, 0, long), tensor, held.narrow(dim, long, n), held.narrow(dim, end, total - end)]
            setattr(self, name, torch.cat(parts, dim=dim))
        if self._selection is not None:
            self._selection = torch.cat([self._selection[:, :n], self._selection[:, end - long :]], dim=1)
        self._long = long + count
        self._events.append(MemoryEvent(index, "consolidation", long, self._long, end - start))

    # --- reading -----------------------------------------------------------------
    def read(self, query: torch.Tensor, selection: torch.Tensor | None = None) -> Readout:
        """Top-k readout over long-term and working entries; records their usage."""
        q = query[0] if query.dim() == 3 else query
        if self._keys is None:
            raise ValueError("read from an empty memory")
        if not self.long_term:  # usage only ranks entries for consolidation and removal
            return Readout(read_values(self._keys, self._values, q, "l2", self.top_k, self._shrinkage, selection).to(self._values.dtype))
        usage = torch.zeros(self.size(), dtype=torch.float32, device=q.device)
        out = read_values(self._keys, self._values, q, "l2", self.top_k, self._shrinkage, selection, usage)
        counted = slice(0, None) if self.count_usage else slice(self._long, None)
        self._use[counted] += usage[counted]
        self._life[counted] += 1
        return Readout(out.to(self._values.dtype))


# Registered parameters of the policy, for every method that offers it; the defaults are
# XMem's official eval.py settings (DAVIS / YouTube-VOS).
MEMORY_PARAMS = (
    Param("mem_every", 5, "write a frame to working memory every n-th frame (and each frame where an object is given)"),
    Param("top_k", 30, "memory entries each query position reads (top-k softmax)"),
    Param("long_term", True, "consolidate working memory into long-term prototypes (false: working memory only, growing)"),
    Param("count_usage", True, "count reads of long-term entries, by which removal ranks them (false: removal drops the oldest)"),
    Param("max_mid_term_frames", 10, "frames in working memory that trigger a consolidation (T_max)"),
    Param("min_mid_term_frames", 5, "newest frames a consolidation leaves in working memory, the first frame besides (T_min)"),
    Param("num_prototypes", 128, "prototypes a consolidation adds to long-term memory"),
    Param("max_long_term_elements", 10000, "long-term capacity in entries; the least used are removed beyond it"),
)


def working_long_term_memory(config: dict, method: str) -> WorkingLongTermMemory:
    """The policy from the ``MEMORY_PARAMS`` values in ``config``; a bad value is one
    error line naming ``method``'s parameter."""

    def integer(name: str, allow_none: bool = False) -> int | None:
        value = config[name]
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise VosbenchError(f"{method}: parameter {name} must be a positive integer, got {value!r}")
        return value

    def flag(name: str) -> bool:
        if not isinstance(config[name], bool):
            raise VosbenchError(f"{method}: parameter {name} must be true or false, got {config[name]!r}")
        return config[name]

    try:
        return WorkingLongTermMemory(
            every=integer("mem_every"),
            top_k=integer("top_k", allow_none=True),  # None: every entry (SwiftNet's default read)
            long_term=flag("long_term"),
            count_usage=flag("count_usage"),
            max_mid_term_frames=integer("max_mid_term_frames"),
            min_mid_term_frames=integer("min_mid_term_frames"),
            num_prototypes=integer("num_prototypes"),
            max_long_term_elements=integer("max_long_term_elements"),
            buffer_tokens=config.get("buffer_tokens", 0),  # Cutie's; XMem has none
        )
    except ValueError as error:
        raise VosbenchError(f"{method}: {error}") from None
