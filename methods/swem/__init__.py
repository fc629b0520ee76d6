"""SWEM (Lin et al., "SWEM: Towards Real-Time Video Object Segmentation with
Sequential Weighted Expectation-Maximization", CVPR 2022).

Registered as ``swem``. Give the official SWEM checkpoint (a flat state dict). Defaults
reproduce the release's DAVIS evaluation: frames stretched to 480x864, 128 bases per
group, 4 EM iterations, tau 0.05, top-64 feature, adaptive weights. With
``memory=xmem`` the network reads XMem's working/long-term memory instead, its top-L
feature taken over that memory's foreground and background entries.
"""

from __future__ import annotations

import torch

from methods.base import Method
from methods.fast_inference import FAST_CONV, fast_conv_setting
from methods.frames import parse_size
from methods.memory.consolidation import MEMORY_PARAMS, working_long_term_memory
from methods.memory.em_bases import EMBases
from vosbench.errors import VosbenchError
from methods.training_free import training_free, training_free_params
from vosbench.registry import Param, register

PARAMS = (
    Param("num_bases", 128, "key/value bases per object and group (background, foreground) in each bank"),
    Param("em_iters", 4, "EM iterations per memorised frame"),
    Param("tau", 0.05, "temperature of the EM assignments and of the memory read"),
    Param("top_l", 64, "bases per group in the permutation-invariant feature (the official weights need 64)"),
    Param("adaptive", True, "reweight pixels the bases explain badly (the W-step) between EM iterations"),
    Param("seed", 0, "seed of the random initial bases, drawn anew for every video"),
    Param("memory", "em_bases", "memory policy: SWEM's EM bases, or XMem's working/long-term memory (its parameters below)", choices=("em_bases", "xmem")),
    *MEMORY_PARAMS,
    Param("input_size", "480x864", "resize frames to HxW (bicubic) before the network, as the release's DAVIS evaluator; none: as they are"),
    FAST_CONV,
    *training_free_params(stride=8),
)


def _integer(config: dict, name: str, minimum: int) -> int:
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise VosbenchError(f"swem: parameter {name} must be an integer >= {minimum}, got {value!r}")
    return value


@register(
    "swem",
    params=PARAMS,
    summary="SWEM: sequential weighted EM bases as memory, read with a top-L permutation-invariant feature",
)
def build(config: dict, checkpoint: str | None = None, device: str = "cpu", dtype: torch.dtype | None = None) -> Method:
    from methods.swem.method import SWEMMethod
    from methods.swem.network import load_swem

    known = {p.name: p.default for p in PARAMS}
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise VosbenchError(f"method swem has no parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    config = {**known, **config}
    tau, adaptive = config["tau"], config["adaptive"]
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or tau <= 0:
        raise VosbenchError(f"swem: parameter tau must be a positive number, got {tau!r}")
    if not isinstance(adaptive, bool):
        raise VosbenchError(f"swem: parameter adaptive must be true or false, got {adaptive!r}")
    num_bases = _integer(config, "num_bases", 1)
    top_l = _integer(config, "top_l", 1)
    if config["memory"] == "xmem":
        memory = working_long_term_memory(config, "swem")
    elif config["memory"] == "em_bases":
        if top_l > num_bases:
            raise VosbenchError(f"swem: top_l ({top_l}) cannot exceed num_bases ({num_bases}): the feature ranks a bank's bases")
        memory = EMBases(
            num_bases=num_bases,
            em_iters=_integer(config, "em_iters", 1),
            tau=float(tau),
            top_l=top_l,
            adaptive=adaptive,
            seed=_integer(config, "seed", 0),
        )
    else:
        raise VosbenchError(f"swem: parameter memory must be em_bases or xmem, got {config['memory']!r}")
    if checkpoint is None:
        return training_free(config, memory, device, dtype)
    network = load_swem(checkpoint)
    # The fusion layer takes readout, query value and the 2 * top_l feature channels.
    fused = network.swem_core.fusion_layer.layer_f.in_channels - 2 * network.key_comp.out_channels
    if fused != 2 * top_l:
        raise VosbenchError(f"swem: top_l={top_l} does not fit the network, whose fusion layer takes a top-{fused // 2} feature")
    return SWEMMethod(
        network, memory, device, dtype, input_size=parse_size(config["input_size"], "input_size"),
        fast_conv=fast_conv_setting(config, "swem"), tau=float(tau), top_l=top_l,
    )
