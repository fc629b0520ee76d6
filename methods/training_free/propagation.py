"""Training-free segmentation: fixed features, and labels propagated through a memory.

The same memory policies the trained networks use hold, for every stored grid cell,
its key (``ColourPosition`` or ``LearnedFeatures`` features) and as value the object's soft mask there. A read
gives each query cell a mix of stored mask values, which is the object's probability
on the grid; it is upsampled bilinearly and combined over objects by STM's soft
aggregation. Stages: encode = features, read = memory read, decode = upsampling and
aggregation, memorize = write.
"""

from __future__ import annotations

import numpy as np
import torch

from methods.base import MemoryReport, Method, tier_fields
from methods.frames import check_grid, to_tensor
from methods.memory.base import MemoryPolicy
from methods.objects import ObjectSlots
from methods.stm_parts import aggregate
from methods.training_free.features import ColourPosition, guided_unpool, lab_of, pool, unpool
from methods.training_free.pretrained import LearnedFeatures
from vosbench.data.video import VideoInfo


class LabelPropagation(Method):
    def __init__(
        self,
        features: ColourPosition | LearnedFeatures,
        memory: MemoryPolicy,
        device="cpu",
        dtype: torch.dtype | None = None,
        guide: float = 0.0,
    ):
        super().__init__(device, dtype)
        self.features = features
        self.guide = guide  # colour width of the edge-aware upsampling; 0: bilinear
        self.memory_policy = memory
        self.slots: ObjectSlots | None = None

    def start(self, info: VideoInfo) -> None:
        stride = self.features.stride
        check_grid(info, info.size, stride, "the training-free features", f"a finer tf_stride (now {stride})")
        self.info = info
        self.slots = ObjectSlots(info)
        self.memory_policy.reset(0)

    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.slots is None:
            raise RuntimeError("start(info) must be called before step")
        slots = self.slots
        index, new = slots.arrive(frame, new_mask)
        if slots.idle(new):
            return slots.background()
        stride = self.features.stride
        with torch.inference_mode(), self.autocast():
            with self.clock.stage("encode"):
                image = to_tensor(frame, self.device)[0]
                lab = lab_of(image)
                keys = self.features.encode(image, lab).float()  # [C, h, w]
            grid = keys.shape[-2:]
            probs = None
            if slots.active:
                with self.clock.stage("read"):
                    readout = self.memory_policy.read(keys.flatten(1)).values  # [slots, 1, N]
                with self.clock.stage("decode"):
                    p = readout[:, 0].float().clamp(0, 1).view(-1, *grid)
                    probs = aggregate(self._upsample(p, lab))
            if new:
                given = slots.given(new_mask, new, self.device)
                objects = probs[1:] if probs is not None else given[:0]
                objects = objects.masked_fill(given.sum(0) > 0.5, 0.0)
                probs = aggregate(torch.cat([objects, given]))
                slots.join(new)
                self.memory_policy.add_objects(len(new))
            soft = pool(probs[1:], stride).flatten(1)  # [slots, N]
            self.memory_policy.observe(index, pool(image, stride).flatten(1), soft)
            if self.memory_policy.wants(index, is_last):
                with self.clock.stage("memorize"):
                    hard = torch.nn.functional.one_hot(probs.argmax(0), probs.shape[0]).permute(2, 0, 1)[1:].float()
                    hard = (pool(hard, stride) > 0.5).float().flatten(1)
                    count = len(slots.active)
                    flat = keys.flatten(1)
                    self.memory_policy.write(index, flat.expand(count, -1, -1), soft[:, None], soft, hard)
            if is_last:
                self.memory_policy.finish()
            return slots.scatter(probs).cpu()

    def _upsample(self, grid_probs: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
        stride = self.features.stride
        if self.guide > 0:
            return guided_unpool(grid_probs, lab, self.info.size, stride, self.guide)
        return unpool(grid_probs, self.info.size, stride)

    def key_features(self, frame: np.ndarray) -> torch.Tensor:
        """The features of ``frame`` [C, h, w], the keys ``step`` stores."""
        with torch.inference_mode(), self.autocast():
            return self.features(to_tensor(frame, self.device)[0]).float().cpu()

    def memory(self) -> MemoryReport:
        policy = self.memory_policy
        return MemoryReport(
            self.slots.per_object(policy.stored_features()),
            policy.nbytes(),
            self.slots.per_object(policy.matched_features()),
            **tier_fields(policy, len(self.slots.active), self.slots.frames - 1),
        )
