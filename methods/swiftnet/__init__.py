"""SwiftNet (Wang et al., CVPR 2021): light-aggregation encoder + pixel-adaptive memory.

Registered as ``swiftnet``. Give the official ``swiftnet_resnet18_old.pth`` as the
checkpoint. Defaults reproduce the released evaluation (periodic memory every 5 frames,
10 % most novel positions appended); ``trigger=variation`` switches to the paper's
variation-aware trigger (see methods/memory/pixel_adaptive.py for its reading).
"""

from __future__ import annotations

import torch

from methods.base import Method
from methods.fast_inference import FAST_CONV, fast_conv_setting
from methods.checkpoint import load_checkpoint, load_state
from methods.memory.consolidation import MEMORY_PARAMS, working_long_term_memory
from methods.memory.pixel_adaptive import TRIGGERS, PixelAdaptiveMemory
from methods.swiftnet.method import SwiftNetMethod
from methods.swiftnet.network import SwiftNet
from vosbench.errors import VosbenchError
from methods.training_free import training_free, training_free_params
from vosbench.registry import Param, register

PARAMS = (
    Param("mem_every", 5, "trigger=periodic: memorise every n-th frame (the release evaluates with 5)"),
    Param("beta", 0.1, "fraction of a memorised frame's positions appended per object: the least similar to the memory"),
    Param(
        "trigger",
        "periodic",
        "when a frame is memorised: periodic (the released code) or variation (the paper's trigger)",
        choices=TRIGGERS,
    ),
    Param("th_f", 0.1, "trigger=variation: a 16x16 cell changed when its mean colour moved by more than this (0..1, mean over RGB)"),
    Param("th_m", 0.5, "trigger=variation: and its mask (largest change over the objects) by more than this"),
    Param(
        "p_th",
        0.025,
        "trigger=variation: memorise when the changed cells exceed this fraction (vs the last memorised frame); "
        "the paper gives no value: 0.025 memorises as often as mem_every=5 on DAVIS 2016 val",
    ),
    Param("top_k", None, "read only the k most similar memory entries per position (None: all, as released)"),
    Param("memory", "pixel_adaptive", "memory policy: the pixel-adaptive memory, or XMem's working/long-term memory (its parameters below; mem_every and top_k above)", choices=("pixel_adaptive", "xmem")),
    *MEMORY_PARAMS[2:],
    # stride 10: J&F 0.604 on DAVIS 2016 val against 0.589 at 12 and 0.560 at 16, for
    # 3.7x the CPU time of 16 (the memory stays small, so the finer grid is affordable)
    FAST_CONV,
    *training_free_params(stride=10),
)


@register(
    "swiftnet",
    params=PARAMS,
    summary="SwiftNet (CVPR 2021, ResNet-18 release): light-aggregation encoder, pixel-adaptive memory",
)
def build(config: dict, checkpoint: str | None = None, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    known = {p.name: p.default for p in PARAMS}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise VosbenchError(f"method swiftnet has no parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    settings = {**known, **config}
    if settings["memory"] == "xmem":
        memory = working_long_term_memory(settings, "swiftnet")
    elif settings["memory"] == "pixel_adaptive":
        others = {p.name for p in training_free_params()} | {FAST_CONV.name, "memory"} | {p.name for p in MEMORY_PARAMS[2:]}
        memory = PixelAdaptiveMemory(similarity="dot", **{k: v for k, v in settings.items() if k not in others})
    else:
        raise VosbenchError(f"swiftnet: parameter memory must be pixel_adaptive or xmem, got {settings['memory']!r}")
    if checkpoint is None:
        return training_free(settings, memory, device, dtype)
    network = SwiftNet()
    load_state(network, load_checkpoint(checkpoint), checkpoint)
    return SwiftNetMethod(network, memory, device=device, dtype=dtype, fast_conv=fast_conv_setting(settings, "swiftnet"))
