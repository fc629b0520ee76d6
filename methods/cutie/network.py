"""Cutie's evaluation network (Cheng, Oh, Price, Lee, Schwing, CVPR 2024), with the
official state-dict names, and the strict loader for its official checkpoints.

XMem's lineage: a pixel encoder (ResNet-18 in the small model, ResNet-50 in the base
one, told apart from the weights) whose stride-16 features give the key with XMem's
shrinkage and selection; a mask encoder (ResNet-18 on [image, mask, others]) giving the
per-object mask values and the deep update of a sensory memory. New: the pixel readout
is fused with the sensory memory and the previous mask (``pixel_fuser``), then refined
by an object transformer reading the object memory; the decoder projects its skips
first and aggregates the objects' logits before upsampling them.

The image is normalised inside the network (after zero padding, as the official code).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from methods.backbones.resnet import ResNet
from methods.checkpoint import load_checkpoint, load_state
from methods.cutie.blocks import FusionBlock
from methods.cutie.objects import ObjectSummarizer, ObjectTransformer
from methods.frames import IMAGENET_MEAN, IMAGENET_STD
from methods.stm_parts import KeyProjection, UpsampleBlock, aggregate_logits
from methods.xmem.network import HiddenGate, HiddenUpdater
from vosbench.errors import VosbenchError

# the trunk's stride-16, 8 and 4 widths
TRUNK_DIMS = {"resnet18": (256, 128, 64), "resnet50": (1024, 512, 256)}
BASE_ENTRY = "pixel_encoder.layer3.0.conv3.weight"  # Bottleneck blocks: the base model
TRAINING_ONLY = "aux_computer."  # auxiliary training heads every checkpoint carries


class CutieFeatures(NamedTuple):
    """A frame's features (batch 1): key terms and the pixel features at stride 16,
    the trunk's stride-8 and -4 features."""

    key: torch.Tensor  # [1, Ck, h, w]
    shrinkage: torch.Tensor  # [1, 1, h, w]
    selection: torch.Tensor  # [1, Ck, h, w]
    pix_feat: torch.Tensor  # [1, C, h, w]
    f8: torch.Tensor
    f4: torch.Tensor


def others(masks: torch.Tensor) -> torch.Tensor:
    """clamp(sum of the masks - own mask, 0, 1) [K, ...], as Cutie computes it."""
    return (masks.sum(dim=0, keepdim=True) - masks).clamp(0, 1)


class MaskEncoder(ResNet):
    """ResNet-18 on [normalised image, mask, others] to stride 16, fused with the
    frame's pixel features into a mask value per object; ``sensory_update`` is the deep
    update of the sensory memory. The official stem max-pools before its ReLU; the two
    commute, so the shared trunk's order gives the same numbers."""

    def __init__(self, pixel_dim: int, value_dim: int, sensory_dim: int):
        super().__init__("resnet18", ("layer1", "layer2", "layer3"), in_channels=5)
        self.fuser = FusionBlock(pixel_dim, self.channels[-1], value_dim)
        self.sensory_update = HiddenGate(value_dim, sensory_dim)

    def forward(self, image, pix_feat, masks, sensory, deep_update: bool):
        k = masks.shape[0]
        masks = masks.to(image.dtype)
        x = torch.cat([image.expand(k, -1, -1, -1), masks[:, None], others(masks)[:, None]], dim=1)
        values = self.fuser(pix_feat, super().forward(x)[-1])
        return values, (self.sensory_update(values.float(), sensory) if deep_update else None)


class PixelFuser(nn.Module):
    """The pixel readout plus a 1x1 projection of [sensory memory, previous mask,
    others' previous mask], fused with the frame's pixel features."""

    def __init__(self, pixel_dim: int, value_dim: int, sensory_dim: int, embed_dim: int):
        super().__init__()
        self.fuser = FusionBlock(pixel_dim, value_dim, embed_dim)
        self.sensory_compress = nn.Conv2d(sensory_dim + 2, value_dim, 1)

    def forward(self, pix_feat, readout, sensory, last_mask):
        extra = torch.cat([sensory.to(readout.dtype), last_mask[:, None], others(last_mask)[:, None]], dim=1)
        return self.fuser(pix_feat, readout + self.sensory_compress(extra.to(readout.dtype)))


class DecoderFeatureProcessor(nn.Module):
    def __init__(self, trunk_dims: tuple[int, int], up_dims: tuple[int, int]):
        super().__init__()
        self.transforms = nn.ModuleList(nn.Conv2d(d, u, 1) for d, u in zip(trunk_dims, up_dims))


