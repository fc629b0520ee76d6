"""SWEM as a ``Method``: its network driven frame by frame through a memory policy, as
the official evaluator drives it (``evaluate_davis_seq`` / ``evaluate_ytvos_seq``).

Per frame: /255, resize to the network input size (bicubic, unclamped; or as it is);
encode the key; read the memory (value readout and the top-L feature) and decode each
object; aggregate at the frame's own size. Objects given at this frame replace the
prediction inside their masks (every other channel is zeroed there, without
re-aggregation, as the release's YouTube-VOS path does); at the first frame with
objects that is their one-hot mask. Every frame but the last is memorised: the value
encoder sees the probabilities resized to the input size (bilinear; nearest for the
one-hot of the first frame), and the EM weights come from the hard mask (argmax at full
size, nearest to the key grid) and the soft mask (bilinear to the key grid).
"""

from __future__ import annotations

import numpy as np
import torch

from methods.base import MemoryReport, Method, tier_fields
from methods.fast_inference import for_inference
from methods.frames import check_grid, resize
from methods.memory.base import MemoryPolicy
from methods.memory.em_bases import entry_feature, key_grid_masks
from methods.objects import ObjectSlots
from methods.stm_parts import FrameFeatures, aggregate
from methods.swem.network import SWEM, swem_input
from vosbench.data.video import VideoInfo
from vosbench.errors import VosbenchError


class SWEMMethod(Method):
    def __init__(
        self,
        network: SWEM,
        memory: MemoryPolicy,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        input_size: tuple[int, int] | None = None,
        fast_conv: bool = True,
        tau: float = 0.05,
        top_l: int = 64,
    ):
        super().__init__(device, dtype)
        self.network = for_inference(network, self.device, fast_conv)
        self.bank = memory
        self.input_size = input_size
        self.tau, self.top_l = tau, top_l  # the top-L feature's, where the memory does not give it
        self.info: VideoInfo | None = None
        self.slots: ObjectSlots | None = None

    def start(self, info: VideoInfo) -> None:
        check_grid(info, self.input_size or info.size, 16, "SWEM", "input_size")
        self.info = info
        self.slots = ObjectSlots(info)
        self.bank.reset(0)

    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.info is None:
            raise RuntimeError("start(info) must be called before step")
        index, new = self.slots.arrive(frame, new_mask)
        if self.slots.idle(new):
            return self.slots.background()  # nothing given yet: no network work
        with torch.inference_mode(), self.autocast():
            with self.clock.stage("encode"):
                image = swem_input(frame, self.input_size, self.device)
                features = self.network.encode_key(image)
            predicted = bool(self.slots.active)
            if predicted:
                probs = self._predict(features)
            else:
                probs = torch.ones((1, *self.info.size), device=self.device)
            if new:
                probs = self._add_given(probs, new_mask, new)
            if self.bank.wants(index, is_last):
                with self.clock.stage("memorize"):
                    self._memorise(index, image, features, probs, predicted)
            return self.slots.scatter(probs).cpu()

    def memory(self) -> MemoryReport:
        return MemoryReport(
            self.slots.per_object(self.bank.stored_features()), self.bank.nbytes(),
            **tier_fields(self.bank, len(self.slots.active), self.slots.frames - 1),
        )

    def key_features(self, frame: np.ndarray) -> torch.Tensor:
        """The raw key [128, h, w] at stride 16 of the network input: what ``step`` fits
        into the EM bases (shared by the objects)."""
        with torch.inference_mode(), self.autocast():
            return self.network.encode_key(swem_input(frame, self.input_size, self.device)).key[0].float().cpu()

    # --- helpers -----------------------------------------------------------------
    def _predict(self, features: FrameFeatures) -> torch.Tensor:
        """Read and decode the active objects -> aggregated probabilities [K + 1, H, W]."""
        k = len(self.slots.active)
        grid = features.key.shape[-2:]
        with self.clock.stage("read"):
            query = features.key.flatten(2)[0]
            readout = self.bank.read(query)
            feature = readout.extras.get("pi_feature")
            if feature is None:
                entries = self.bank.foreground_entries()
                if entries is None:
                    raise VosbenchError(
                        f"swem: the memory policy {type(self.bank).__name__} gives no top-L feature and keeps no "
                        "foreground entries to compute it from; use memory=em_bases or memory=xmem"
                    )
                feature = entry_feature(query, *entries, self.tau, self.top_l)
        with self.clock.stage("decode"):
            values = readout.values.view(k, -1, *grid)
            feature = feature.view(k, -1, *grid)
            p = self.network.segment(values, features, feature, self.info.size)
            return aggregate(p.float())

    def _add_given(self, probs: torch.Tensor, new_mask: np.ndarray, new: list[int]) -> torch.Tensor:
        given = self.slots.given(new_mask, new, self.device)
        self.slots.join(new)
        self.bank.add_objects(len(new))
        return torch.cat([probs.masked_fill(given.sum(0) > 0, 0.0), given])

    def _memorise(
        self, index: int, image: torch.Tensor, features: FrameFeatures, probs: torch.Tensor, predicted: bool
    ) -> None:
        size = tuple(image.shape[-2:])
        if predicted:
            # the soft output, as the value encoder sees it, is also the EM's soft mask
            masks = resize(probs[None], size, "bilinear")[0]
            soft = masks
        else:
            # the first frame with objects: a one-hot, resized nearest for the encoder and
            # taken at full size for the EM's soft mask
            masks = resize(probs[None], size, "nearest")[0]
            soft = probs
        values = self.network.encode_value(image, features.f16, masks)
        hard, soft = key_grid_masks(probs, soft, tuple(values.shape[-2:]))
        keys = features.key.flatten(2).expand(len(self.slots.active), -1, -1)
        self.bank.write(index, keys, values.flatten(2), soft, hard_masks=hard)
