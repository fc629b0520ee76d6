"""XMem as a ``Method``: its network, its sensory memory (a hidden state per object, the
network's own state) and a memory policy, driven frame by frame as the official
inference core drives it.

Frames are prepared as STCN's (normalised, resized to ``resize_short`` bilinearly,
padded to 16 with 0) and probabilities cropped and resized back the same way. Per frame:
encode the key with its shrinkage and selection; read the memory (long-term and working
entries, top-k) and decode every object with its hidden state; aggregate. A frame the
policy wants (or where objects are given) is memorised: values encoded from its soft
probabilities, with a deep update of the hidden state on memorised frames
(``deep_update_every`` < 0) or every ``deep_update_every`` frames when one is memorised.
On other frames but the last, the decoder updates the hidden state. The hidden state of
an object starts at zero where it is given.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from methods.memory.base import MemoryPolicy
from methods.stcn.method import STCNMethod
from methods.stm_parts import aggregate
from methods.xmem.network import XMem, XMemFeatures


class XMemMethod(STCNMethod):
    resize_mode = "bilinear"

    def __init__(
        self,
        network: XMem,
        memory: MemoryPolicy,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        resize_short: int | None = 480,
        deep_update_every: int = -1,
        fast_conv: bool = True,
    ):
        super().__init__(network, memory, device, dtype, resize_short=resize_short, fast_conv=fast_conv)
        self.deep_update_every = deep_update_every
        self.hidden: torch.Tensor | None = None

    def start(self, info) -> None:
        super().start(info)
        self.hidden = None
        self.last_deep_update = -self.deep_update_every

    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.info is None:
            raise RuntimeError("start(info) must be called before step")
        index, new = self.slots.arrive(frame, new_mask)
        if self.slots.idle(new):
            return self.slots.background()
        # the official schedule: decided before segmenting
        is_mem = not is_last and (bool(new) or self.bank.wants(index, is_last))
        deep_update, normal_update = self._updates(index, is_mem, is_last)
        with torch.inference_mode(), self.autocast():
            with self.clock.stage("encode"):
                image, box = self._prepare(frame)
                features = self.network.encode_key(image)
            probs = None
            if self.slots.active:
                grid = features.key.shape[-2:]
                with self.clock.stage("read"):
                    readout = self.bank.read(features.key.flatten(2)[0], features.selection.flatten(2)[0]).values
                with self.clock.stage("decode"):
                    probs = self._decode(readout.view(len(self.slots.active), -1, *grid), features, image, normal_update)
            if new:
                probs = self._add_given(probs, new_mask, new)
                self._add_hidden(len(new), features)
            if is_mem:
                with self.clock.stage("memorize"):
                    self._memorise(index, image, features, probs[1:], deep_update)
            return self._output(probs, box)

    def _updates(self, index: int, is_mem: bool, is_last: bool) -> tuple[bool, bool]:
        """(deep update by the value encoder, update by the decoder) of the hidden state
        at frame ``index``."""
        if self.deep_update_every < 0:
            deep_update = is_mem
        else:
            deep_update = not is_last and index - self.last_deep_update >= self.deep_update_every
        return deep_update, not is_last and (self.deep_update_every >= 0 or not deep_update)

    def _decode(self, readout: torch.Tensor, features: XMemFeatures, image: torch.Tensor, update: bool) -> torch.Tensor:
        """Readout [K, Cv, h, w] -> aggregated probabilities [K + 1, H, W]; the decoder
        updates the hidden state when ``update``."""
        p, hidden = self.network.segment(readout, self.hidden, features, update, image.shape[-2:])
        if hidden is not None:
            self.hidden = hidden
        return aggregate(p.float())

    def _add_hidden(self, count: int, features: XMemFeatures) -> None:
        channels = self.network.hidden_dim
        if not channels:
            return
        zeros = features.key.new_zeros((count, channels, *features.key.shape[-2:]), dtype=torch.float32)
        self.hidden = zeros if self.hidden is None else torch.cat([self.hidden, zeros.to(self.hidden.dtype)])

    def _memorise(self, index: int, image: torch.Tensor, features: XMemFeatures, masks: torch.Tensor, deep_update: bool) -> None:
        values, hidden = self.network.encode_value(image, features.f16, masks, self.hidden, deep_update)
        if deep_update:
            if hidden is not None:
                self.hidden = hidden
            self.last_deep_update = index
        self._write(index, features, values, masks)

    def _write(self, index: int, features: XMemFeatures, values: torch.Tensor, masks: torch.Tensor) -> None:
        """Values [K, Cv, h, w] of the frame with soft masks [K, H, W] into the bank, with
        the key terms."""
        grid = values.shape[-2:]
        keys = features.key.flatten(2).expand(masks.shape[0], -1, -1)
        on_grid = F.adaptive_avg_pool2d(masks[None], grid)[0].flatten(1)
        self.bank.write(
            index, keys, values.flatten(2), on_grid,
            shrinkage=features.shrinkage.flatten(), selection=features.selection.flatten(2)[0],
        )

    def memory(self) -> MemoryReport:
        report = super().memory()
        if self.hidden is None:
            return report
        # the sensory memory: a hidden vector per object and key-grid position
        sensory = self.hidden.shape[0] * self.hidden[0, 0].numel()
        return dataclasses.replace(
            report, nbytes=report.nbytes + self.hidden.numel() * self.hidden.element_size(),
            tiers={**(report.tiers or {}), "sensory": sensory},
        )
