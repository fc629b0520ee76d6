"""SAM 2.1 (Ravi et al., "SAM 2: Segment Anything in Images and Videos", 2024) in the
semi-supervised VOS setting of its ``tools/vos_inference.py``."""

from __future__ import annotations

import torch

from methods.base import Method
from methods.memory.recent_window import RECENT_WINDOW_PARAMS, recent_window_memory
from methods.training_free import training_free, training_free_params
from vosbench.errors import VosbenchError
from vosbench.registry import Param, register

PARAMS = (
    *RECENT_WINDOW_PARAMS,
    Param("compile", False, "CUDA with a checkpoint: torch.compile the image encoder (max-autotune, as the official vos_optimized / compile_image_encoder); the manifest records it. Refused on the CPU; untested on CUDA here"),
    Param("top_k", 20, "training-free: stored positions each query position reads (top-k softmax); SAM 2 itself attends to all", nullable=True),
    *training_free_params(stride=10),
)


@register(
    "sam2",
    params=PARAMS,
    summary="SAM 2.1: memory attention to the conditioning frames, the recent frames and object pointers; objects tracked independently",
)
def build(config: dict, checkpoint: str | None = None, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    from methods.sam2.method import SAM2Method
    from methods.sam2.network import load_sam2

    known = {p.name: p.default for p in PARAMS}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise VosbenchError(f"method sam2 has no parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    config = {**known, **config}
    top_k = config["top_k"]
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise VosbenchError(f"sam2: parameter top_k must be a positive integer or none, got {top_k!r}")
    memory = recent_window_memory(config, "sam2", top_k)
    compile_ = config["compile"]
    if not isinstance(compile_, bool):
        raise VosbenchError(f"sam2: parameter compile must be true or false, got {compile_!r}")
    if compile_ and (checkpoint is None or torch.device(device).type != "cuda"):
        raise VosbenchError(
            "sam2: compile=true compiles the network's image encoder for CUDA: give --device cuda and --checkpoint "
            "(on the CPU, and in the weightless mode, leave compile=false)"
        )
    if checkpoint is None:
        return training_free(config, memory, device, dtype)
    return SAM2Method(load_sam2(checkpoint), memory, device, dtype, compile_image_encoder=compile_)
