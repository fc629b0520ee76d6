"""XMem (Cheng, Schwing: "XMem: Long-Term Video Object Segmentation with an
Atkinson-Shiffrin Memory Model", ECCV 2022)."""

from __future__ import annotations

import torch

from methods.base import Method
from methods.fast_inference import FAST_CONV, fast_conv_setting
from methods.memory.consolidation import WorkingLongTermMemory
from methods.training_free import training_free, training_free_params
from vosbench.errors import VosbenchError
from vosbench.registry import Param, register

# the defaults are the official eval.py's (its DAVIS / YouTube-VOS settings)
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

PARAMS = (
    *MEMORY_PARAMS,
    Param("deep_update_every", -1, "deep update of the sensory memory every n frames, when one is memorised (-1: on every memorised frame)"),
    Param("resize_short", 480, "resize frames to this short side (bilinear), as the official eval; none: as they are", nullable=True),
    FAST_CONV,
    *training_free_params(stride=16),
)


def _integer(config: dict, name: str, minimum: int) -> int:
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise VosbenchError(f"xmem: parameter {name} must be an integer >= {minimum}, got {value!r}")
    return value


def _flag(config: dict, name: str) -> bool:
    if not isinstance(config[name], bool):
        raise VosbenchError(f"xmem: parameter {name} must be true or false, got {config[name]!r}")
    return config[name]


def working_long_term_memory(config: dict) -> WorkingLongTermMemory:
    """The policy from the ``MEMORY_PARAMS`` in ``config``."""
    try:
        return WorkingLongTermMemory(
            every=_integer(config, "mem_every", 1),
            top_k=_integer(config, "top_k", 1),
            long_term=_flag(config, "long_term"),
            count_usage=_flag(config, "count_usage"),
            max_mid_term_frames=_integer(config, "max_mid_term_frames", 2),
            min_mid_term_frames=_integer(config, "min_mid_term_frames", 1),
            num_prototypes=_integer(config, "num_prototypes", 1),
            max_long_term_elements=_integer(config, "max_long_term_elements", 1),
        )
    except ValueError as error:
        raise VosbenchError(f"xmem: {error}") from None


@register(
    "xmem",
    params=PARAMS,
    summary="XMem: sensory, working and long-term memory; anisotropic L2, consolidation into prototypes",
)
def build(config: dict, checkpoint: str | None = None, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    from methods.xmem.method import XMemMethod
    from methods.xmem.network import load_xmem

    known = {p.name: p.default for p in PARAMS}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise VosbenchError(f"method xmem has no parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    config = {**known, **config}
    memory = working_long_term_memory(config)
    deep_update_every = config["deep_update_every"]
    if isinstance(deep_update_every, bool) or not isinstance(deep_update_every, int) or deep_update_every == 0:
        raise VosbenchError(f"xmem: parameter deep_update_every must be a positive integer or -1, got {deep_update_every!r}")
    resize_short = config["resize_short"]
    if resize_short is not None:
        resize_short = _integer(config, "resize_short", 1)
    if checkpoint is None:
        return training_free(config, memory, device, dtype)
    return XMemMethod(
        load_xmem(checkpoint), memory, device, dtype, resize_short=resize_short,
        deep_update_every=deep_update_every, fast_conv=fast_conv_setting(config, "xmem"),
    )
