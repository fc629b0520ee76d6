"""STCN (Cheng, Tai, Tang: "Rethinking Space-Time Networks with Improved Memory
Coverage for Efficient Video Object Segmentation", NeurIPS 2021)."""

from __future__ import annotations

import torch

from methods.base import Method
from methods.fast_inference import FAST_CONV, fast_conv_setting
from methods.frames import parse_size
from methods.memory.consolidation import MEMORY_PARAMS, working_long_term_memory
from methods.memory.fifo import FIFO_PARAMS, fifo_memory
from methods.memory.periodic import PeriodicBank
from vosbench.errors import VosbenchError
from methods.training_free import training_free, training_free_params
from vosbench.registry import Param, register


def _positive(config: dict, name: str, allow_none: bool = False) -> int | None:
    value = config[name]
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise VosbenchError(f"stcn: parameter {name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return value


PARAMS = (
    Param("mem_every", 5, "memorise every n-th frame (and each frame where an object is given)"),
    Param("top_k", 20, "stored positions each query position reads (top-k softmax)"),
    Param("max_frames", None, "periodic bank's capacity in frames; evicts the oldest frame that is not a given one (None: unbounded)"),
    Param(
        "memory", "periodic",
        "memory policy: the periodic bank, XMem's working/long-term memory or Cutie's FIFO with a permanent first frame (their parameters below)",
        choices=("periodic", "xmem", "fifo"),
    ),
    *MEMORY_PARAMS[2:],  # XMem's own; mem_every and top_k are the ones above
    *FIFO_PARAMS,
    Param("input_size", None, "resize frames to HxW (bicubic) before the network (None: as they are)"),
    Param("resize_short", None, "resize frames to this short side, 480 in the official YouTube-VOS script (None: as they are)"),
    FAST_CONV,
    *training_free_params(stride=16),
)


@register(
    "stcn",
    params=PARAMS,
    summary="STCN: L2 space-time correspondence, top-k readout of a periodic memory bank",
)
def build(config: dict, checkpoint: str | None = None, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    from methods.stcn.method import STCNMethod
    from methods.stcn.network import load_stcn

    config = {**{p.name: p.default for p in PARAMS}, **config}
    if config["memory"] == "xmem":
        if config["max_frames"] is not None:
            raise VosbenchError("stcn: max_frames is the periodic bank's capacity; with memory=xmem, size it with max_mid_term_frames")
        memory = working_long_term_memory(config, "stcn")
    elif config["memory"] == "fifo":
        if config["max_frames"] is not None:
            raise VosbenchError("stcn: max_frames is the periodic bank's capacity; with memory=fifo, size it with max_mem_frames")
        memory = fifo_memory(config, "stcn")
    elif config["memory"] == "periodic":
        memory = PeriodicBank(
            every=_positive(config, "mem_every"),
            top_k=_positive(config, "top_k"),
            similarity="l2",
            max_frames=_positive(config, "max_frames", allow_none=True),
        )
    else:
        raise VosbenchError(f"stcn: parameter memory must be periodic, xmem or fifo, got {config['memory']!r}")
    if checkpoint is None:
        return training_free(config, memory, device, dtype)
    input_size = parse_size(config["input_size"], "input_size")
    resize_short = _positive(config, "resize_short", allow_none=True)
    return STCNMethod(
        load_stcn(checkpoint), memory, device, dtype, input_size=input_size, resize_short=resize_short,
        fast_conv=fast_conv_setting(config, "stcn"),
    )
