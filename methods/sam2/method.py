"""SAM 2.1 as a ``Method``: semi-supervised VOS as the official ``tools/vos_inference.py``
drives its video predictor (``add_new_mask`` for each object where it is given, then
``propagate_in_video``), with the memory selection in a ``RecentWindowMemory``.

Frames are resized to 1024 x 1024 (PIL bicubic, both axes stretched, as the official
loader) and normalised. Objects are tracked independently: the official predictor runs
them one at a time, here the objects given on the same frame form a group computed as
one batch (same memory selection), each group with its own memory. A given mask is
taken as the output (logits +-10 downsampled to 256 x 256) and prompts the decoder
only for the pointer; on other frames the memory-conditioned features go through SAM
with three candidate masks. Each frame's memory (bfloat16, as the official predictor
stores it) and pointer are written but on the last frame.

Output: each object's 256 x 256 logits resized to the video (bilinear); with several
objects the non-overlap rule (the largest logit keeps its value, the others are capped
at -10); channel k is the object's sigmoid, the background 1 - the largest, so the
argmax labels an object exactly where its logit is > 0, as the VOS script's masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from methods.base import MemoryReport, Method
from methods.fast_inference import onednn_linears
from methods.frames import normalise, to_tensor
from methods.memory.recent_window import RecentWindowMemory
from methods.objects import ObjectSlots
from methods.sam2.network import GRID, IMAGE_SIZE, SAM2, Heads
from vosbench.data.video import VideoInfo


@dataclass
class Group:
    """Objects given on the same frame: their slots and their memory."""

    slots: list[int]
    memory: RecentWindowMemory


@dataclass
class FrameRecord:
    """What frame t computed, per slot (for tests and telemetry)."""

    heads: Heads
    logits_raw: torch.Tensor  # [K, H, W] before the non-overlap rule
    spatial: list[list[tuple[int, int]]]  # per group: (frame, temporal slot)
    pointers: list[list[tuple[int, int]]]  # per group: (frame, signed distance)


def resize_frame(frame: np.ndarray) -> np.ndarray:
    """The official loader's resize: PIL bicubic to 1024 x 1024, uint8."""
    return np.asarray(Image.fromarray(frame).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC))


def non_overlap(logits: torch.Tensor) -> torch.Tensor:
    """[K, H, W]: where an object is not the largest logit (first on ties), cap it at -10."""
    if logits.shape[0] < 2:
        return logits
    top = logits.argmax(dim=0, keepdim=True)
    keep = top == torch.arange(logits.shape[0], device=logits.device)[:, None, None]
    return torch.where(keep, logits, logits.clamp(max=-10.0))


