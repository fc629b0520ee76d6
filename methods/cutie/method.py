"""Cutie as a ``Method``: its network, its sensory memory (the network's own state, as
XMem's hidden state), the object memory and a pixel-memory policy, driven frame by
frame as the official ``InferenceCore`` drives it.

Frames are resized (bilinear) only when their short side exceeds ``resize_short``, as
the official reader does, padded to 16 with 0 in [0, 1] (the network normalises after
padding) and probabilities cropped and resized back. Per frame: encode the key; read
the pixel memory (top-k), fuse it with the sensory memory and the previous frame's soft
masks, refine it with the object transformer reading the object memory, decode every
object and aggregate. A frame the policy wants (or where objects are given) is
memorised from its soft probabilities: mask values into the pixel memory, summaries
into the object memory, a deep update of the sensory memory. The decoder updates the
sensory memory on the frames ``stagger_updates`` picks after each memorised frame,
never on the last.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from methods.base import MemoryReport
from methods.cutie.network import Cutie, CutieFeatures
from methods.fast_inference import use_nnpack
from methods.frames import Box, pad_to_multiple, resize, short_side_size, to_tensor
from methods.memory.base import MemoryPolicy
from methods.memory.object_memory import ObjectMemory
from methods.xmem.method import XMemMethod


def stagger_offsets(mem_every: int, stagger_updates: int) -> set[int]:
    """Frame offsets after the last memorised frame at which the decoder updates the
    sensory memory: all of 1..mem_every, or ``stagger_updates`` of them spread evenly
    (rounded half to even, as the official code)."""
    if stagger_updates >= mem_every:
        return set(range(1, mem_every + 1))
    return {int(v) for v in np.round(np.linspace(1, mem_every, stagger_updates))}


class CutieMethod(XMemMethod):
    def __init__(
        self,
        network: Cutie,
        memory: MemoryPolicy,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        resize_short: int | None = 480,
        mem_every: int = 5,
        stagger_updates: int = 5,
        fast_conv: bool = True,
    ):
        super().__init__(network, memory, device, dtype, resize_short=resize_short, fast_conv=fast_conv)
        if fast_conv and self.device.type == "cpu":
            # the mask encoder's fuser and deep update sit on its ResNet trunk but are no
            # part of it: NCHW on NNPACK as the other fusers, not channels-last on oneDNN
            # (2-3x slower for these 3x3 convolutions)
            for part in (self.network.mask_encoder.fuser, self.network.mask_encoder.sensory_update):
                use_nnpack(part.to(memory_format=torch.contiguous_format))
        self.stagger = stagger_offsets(mem_every, stagger_updates)
        self.objects = ObjectMemory()

    def start(self, info) -> None:
        super().start(info)
        self.objects.reset(0)
        self.last_mem = 0
        self.last_probs: torch.Tensor | None = None

    def _updates(self, index: int, is_mem: bool, is_last: bool) -> tuple[bool, bool]:
        # every memorised frame deep-updates; the decoder at the staggered offsets
        return True, not is_last and index - self.last_mem in self.stagger

    def _decode(self, readout: torch.Tensor, features: CutieFeatures, image: torch.Tensor, update: bool) -> torch.Tensor:
        last = F.adaptive_avg_pool2d(self.last_probs[None, 1:], readout.shape[-2:])[0]
        probs, hidden = self.network.segment(features, readout, self.hidden, last, self.objects.read(), update)
        if hidden is not None:
            self.hidden = hidden
        return probs.float()

    def _add_given(self, probs, new_mask, new) -> torch.Tensor:
        self.objects.add_objects(len(new))
        return super()._add_given(probs, new_mask, new)

    def _output(self, probs: torch.Tensor, box: Box) -> torch.Tensor:
        self.last_probs = probs  # the next frame's previous masks
        return super()._output(probs, box)

    def _memorise(self, index: int, image: torch.Tensor, features: CutieFeatures, masks: torch.Tensor, deep_update: bool) -> None:
        values, hidden, summaries = self.network.encode_mask(image, features, masks, self.hidden, deep_update)
        if hidden is not None:
            self.hidden = hidden
        self.objects.write(summaries)
        self.last_mem = index
        self._write(index, features, values, masks)

    def _net_size(self, height: int, width: int) -> tuple[int, int]:
        # the official reader only ever shrinks a frame
        if self.resize_short is not None and min(height, width) > self.resize_short:
            return short_side_size(height, width, self.resize_short)
        return (height, width)

    def _prepare(self, frame: np.ndarray) -> tuple[torch.Tensor, Box]:
        # padded with black before the network normalises, as the official code
        image = resize(to_tensor(frame, self.device), self._net_size(*frame.shape[:2]), "bilinear")
        return pad_to_multiple(image, 16, value=0.0)

    def object_summaries(self, frame: np.ndarray, masks: torch.Tensor) -> torch.Tensor | None:
        """The summaries ``_memorise`` adds for ``frame`` with ``masks`` (resized and
        padded as given masks are)."""
        with torch.inference_mode(), self.autocast():
            image, _ = self._prepare(frame)
            features = self.network.encode_key(image)
            masks = resize(masks.to(self.device, torch.float32)[None], self._net_size(*frame.shape[:2]), "nearest")[0]
            masks, _ = pad_to_multiple(masks, 16, value=0.0)
            _, _, summaries = self.network.encode_mask(image, features, masks, None, deep_update=False)
            return summaries.float().cpu()

    def memory(self) -> MemoryReport:
        report = super().memory()
        objects = len(self.slots.active)
        tiers = {name: count * objects for name, count in self.objects.tiers().items()}
        return dataclasses.replace(
            report, nbytes=report.nbytes + self.objects.nbytes(), tiers={**(report.tiers or {}), **tiers}
        )
