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

from methods.base import MemoryReport, Method
from methods.memory.base import MemoryPolicy
from methods.swiftnet.network import STRIDE, SwiftNet, crop, padding_for, soft_aggregate
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError


class SwiftNetMethod(Method):
    def __init__(
        self,
        network: SwiftNet,
        memory: MemoryPolicy,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
    ):
        super().__init__(device, dtype)
        self.network = network.to(self.device).eval()
        self.memory_policy = memory
        self.info: VideoInfo | None = None

    def start(self, info: VideoInfo) -> None:
        self.info = info
        self.num_objects = len(info.objects)
        self.index = -1
        self.pad = padding_for(info.height, info.width)
        # Contiguous object indices in the order the memory knows them (order of appearance).
        self.active: list[int] = []
        self.memory_policy.reset(0)

    @torch.inference_mode()
    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.info is None:
            raise RuntimeError("SwiftNetMethod.step called before start")
        self.index += 1
        self._check(frame, new_mask)
        height, width = self.info.size
        with self.autocast():
            image = torch.tensor(frame, device=self.device)
            image = F.pad(image.permute(2, 0, 1)[None].float() / 255, self.pad)  # black padding, then normalised
            with self.clock.stage("encode"):
                taps = self.network.encode(image)
                query = self.network.query(taps) if self.active else None

            prob = torch.zeros(self.num_objects + 1, height, width, device=self.device)
            prob[0] = 1
            if query is not None:
                query_key, query_value = query
                with self.clock.stage("read"):
                    readout = self.memory_policy.read(query_key.flatten(2)[0])
                with self.clock.stage("decode"):
                    values = readout.values.view(len(self.active), -1, *query_key.shape[-2:])
                    objects = self.network.segment(values, query_value, taps).float()
                    joint = torch.softmax(crop(soft_aggregate(objects), self.pad), dim=0)
                    prob[0] = joint[0]
                    prob[self.active] = joint[1:]
            if new_mask is not None:
                self._start_objects(prob, new_mask)

            with self.clock.stage("memorize"):
                if self.active:
                    masks = F.pad(prob[self.active], self.pad)
                    grid_masks = F.avg_pool2d(masks[:, None], STRIDE).flatten(1)
                    self.memory_policy.observe(self.index, F.avg_pool2d(image, STRIDE).flatten(2)[0], grid_masks)
                    if self.memory_policy.wants(self.index, is_last):
                        keys, values = self.network.memorise(taps, masks)
                        self.memory_policy.write(self.index, keys.flatten(2), values.flatten(2), grid_masks)
                if is_last:
                    self.memory_policy.finish()
        return prob.float().cpu()

    def memory(self) -> MemoryReport:
        stored = [0] * self.num_objects
        matched = [0] * self.num_objects
        for slot, (s, m) in enumerate(zip(self.memory_policy.stored_features(), self.memory_policy.matched_features())):
            stored[self.active[slot] - 1], matched[self.active[slot] - 1] = s, m
        return MemoryReport(tuple(stored), self.memory_policy.nbytes(), tuple(matched))

    def _start_objects(self, prob: torch.Tensor, new_mask: np.ndarray) -> None:
        """Objects first given now: their mask replaces whatever was predicted there."""
        given = torch.tensor(new_mask, device=self.device)
        ids = [int(i) for i in torch.unique(given).tolist() if i != 0]
        if not ids:
            return
        unknown = [i for i in ids if i > self.num_objects]
        again = [i for i in ids if i in self.active]
        if unknown or again:
            problem = f"object indices {unknown} beyond the video's {self.num_objects} objects" if unknown else (
                f"objects {again} given again after their first frame"
            )
            raise VosbenchError(f"{self.info.name}: frame {self.index}: new mask has {problem}; check its annotations")
        onehot = given[None] == torch.tensor(ids, device=self.device)[:, None, None]
        prob *= ~onehot.any(dim=0)
        prob[ids] = onehot.to(prob.dtype)
        self.active += ids
        self.memory_policy.add_objects(len(ids))

    def _check(self, frame: np.ndarray, new_mask: np.ndarray | None) -> None:
        height, width = self.info.size
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise VosbenchError(
                f"{self.info.name}: frame {self.index} is {frame.dtype} {frame.shape}, expected uint8 "
                f"({height}, {width}, 3) RGB like the video's first frame"
            )
        if new_mask is not None and new_mask.shape != (height, width):
            raise VosbenchError(
                f"{self.info.name}: mask given at frame {self.index} is {new_mask.shape}, expected ({height}, {width}); "
                "the annotation must have the frame's size"
            )