class SAM2Method(Method):
    def __init__(self, network: SAM2, memory: RecentWindowMemory, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                 compile_image_encoder: bool = False):
        super().__init__(device, dtype)
        self.network = network.to(self.device).eval().requires_grad_(False)
        onednn_linears(self.network)  # CPU float32: oneDNN's matmul, not MKL's (see fast_inference)
        if compile_image_encoder:  # build() allows it on CUDA only
            # as the official predictor's compile_image_encoder: the trunk and neck at
            # 1024 x 1024 have one shape, so one graph (untested here: no GPU)
            encoder = self.network.image_encoder
            encoder.forward = torch.compile(encoder.forward, mode="max-autotune", fullgraph=True, dynamic=False)
        self.template = memory
        self.info: VideoInfo | None = None
        self.record: FrameRecord | None = None

    def start(self, info: VideoInfo) -> None:
        self.info = info
        self.slots = ObjectSlots(info)
        self.groups: list[Group] = []
        self.template.num_frames = info.num_frames
        self.positions = self.network.positions(self.device)

    # --- one frame ---------------------------------------------------------------------
    @torch.inference_mode()
    def step(self, frame: np.ndarray, new_mask: np.ndarray | None, is_last: bool) -> torch.Tensor:
        if self.info is None:
            raise RuntimeError("start(info) must be called before step")
        index, new = self.slots.arrive(frame, new_mask)
        if self.slots.idle(new):
            return self.slots.background()
        with self.autocast():
            with self.clock.stage("encode"):
                image = normalise(to_tensor(resize_frame(frame), self.device))
                features = self.network.encode_image(image)
            outputs, spatial, pointers = [], [], []
            for group in self.groups:
                with self.clock.stage("read"):
                    memory, memory_pos, tokens, chosen = self._memory(group.memory, index)
                    spatial.append(chosen[0])
                    pointers.append(chosen[1])
                with self.clock.stage("decode"):
                    outputs.append(self.network.track(features, memory, memory_pos, tokens))
            if new:
                with self.clock.stage("decode"):
                    outputs.append(self._given(features, new_mask, new))
                first = len(self.slots.active)
                self.groups.append(Group(list(range(first, first + len(new))), self.template.empty(len(new))))
                self.slots.join(new)
                spatial.append([])
                pointers.append([])
            if not is_last:
                with self.clock.stage("memorize"):
                    for group, heads in zip(self.groups, outputs):
                        features_mem = self.network.encode_memory(features, heads.low_res.float(), heads.score.float())
                        flat = features_mem.flatten(2)
                        group.memory.write(index, flat, flat, heads.low_res.flatten(1))
                        group.memory.write_pointer(index, heads.pointer.float())
        heads = Heads(*(torch.cat([getattr(h, name) for h in outputs]) for name in Heads._fields))
        return self._output(heads, spatial, pointers)

    def _given(self, features, new_mask: np.ndarray, new: list[int]) -> Heads:
        masks = self.slots.given(new_mask, new, self.device)[:, None]  # [B, 1, H, W]
        masks = F.interpolate(masks, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True)
        return self.network.mask_as_output(features, (masks >= 0.5).float())

    def _memory(self, policy: RecentWindowMemory, index: int):
        """The memory tokens [B, M, 64] and their positions for frame ``index``, the
        spatial token count and the selection."""
        spatial, pointers = policy.spatial(index), policy.pointers(index)
        policy.note_attended(spatial, pointers)
        network = self.network
        _, memory_pos = self.positions
        tokens, positions = [], []
        for frame, slot in spatial:
            tokens.append(policy.entries[frame].keys.transpose(1, 2))
            positions.append(memory_pos + network.maskmem_tpos_enc[slot, 0])
        spatial_tokens = sum(t.shape[1] for t in tokens)
        if pointers:
            ptrs = torch.stack([policy.entries[f].pointer for f, _ in pointers], dim=1)  # [B, n, C]
            b, n, c = ptrs.shape
            split = c // network.memory_dim
            tokens.append(ptrs.reshape(b, n * split, network.memory_dim))
            pos = network.pointer_positions([d for _, d in pointers], policy.pointer_cap() - 1, self.device)
            positions.append(pos.repeat_interleave(split, dim=0)[None])
        b = tokens[0].shape[0]
        memory = torch.cat([t.to(torch.float32) for t in tokens], dim=1)
        memory_pos = torch.cat([p.expand(b, -1, -1) for p in positions], dim=1)
        return memory, memory_pos, spatial_tokens, (spatial, pointers)

    def _output(self, heads: Heads, spatial, pointers) -> torch.Tensor:
        h, w = self.info.height, self.info.width
        logits_raw = F.interpolate(heads.low_res.float(), size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        self.record = FrameRecord(heads, logits_raw, spatial, pointers)
        probs = torch.sigmoid(non_overlap(logits_raw))
        out = torch.cat([1 - probs.max(dim=0, keepdim=True).values, probs])
        return self.slots.scatter(out).cpu()

    # --- reporting -----------------------------------------------------------------------
    def memory(self) -> MemoryReport:
        per_slot = [0] * len(self.slots.active)
        matched = [0] * len(self.slots.active)
        tiers: dict[str, int] = {}
        nbytes = 0
        for group in self.groups:
            policy = group.memory
            for slot in group.slots:
                per_slot[slot] = policy.stored_features()[0]
                matched[slot] = policy.matched_features()[0]
            for name, value in policy.tiers().items():
                tiers[name] = tiers.get(name, 0) + value * len(group.slots)
            nbytes += policy.nbytes()
        return MemoryReport(self.slots.per_object(per_slot), nbytes, self.slots.per_object(matched), tiers or None)
