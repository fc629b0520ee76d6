"""SwiftNet as a ``Method``: its network driven frame by frame through a memory policy.

The frame loop follows the released evaluation (``Run_video``) in an online form: a
frame is encoded, read against the memory (the stored entries plus, with the
pixel-adaptive memory, the previous frame), decoded per object and aggregated; then it
is written with its soft probabilities (the given one-hot mask where an object starts),
which is when the pixel-adaptive memory commits the frame before it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from methods.base import MemoryReport, Method, tier_fields
from methods.memory.base import MemoryPolicy
from methods.fast_inference import for_inference
from methods.frames import check_grid, crop, pad_to_multiple, to_tensor
from methods.objects import ObjectSlots
from methods.stm_parts import aggregate
from methods.swiftnet.network import STRIDE, SwiftNet
from vosbench.data.video import VideoInfo


class SwiftNetMethod(Method):
    def __init__(
        self,
        network: SwiftNet,
        memory: MemoryPolicy,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
   
        fast_conv: bool = True,
    ):
        super().__init__(device, dtype)
        self.network = for_inference(network, self.device, fast_conv)
        self.memory_policy = memory
        self.info: VideoInfo | None = None

    def start(self, info: VideoInfo) -> None:
        check_grid(info, info.size, 16, "SwiftNet")
        self.info = info
        self.slots = ObjectSlots(info)
        self.memory_policy.reset(0)

    @torch.inference_mode()
    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.info is None:
            raise RuntimeError("SwiftNetMethod.step called before start")
        slots = self.slots
        index, new = slots.arrive(frame, new_mask)
        with self.autocast():
            # black padding on the [0, 1] image; the encoder normalises afterwards
            image, box = pad_to_multiple(to_tensor(frame, self.device), STRIDE, value=0.0)
            with self.clock.stage("encode"):
                taps = self.network.encode(image)
                query = self.network.query(taps) if slots.active else None

            prob = slots.background().to(self.device)
            if query is not None:
                query_key, query_value = query
                with self.clock.stage("read"):
                    readout = self.memory_policy.read(query_key.flatten(2)[0])
                with self.clock.stage("decode"):
                    values = readout.values.view(len(slots.active), -1, *query_key.shape[-2:])
                    objects = self.network.segment(values, query_value, taps).float()
                    prob = slots.scatter(crop(aggregate(objects), box))
            if new:
                # the given masks replace whatever was predicted there
                given = slots.given(new_mask, new, self.device)
                prob *= given.sum(0) == 0
                prob[new] = given
                slots.join(new)
                self.memory_policy.add_objects(len(new))

            with self.clock.stage("memorize"):
                if slots.active:
                    masks, _ = pad_to_multiple(prob[slots.active], STRIDE, value=0.0)
                    grid_masks = F.avg_pool2d(masks[:, None], STRIDE).flatten(1)
                    self.memory_policy.observe(index, F.avg_pool2d(image, STRIDE).flatten(2)[0], grid_masks)
                    if self.memory_policy.wants(index, is_last):
                        keys, values = self.network.memorise(taps, masks)
                        self.memory_policy.write(index, keys.flatten(2), values.flatten(2), grid_masks)
                if is_last:
                    self.memory_policy.finish()
        return prob.float().cpu()

    def key_features(self, frame: np.ndarray) -> torch.Tensor:
        """The query key [32, h, w] at stride 16 of the padded frame.

        SwiftNet encodes its memory key from the frame *and* each object's mask, so the
        mask-free key of a frame is the one it is matched with: the query key ``step``
        reads the memory with.
        """
        with torch.inference_mode(), self.autocast():
            image, _ = pad_to_multiple(to_tensor(frame, self.device), STRIDE, value=0.0)
            key, _ = self.network.query(self.network.encode(image))
            return key[0].float().cpu()

    def memory(self) -> MemoryReport:
        policy = self.memory_policy
        return MemoryReport(
            self.slots.per_object(policy.stored_features()), policy.nbytes(), self.slots.per_object(policy.matched_features()),
            **tier_fields(policy, len(self.slots.active), self.slots.frames - 1),
        )

