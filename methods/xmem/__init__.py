"""XMem (Cheng, Schwing: "XMem: Long-Term Video Object Segmentation with an
Atkinson-Shiffrin Memory Model", ECCV 2022)."""

from __future__ import annotations

import torch

from methods.base import Method
from methods.fast_inference import FAST_CONV, fast_conv_setting
from methods.memory.consolidation import MEMORY_PARAMS, working_long_term_memory
from methods.training_free import training_free, training_free_params
from vosbench.errors import VosbenchError
from vosbench.registry import Param, register

PARAMS = (
    *MEMORY_PARAMS,
    Param("deep_update_every", -1, "deep update of the sensory memory every n frames, when one is memorised (-1: on every memorised frame)"),
    Param("resize_short", 480, "resize frames to this short side (bilinear), as the official eval; none: as they are", nullable=True),
    FAST_CONV,
    *training_free_params(stride=16),
)


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
    memory = working_long_term_memory(config, "xmem")
    deep_update_every = config["deep_update_every"]
    if isinstance(deep_update_every, bool) or not isinstance(deep_update_every, int) or deep_update_every == 0:
        raise VosbenchError(f"xmem: parameter deep_update_every must be a positive integer or -1, got {deep_update_every!r}")
    resize_short = config["resize_short"]
    if resize_short is not None and (isinstance(resize_short, bool) or not isinstance(resize_short, int) or resize_short < 1):
        raise VosbenchError(f"xmem: parameter resize_short must be a positive integer or none, got {resize_short!r}")
    if checkpoint is None:
        return training_free(config, memory, device, dtype)
    return XMemMethod(
        load_xmem(checkpoint), memory, device, dtype, resize_short=resize_short,
        deep_update_every=deep_update_every, fast_conv=fast_conv_setting(config, "xmem"),
    )
