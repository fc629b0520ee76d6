"""Frame tensors: conversion, normalisation, padding and its crop, sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.frames import crop, normalise, pad_to_multiple, parse_size, resize, short_side_size, to_tensor
from vosbench.errors import VosbenchError


def test_to_tensor_and_normalise_match_torchvision_arithmetic():
    frame = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    frame.setflags(write=False)  # frames from a decoder may be read-only
    x = to_tensor(frame)
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32
    assert x[0, 1, 1, 2].item() == np.float32(frame[1, 2, 1]) / np.float32(255)
    y = normalise(x)
    expected = (np.float32(frame[0, 0, 2]) / np.float32(255) - np.float32(0.406)) / np.float32(0.225)
    assert y[0, 2, 0, 0].item() == expected
    with pytest.raises(VosbenchError, match="RGB uint8"):
        to_tensor(frame[..., 0])


@pytest.mark.parametrize("h, w", [(200, 360), (224, 400), (1, 17), (31, 33)])
def test_pad_splits_extra_like_stm_and_crop_undoes_it(h, w):
    x = torch.rand(2, h, w)
    padded, box = pad_to_multiple(x, 16, value=-1.0)
    ph, pw = padded.shape[-2:]
    assert ph % 16 == 0 and pw % 16 == 0 and ph - h < 16 and pw - w < 16
    top, left = (ph - h) // 2, (pw - w) // 2
    assert box == (top, top + h, left, left + w)
    torch.testing.assert_close(crop(padded, box), x, rtol=0, atol=0)
    border = torch.ones(ph, pw, dtype=torch.bool)
    border[top : top + h, left : left + w] = False
    assert torch.all(padded[:, border] == -1.0)


def test_blackswan_padding_is_4_on_each_side():
    _, box = pad_to_multiple(torch.zeros(1, 3, 200, 360))
    assert box == (4, 204, 4, 364)


def test_sizes():
    assert short_side_size(720, 1280, 480) == (480, 853)  # torchvision truncates the long side
    assert short_side_size(1280, 720, 480) == (853, 480)
    assert parse_size("480x864") == (480, 864) == parse_size([480, 864]) == parse_size("480,864")
    assert parse_size(None) is None and parse_size("none") is None and parse_size(" None") is None
    for bad in ("480", "axb", (0, 5), 7):
        with pytest.raises(VosbenchError, match="HEIGHTxWIDTH"):
            parse_size(bad)


def test_resize_is_identity_at_the_same_size_and_nearest_picks_floor():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert resize(x, (4, 4), "bicubic") is x
    torch.testing.assert_close(resize(x, (2, 2), "nearest"), x[:, :, ::2, ::2])
