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

from methods.base import MemoryReport, Method
from methods.frames import resize
from methods.memory.base import MemoryPolicy
from methods.memory.em_bases import key_grid_masks
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
    ):
        super().__init__(device, dtype)
        self.network = network.to(self.device).eval()
        self.bank = memory
        self.input_size = input_size
        self.info: VideoInfo | None = None
        self.num_objects = 0
        self.index = 0
        # contiguous object index (1..K) of each memory slot, in the order given
        self.active: list[int] = []

    def start(self, info: VideoInfo) -> None:
        self.info = info
        self.index = 0
        self.num_objects = len(info.objects)
        self.active = []
        self.bank.reset(0)

    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.info is None:
            raise RuntimeError("start(info) must be called before step")
        new = self._check(frame, new_mask)
        index = self.index
        self.index += 1
        if not self.active and not new:
            # nothing given yet: all background, no network work
            out = torch.zeros((self.num_objects + 1, *self.info.size))
            out[0] = 1
            return out
        with torch.inference_mode(), self.autocast():
            with self.clock.stage("encode"):
                image = swem_input(frame, self.input_size, self.device)
                features = self.network.encode_key(image)
            predicted = bool(self.active)
            if predicted:
                probs = self._predict(features)
            else:
                probs = torch.ones((1, *self.info.size), device=self.device)
            if new:
                probs = self._add_given(probs, new_mask, new)
            if self.bank.wants(index, is_last):
                with self.clock.stage("memorize"):
                    self._memorise(index, image, features, probs, predicted)
            return self._output(probs)

    def memory(self) -> MemoryReport:
        per_slot = self.bank.stored_features()
        per_object = [0] * self.num_objects
        for slot, k in enumerate(self.active):
            per_object[k - 1] = per_slot[slot]
        return MemoryReport(tuple(per_object), self.bank.nbytes())

    # --- helpers -----------------------------------------------------------------
    def _predict(self, features: FrameFeatures) -> torch.Tensor:
        """Read and decode the active objects -> aggregated probabilities [K + 1, H, W]."""
        k = len(self.active)
        grid = features.key.shape[-2:]
        with self.clock.stage("read"):
            readout = self.bank.read(features.key.flatten(2)[0])
            if "pi_feature" not in readout.extras:
                raise VosbenchError(
                    f"swem: the memory policy {type(self.bank).__name__} gives no pi_feature; "
                    "SWEM's decoder needs the top-L feature of the EM-bases memory"
                )
        with self.clock.stage("decode"):
            values = readout.values.view(k, -1, *grid)
            feature = readout.extras["pi_feature"].view(k, -1, *grid)
            p = self.network.segment(values, features, feature, self.info.size)
            return aggregate(p.float())

    def _add_given(self, probs: torch.Tensor, new_mask: np.ndarray, new: list[int]) -> torch.Tensor:
        labels = torch.from_numpy(np.require(new_mask, requirements=["C", "W"])).to(self.device)
        ids = torch.tensor(new, device=self.device, dtype=labels.dtype)
        given = (labels[None] == ids[:, None, None]).float()
        self.active += new
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
        keys = features.key.flatten(2).expand(len(self.active), -1, -1)
        self.bank.write(index, keys, values.flatten(2), soft, hard_masks=hard)

    def _output(self, probs: torch.Tensor) -> torch.Tensor:
        out = torch.zeros((self.num_objects + 1, *self.info.size), dtype=torch.float32, device=probs.device)
        out[0] = probs[0]
        out[self.active] = probs[1:].float()
        return out.cpu()

    def _check(self, frame: np.ndarray, new_mask: np.ndarray | None) -> list[int]:
        """The contiguous indices of the objects first given at this frame."""
        info = self.info
        where = f"{info.name} frame {self.index}"
        if frame.shape[:2] != info.size:
            raise VosbenchError(f"{where}: frame is {frame.shape[1]}x{frame.shape[0]}, the video is {info.width}x{info.height}")
        if new_mask is None:
            return []
        if new_mask.shape != info.size:
            raise VosbenchError(f"{where}: mask is {new_mask.shape[1]}x{new_mask.shape[0]}, the video is {info.width}x{info.height}")
        new = [int(v) for v in np.unique(new_mask) if v != 0]
        unknown = [v for v in new if v > self.num_objects]
        if unknown:
            raise VosbenchError(f"{where}: mask holds object indices {unknown}; the video has objects 1..{self.num_objects}")
        again = [v for v in new if v in self.active]
        if again:
            raise VosbenchError(f"{where}: objects {again} were already given at an earlier frame")
        return new