class MaskDecoder(nn.Module):
    def __init__(self, trunk_dims: tuple[int, int, int], sensory_dim: int, up_dims: tuple[int, int, int] = (256, 128, 128)):
        super().__init__()
        self.sensory_update = HiddenUpdater(sensory_dim, (up_dims[0], up_dims[1], up_dims[2] + 1), sensory_dim)
        self.decoder_feat_proc = DecoderFeatureProcessor(trunk_dims[1:], up_dims[:2])
        self.up_16_8 = UpsampleBlock(None, up_dims[0], up_dims[1], skip_kernel=1)
        self.up_8_4 = UpsampleBlock(None, up_dims[1], up_dims[2], skip_kernel=1)
        self.pred = nn.Conv2d(up_dims[2], 1, 3, padding=1)

    def forward(self, features: CutieFeatures, readout, sensory, update: bool):
        """readout [K, C, h, w] -> (logits [K, 1, H/4, W/4], the updated sensory memory or None)."""
        f8, f4 = (t(f) for t, f in zip(self.decoder_feat_proc.transforms, (features.f8, features.f4)))
        p8 = self.up_16_8(f8, readout)
        p4 = self.up_8_4(f4, p8)
        logit = self.pred(F.relu(p4)).float()
        if not update:
            return logit, None
        return logit, self.sensory_update(readout.float(), p8.float(), torch.cat([p4.float(), logit], dim=1), sensory)


class Cutie(nn.Module):
    def __init__(self, arch: str = "resnet18", key_dim: int = 64, dim: int = 256, queries: int = 16, blocks: int = 3):
        super().__init__()
        trunk = TRUNK_DIMS[arch]
        self.arch = arch
        # pixel, value, sensory and embedding widths are all ``dim`` in both released models
        self.hidden_dim = self.sensory_dim = dim
        self.pixel_encoder = ResNet(arch, ("res2", "layer2", "layer3"))
        self.pix_feat_proj = nn.Conv2d(trunk[0], dim, 1)
        self.key_proj = KeyProjection(trunk[0], key_dim, terms=True, mid=dim)
        self.mask_encoder = MaskEncoder(dim, dim, dim)
        self.mask_decoder = MaskDecoder(trunk, dim)
        self.pixel_fuser = PixelFuser(dim, dim, dim, dim)
        self.object_transformer = ObjectTransformer(dim, queries, blocks)
        self.object_summarizer = ObjectSummarizer(dim, dim, queries)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.pixel_mean) / self.pixel_std

    def encode_key(self, image: torch.Tensor) -> CutieFeatures:
        """image: padded [1, 3, H, W] in [0, 1]."""
        _, f4, f8, f16 = self.pixel_encoder(self.normalise(image))
        return CutieFeatures(*self.key_proj.with_terms(f16), self.pix_feat_proj(f16), f8, f4)

    def encode_mask(self, image, features: CutieFeatures, masks, sensory, deep_update: bool = True):
        """Soft masks [K, H, W] of the frame -> (mask values [K, Cv, h, w], the
        deep-updated sensory memory or None, object summaries [K, Q, C + 1])."""
        values, sensory = self.mask_encoder(self.normalise(image), features.pix_feat, masks, sensory, deep_update)
        return values, sensory, self.object_summarizer(masks, values)

    def segment(self, features: CutieFeatures, readout, sensory, last_mask, summaries, update: bool):
        """Pixel readout [K, Cv, h, w], sensory memory [K, Cs, h, w], the previous
        frame's masks [K, h, w] and the object memory [K, Q, C + 1] -> (probabilities
        [K + 1, H, W], background first; the decoder-updated sensory memory or None)."""
        pixel = self.pixel_fuser(features.pix_feat, readout, sensory, last_mask)
        pixel = self.object_transformer(pixel, summaries)
        logit, sensory = self.mask_decoder(features, pixel, sensory, update)
        logits = aggregate_logits(torch.sigmoid(logit[:, 0]))[None]  # [1, K + 1, H/4, W/4]
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return torch.softmax(logits[0], dim=0), sensory


def widen_single_object(state: dict[str, torch.Tensor], sensory_dim: int) -> dict[str, torch.Tensor]:
    """A single-object checkpoint's mask-encoder conv1 (4 input channels) and sensory
    compression (sensory + 1) get the "others" channel appended, as zeros: the official
    loader draws it at random (orthogonal init), which would make a run depend on the
    seed; with zeros, one object gives exactly what the checkpoint computes."""
    widened = dict(state)
    for name, channels in (("mask_encoder.conv1.weight", 4), ("pixel_fuser.sensory_compress.weight", sensory_dim + 1)):
        weight = state.get(name)
        if weight is not None and weight.dim() == 4 and weight.shape[1] == channels:
            widened[name] = torch.cat([weight, torch.zeros_like(weight[:, :1])], dim=1)
    return widened


def load_cutie(path: str | os.PathLike) -> Cutie:
    """The network from an official Cutie checkpoint (a flat state dict as training
    saves it), strictly: every entry of the network must be in the file with its shape
    (the official loader's ``strict=False`` would keep random weights for a missing
    one); the training-only ``aux_computer.*`` entries are ignored."""
    state = load_checkpoint(path)
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith(TRAINING_ONLY)}
    if "key_proj.key_proj.weight" not in state:
        raise VosbenchError(
            f"{path}: not a Cutie checkpoint: it lacks key_proj.key_proj.weight. "
            "Give a released Cutie checkpoint (cutie-base-mega.pth, cutie-small-mega.pth, ...)"
        )
    arch = "resnet50" if BASE_ENTRY in state else "resnet18"
    network = Cutie(arch, key_dim=state["key_proj.key_proj.weight"].shape[0])
    load_state(network, widen_single_object(state, network.sensory_dim), path)
    return network.eval()
