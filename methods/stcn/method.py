"""STCN as a ``Method``: the network plus a memory policy, driven frame by frame as
the official inference core drives it.

Per frame: normalise, optionally resize (bicubic), pad to a multiple of 16 with 0
(after normalisation, so the border is the mean colour); encode the key; read the
memory and decode the objects seen so far; aggregate. Objects given at this frame
replace the prediction inside their masks (the official YouTube-VOS ``interact``:
other objects' probabilities are zeroed there, the given masks set, and everything
re-aggregated); at frame 0 this is the aggregated given mask. A frame the memory policy
wants is memorised with its soft probabilities (not thresholded, padding included).
Probabilities are cropped back and, when the frame was resized, resized back
(bilinear) to the frame size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from methods.base import MemoryReport, Method, tier_fields
from methods.fast_inference import for_inference
from methods.frames import Box, check_grid, crop, normalise, pad_to_multiple, resize, short_side_size, to_tensor
from methods.memory.base import MemoryPolicy
from methods.objects import ObjectSlots
from methods.stcn.network import STCN
from methods.stm_parts import FrameFeatures, aggregate
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError


class STCNMethod(Method):
    resize_mode = "bicubic"  # of frames resized before the network

    def __init__(
        self,
        network: STCN,
        memory: MemoryPolicy,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        input_size: tuple[int, int] | None = None,
        resize_short: int | None = None,
        fast_conv: bool = True,
    ):
        super().__init__(device, dtype)
        if input_size is not None and resize_short is not None:
            raise VosbenchError("stcn: give input_size or resize_short, not both")
        self.network = for_inference(network, self.device, fast_conv)
        self.bank = memory
        self.input_size = input_size
        self.resize_short = resize_short
        self.info: VideoInfo | None = None
        self.slots: ObjectSlots | None = None

    def start(self, info: VideoInfo) -> None:
        self.info = info
        self.slots = ObjectSlots(info)
        self.bank.reset(0)
        self.net_size = self._net_size(*info.size)
        check_grid(info, self.net_size, 16, type(self).__name__.removesuffix("Method"), "resize_short or input_size")

    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.info is None:
            raise RuntimeError("start(info) must be called before step")
        index, new = self.slots.arrive(frame, new_mask)
        if self.slots.idle(new):
            return self.slots.background()  # nothing given yet: no network work
        with torch.inference_mode(), self.autocast():
            with self.clock.stage("encode"):
                image, box = self._prepare(frame)
                features = self.network.encode_key(image)
            probs = None
            if self.slots.active:
                grid = features.key.shape[-2:]
                with self.clock.stage("read"):
                    readout = self.bank.read(features.key.flatten(2)[0]).values
                with self.clock.stage("decode"):
                    p = self.network.segment(readout.view(len(self.slots.active), -1, *grid), features, image.shape[-2:])
                    probs = aggregate(p.float())
            if new:
                probs = self._add_given(probs, new_mask, new)
            if self.bank.wants(index, is_last):
                with self.clock.stage("memorize"):
                    self._memorise(index, image, features, probs[1:])
            return self._output(probs, box)

    def memory(self) -> MemoryReport:
        return MemoryReport(
            self.slots.per_object(self.bank.stored_features()), self.bank.nbytes(),
            **tier_fields(self.bank, len(self.slots.active), self.slots.frames - 1),
        )

    def key_features(self, frame: np.ndarray) -> torch.Tensor:
        """The key projection [64, h, w] at stride 16 of the resized, padded frame: what
        ``step`` writes to the bank (shared by the objects)."""
        with torch.inference_mode(), self.autocast():
            image, _ = self._prepare(frame)
            return self.network.encode_key(image).key[0].float().cpu()

    # --- helpers -----------------------------------------------------------------
    def _net_size(self, height: int, width: int) -> tuple[int, int]:
        if self.input_size is not None:
            return tuple(self.input_size)
        if self.resize_short is not None:
            return short_side_size(height, width, self.resize_short)
        return (height, width)

    def _prepare(self, frame: np.ndarray) -> tuple[torch.Tensor, Box]:
        image = resize(normalise(to_tensor(frame, self.device)), self._net_size(*frame.shape[:2]), self.resize_mode)
        return pad_to_multiple(image, 16, value=0.0)

    def _add_given(self, probs: torch.Tensor | None, new_mask: np.ndarray, new: list[int]) -> torch.Tensor:
        given = resize(self.slots.given(new_mask, new, self.device)[None], self.net_size, "nearest")[0]
        given, _ = pad_to_multiple(given, 16, value=0.0)
        objects = probs[1:] if probs is not None else given[:0]
        objects = objects.masked_fill(given.sum(0) > 0.5, 0.0)
        self.slots.join(new)
        self.bank.add_objects(len(new))
        return aggregate(torch.cat([objects, given], dim=0))

    def _memorise(self, index: int, image: torch.Tensor, features: FrameFeatures, masks: torch.Tensor) -> None:
        values = self.network.encode_value(image, features.f16, masks)
        grid = values.shape[-2:]
        k = masks.shape[0]
        keys = features.key.flatten(2).expand(k, -1, -1)
        on_grid = F.adaptive_avg_pool2d(masks[None], grid)[0].flatten(1)
        self.bank.write(index, keys, values.flatten(2), on_grid)

    def _output(self, probs: torch.Tensor, box: Box) -> torch.Tensor:
        probs = crop(probs, box)
        if tuple(probs.shape[-2:]) != self.info.size:
            probs = resize(probs[None], self.info.size, "bilinear")[0]
        return self.slots.scatter(probs).cpu()
