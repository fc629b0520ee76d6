"""SAM 2.1's video network (Ravi et al., "SAM 2: Segment Anything in Images and Videos",
2024) with the official state-dict names, and the strict loader for its released
checkpoints (``{"model": state_dict}``). The four sizes share everything but the Hiera
trunk, told apart from the weights: its width from the patch embedding, its depth from
the blocks; the stage layout and global-attention blocks are the official configs'.

What a tracked frame computes, per object (objects only share the frame's features):
memory attention of the frame's stride-16 tokens to the selected memory, SAM's mask
decoder on the result (no clicks, three candidate masks, the one of highest predicted
IoU kept), an object pointer from the chosen mask token, and the frame's memory from its
mask. A frame whose mask is given skips SAM: its logits are the mask at +-10, its
pointer comes from the decoder prompted with the mask.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from methods.checkpoint import load_checkpoint, load_state
from methods.sam2.hiera import LAYOUTS, Hiera, HieraLayout
from methods.sam2.layers import Mlp
from methods.sam2.mask_decoder import MaskDecoder
from methods.sam2.memory_attention import MemoryAttention
from methods.sam2.memory_encoder import MemoryEncoder
from methods.sam2.neck import FpnNeck, ImageEncoder, sine_1d, sine_position
from methods.sam2.prompt_encoder import PromptEncoder
from vosbench.errors import VosbenchError

IMAGE_SIZE = 1024
GRID = IMAGE_SIZE // 16
NO_OBJECT = -1024.0  # the logits of every candidate mask when the object score says "absent"


class FrameFeatures(NamedTuple):
    """One frame's image features (batch 1)."""

    vision: torch.Tensor  # [1, 256, 64, 64] stride-16 FPN level
    feat_s0: torch.Tensor  # [1, 32, 256, 256] the decoder's stride-4 features
    feat_s1: torch.Tensor  # [1, 64, 128, 128] the decoder's stride-8 features


class Heads(NamedTuple):
    """SAM's outputs for a batch of objects on one frame."""

    low_res: torch.Tensor  # [B, 1, 256, 256] chosen mask logits
    pointer: torch.Tensor  # [B, 256]
    score: torch.Tensor  # [B, 1] object score logit
    iou: torch.Tensor  # [B, 3] multimask IoUs (zeros on a single-mask call)
    best: torch.Tensor  # [B] chosen multimask output (-1 on a single-mask call)


