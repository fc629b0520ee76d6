"""Cutie (Cheng, Oh, Price, Lee, Schwing: "Putting the Object Back into Video Object
Segmentation", CVPR 2024)."""

from __future__ import annotations

import dataclasses

import torch

from methods.base import Method
from methods.fast_inference import FAST_CONV, fast_conv_setting
from methods.memory.consolidation import MEMORY_PARAMS, working_long_term_memory
from methods.memory.fifo import FIFO_PARAMS, fifo_memory
from methods.training_free import training_free, training_free_params
from vosbench.errors import VosbenchError
from vosbench.registry import Param, register

# the official eval_config.yaml defaults (DAVIS, YouTube-VOS, MOSE: long-term memory off)
_LONG_TERM = {p.name: p for p in MEMORY_PARAMS}
PARAMS = (
    Param("mem_every", 5, "write a frame to the pixel and object memories every n-th frame (and each frame where an object is given)"),
    Param("top_k", 30, "pixel-memory entries each query position reads (top-k softmax)"),
    *FIFO_PARAMS,
    Param("stagger_updates", 5, "decoder updates of the sensory memory between two memorised frames, spread evenly"),
    Param("long_term", False, "XMem's working/long-term memory instead of the FIFO (the official setting for LVOS, BURST and generic videos)"),
    _LONG_TERM["count_usage"],
    dataclasses.replace(_LONG_TERM["max_mid_term_frames"], help="long_term: working-memory frames (first frame included) that trigger a consolidation"),
    dataclasses.replace(_LONG_TERM["min_mid_term_frames"], help="long_term: newest frames a consolidation leaves in working memory, the first frame besides"),
    _LONG_TERM["num_prototypes"],
    _LONG_TERM["max_long_term_elements"],
    Param("buffer_tokens", 2000, "long_term: removal cuts long-term memory this many entries below its capacity, so it runs seldom"),
    Param("resize_short", 480, "shrink frames whose short side exceeds this (bilinear), as the official reader; none: as they are", nullable=True),
    FAST_CONV,
    *training_free_params(stride=10),
)


# eval_config.yaml per dataset: long-term memory for LVOS and generic videos (frames as
# given there); its config has no Long-Time Video or SA-V entry: long videos, so LVOS's
_LONG_VIDEOS = {"long_term": True}
DATASET_DEFAULTS = {"lvos": _LONG_VIDEOS, "ltv": _LONG_VIDEOS, "sav": _LONG_VIDEOS, "generic": {**_LONG_VIDEOS, "resize_short": None}}


@register(
    "cutie",
    params=PARAMS,
    summary="Cutie: object memory read by a masked object transformer, FIFO pixel memory with a permanent first frame",
    dataset_defaults=DATASET_DEFAULTS,
)
def build(config: dict, checkpoint: str | None = None, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    from methods.cutie.method import CutieMethod
    from methods.cutie.network import load_cutie

    known = {p.name: p.default for p in PARAMS}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise VosbenchError(f"method cutie has no parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    config = {**known, **config}
    if not isinstance(config["long_term"], bool):
        raise VosbenchError(f"cutie: parameter long_term must be true or false, got {config['long_term']!r}")
    if config["long_term"]:
        memory = working_long_term_memory(config, "cutie")
    else:
        memory = fifo_memory(config, "cutie")
    stagger = config["stagger_updates"]
    if isinstance(stagger, bool) or not isinstance(stagger, int) or stagger < 1:
        raise VosbenchError(f"cutie: parameter stagger_updates must be a positive integer, got {stagger!r}")
    resize_short = config["resize_short"]
    if resize_short is not None and (isinstance(resize_short, bool) or not isinstance(resize_short, int) or resize_short < 1):
        raise VosbenchError(f"cutie: parameter resize_short must be a positive integer or none, got {resize_short!r}")
    if checkpoint is None:
        return training_free(config, memory, device, dtype)
    return CutieMethod(
        load_cutie(checkpoint), memory, device, dtype, resize_short=resize_short, mem_every=config["mem_every"],
        stagger_updates=stagger, fast_conv=fast_conv_setting(config, "cutie"),
    )
