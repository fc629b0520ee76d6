"""SAM 2's mask decoder: SAM's two-way transformer between the output tokens (object
score, IoU, four mask tokens) plus the prompt tokens and the image embedding, then an
upscaling path that adds the trunk's stride-8 and stride-4 features (projected once per
frame by ``conv_s1``/``conv_s0``), hypernetwork masks, IoU and object-score heads."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from methods.sam2.layers import Attention, LayerNorm2d, Mlp


class TwoWayBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, skip_first_pe: bool):
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, heads, dim // 2)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp([dim, mlp_dim, dim])
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, heads, dim // 2)
        self.skip_first_pe = skip_first_pe

    def forward(self, queries, keys, query_pe, key_pe):
        if self.skip_first_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, dim: int = 256, heads: int = 8, mlp_dim: int = 2048, depth: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(TwoWayBlock(dim, heads, mlp_dim, i == 0) for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, heads, dim // 2)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor, tokens: torch.Tensor):
        """image, image_pe [B, C, h, w], tokens [B, T, C] -> (tokens [B, T, C], image [B, hw, C])."""
        keys = image.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        queries = queries + self.final_attn_token_to_image(queries + tokens, keys + key_pe, keys)
        return self.norm_final_attn(queries), keys


class Decoded(NamedTuple):
    masks: torch.Tensor  # [B, 4, 4h, 4w] logits, mask token 0 (single) then 1..3 (multimask)
    iou: torch.Tensor  # [B, 4]
    tokens: torch.Tensor  # [B, 4, C] the mask tokens after the transformer
    object_score: torch.Tensor  # [B, 1] logit


class MaskDecoder(nn.Module):
    def __init__(self, dim: int = 256, num_masks: int = 4):
        super().__init__()
        self.transformer = TwoWayTransformer(dim)
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(num_masks, dim)
        self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, 2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, 2, stride=2),
            nn.GELU(),
        )
        self.conv_s0 = nn.Conv2d(dim, dim // 8, 1)
        self.conv_s1 = nn.Conv2d(dim, dim // 4, 1)
        self.output_hypernetworks_mlps = nn.ModuleList(Mlp([dim, dim, dim, dim // 8]) for _ in range(num_masks))
        self.iou_prediction_head = Mlp([dim, 256, 256, num_masks], sigmoid=True)
        self.pred_obj_score_head = Mlp([dim, dim, dim, 1])

    def forward(self, image, image_pe, sparse, dense, feat_s0, feat_s1) -> Decoded:
        """image [B, C, h, w] (one per prompt), image_pe [1, C, h, w], sparse [B, T, C],
        dense [B, C, h, w], feat_s0 [B, C/8, 4h, 4w], feat_s1 [B, C/4, 2h, 2w]."""
        b, c, h, w = image.shape
        out = torch.cat([self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight])
        tokens = torch.cat([out[None].expand(b, -1, -1), sparse], dim=1)
        hs, src = self.transformer(image + dense, image_pe.expand(b, -1, -1, -1), tokens)
        n = self.mask_tokens.num_embeddings
        mask_tokens = hs[:, 2 : 2 + n]
        src = src.transpose(1, 2).reshape(b, c, h, w)
        up1, norm, act1, up2, act2 = self.output_upscaling
        upscaled = act1(norm(up1(src) + feat_s1))
        upscaled = act2(up2(upscaled) + feat_s0)
        hyper = torch.stack([mlp(mask_tokens[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1)
        bu, cu, hu, wu = upscaled.shape
        masks = (hyper @ upscaled.view(bu, cu, hu * wu)).view(bu, -1, hu, wu)
        return Decoded(masks, self.iou_prediction_head(hs[:, 1]), mask_tokens, self.pred_obj_score_head(hs[:, 0]))