class SAM2(nn.Module):
    def __init__(self, layout: HieraLayout, dim: int = 256, memory_dim: int = 64, num_maskmem: int = 7):
        super().__init__()
        self.dim, self.memory_dim = dim, memory_dim
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(num_maskmem, 1, 1, memory_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, dim))
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, dim))
        self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, memory_dim))
        trunk = Hiera(layout)
        self.image_encoder = ImageEncoder(trunk, FpnNeck(trunk.channels, dim))
        self.mask_downsample = nn.Conv2d(1, 1, 4, stride=4)
        self.memory_attention = MemoryAttention(dim, memory_dim)
        self.memory_encoder = MemoryEncoder(dim, memory_dim)
        self.sam_prompt_encoder = PromptEncoder(dim, GRID)
        self.sam_mask_decoder = MaskDecoder(dim)
        self.obj_ptr_proj = Mlp([dim, dim, dim, dim])
        self.obj_ptr_tpos_proj = nn.Linear(dim, memory_dim)

    @property
    def num_maskmem(self) -> int:
        return self.maskmem_tpos_enc.shape[0]

    # --- per frame ----------------------------------------------------------------
    def encode_image(self, image: torch.Tensor) -> FrameFeatures:
        """Normalised image [1, 3, 1024, 1024] -> its features."""
        decoder = self.sam_mask_decoder
        feat_s0, feat_s1, s16 = self.image_encoder(image, (decoder.conv_s0, decoder.conv_s1))
        return FrameFeatures(s16, feat_s0, feat_s1)

    def positions(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Sine encodings [1, 4096, 256] of the image tokens and [1, 4096, 64] of the memory tokens."""
        return (
            sine_position(self.dim, GRID, GRID, device).flatten(1).T[None],
            sine_position(self.memory_dim, GRID, GRID, device).flatten(1).T[None],
        )

    def heads(self, image: torch.Tensor, features: FrameFeatures, mask_prompt: torch.Tensor | None, multimask: bool) -> Heads:
        """SAM's prompt encoder and mask decoder on image embeddings [B, 256, 64, 64]."""
        b = image.shape[0]
        sparse, dense = self.sam_prompt_encoder(b, mask_prompt)
        expand = (b, -1, -1, -1)
        decoded = self.sam_mask_decoder(
            image, self.sam_prompt_encoder.dense_position(), sparse, dense,
            features.feat_s0.expand(*expand), features.feat_s1.expand(*expand),
        )
        present = decoded.object_score > 0
        masks = torch.where(present[:, :, None, None], decoded.masks, NO_OBJECT)
        if multimask:
            iou = decoded.iou[:, 1:]
            best = iou.argmax(dim=-1)
            rows = torch.arange(b, device=image.device)
            low_res, token = masks[rows, best + 1][:, None], decoded.tokens[rows, best + 1]
        else:
            iou, best = decoded.iou.new_zeros(b, 3), torch.full((b,), -1, device=image.device)
            low_res, token = masks[:, :1], decoded.tokens[:, 0]
        pointer = self.gate_pointer(self.obj_ptr_proj(token), present)
        return Heads(low_res, pointer, decoded.object_score, iou, best)

    def gate_pointer(self, pointer: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        present = present.float()
        return present * pointer + (1 - present) * self.no_obj_ptr

    def mask_as_output(self, features: FrameFeatures, masks: torch.Tensor) -> Heads:
        """Given binary masks [B, 1, 1024, 1024]: logits +-10 downsampled to 256 (antialiased),
        the pointer of SAM prompted with the mask on the raw features."""
        high = masks * 20.0 - 10.0
        low_res = F.interpolate(high, size=(IMAGE_SIZE // 4, IMAGE_SIZE // 4), mode="bilinear", align_corners=False, antialias=True)
        b = masks.shape[0]
        pointer = self.heads(features.vision.expand(b, -1, -1, -1), features, self.mask_downsample(masks), False).pointer
        present = masks.flatten(1).gt(0).any(dim=1, keepdim=True)
        score = present.float() * 20.0 - 10.0
        return Heads(low_res, self.gate_pointer(pointer, present), score, low_res.new_zeros(b, 3), torch.full((b,), -1))

    def track(self, features: FrameFeatures, memory: torch.Tensor, memory_pos: torch.Tensor, spatial_tokens: int) -> Heads:
        """Memory [B, M, 64] (spatial tokens first, then pointer tokens) and its positions ->
        SAM's multimask outputs on the memory-conditioned features."""
        b = memory.shape[0]
        current = features.vision.flatten(2).transpose(1, 2)
        image_pos, _ = self.positions(memory.device)
        conditioned = self.memory_attention(current, image_pos, memory, memory_pos, spatial_tokens, GRID)
        image = conditioned.transpose(1, 2).reshape(b, self.dim, GRID, GRID)
        return self.heads(image, features, None, True)

    def encode_memory(self, features: FrameFeatures, low_res: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        """A frame's memory [B, 64, 64, 64] in bfloat16 (as the official predictor stores it)
        from its chosen low-res logits [B, 1, 256, 256] and object scores [B, 1]."""
        high = F.interpolate(low_res, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
        mask = torch.sigmoid(high) * 20.0 - 10.0
        b = low_res.shape[0]
        memory = self.memory_encoder(features.vision.expand(b, -1, -1, -1), mask)
        absent = (score <= 0).float()[:, :, None, None]
        memory = memory + absent * self.no_obj_embed_spatial[..., None, None]
        return memory.to(torch.bfloat16)

    def pointer_positions(self, positions: list[int], normaliser: int, device: torch.device) -> torch.Tensor:
        """Temporal encodings [n, 64] of object pointers at signed frame distances ``positions``."""
        t = torch.tensor(positions, dtype=torch.float32, device=device) / max(normaliser, 1)
        return self.obj_ptr_tpos_proj(sine_1d(t, self.dim))


SIZES = {(96, 12): "tiny", (96, 16): "small", (112, 24): "base_plus", (144, 48): "large"}
PATCH_ENTRY = "image_encoder.trunk.patch_embed.proj.weight"


def size_from_state(state: dict[str, torch.Tensor], path: os.PathLike | str) -> str:
    """The released size a state dict holds: trunk width and depth."""
    if PATCH_ENTRY not in state:
        raise VosbenchError(
            f"{path}: not a SAM 2 checkpoint: it lacks {PATCH_ENTRY}. Give a released SAM 2.1 checkpoint "
            "(sam2.1_hiera_tiny.pt, sam2.1_hiera_small.pt, sam2.1_hiera_base_plus.pt, sam2.1_hiera_large.pt)"
        )
    width = state[PATCH_ENTRY].shape[0]
    prefix = "image_encoder.trunk.blocks."
    depth = len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})
    size = SIZES.get((width, depth))
    if size is None:
        known = ", ".join(f"{name} (width {w}, {d} blocks)" for (w, d), name in SIZES.items())
        raise VosbenchError(f"{path}: a Hiera trunk of width {width} with {depth} blocks is no released SAM 2 size; known: {known}")
    return size


def load_sam2(path: str | os.PathLike) -> SAM2:
    """The network from a released SAM 2.1 checkpoint, strictly (any missing,
    unexpected or mis-shaped entry is one error line naming it)."""
    state = load_checkpoint(path)
    size = size_from_state(state, path)
    network = SAM2(LAYOUTS[size])
    network.size = size
    load_state(network, state, path)
    return network.eval()
