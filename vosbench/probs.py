"""Soft probabilities saved as ``.npz`` without holding a whole video in memory.

The file holds one array ``prob``, float32 [T, K + 1, H, W] (background first), the
layout of the conformance cases' ``expected.npz``. Frames are streamed into the zip
member one at a time behind a ``.npy`` header written for the final shape; the file
appears only when every frame is in (``vosbench.atomic``).
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from vosbench.atomic import atomic_file
from vosbench.errors import VosbenchError


class ProbWriter:
    def __init__(self, stream, shape: tuple[int, int, int, int]) -> None:
        self._stream = stream
        self._frame_shape = shape[1:]
        self._left = shape[0]

    def write(self, prob: torch.Tensor | np.ndarray) -> None:
        array = prob.detach().cpu().numpy() if isinstance(prob, torch.Tensor) else np.asarray(prob)
        if array.shape != self._frame_shape:
            raise VosbenchError(f"probabilities of shape {array.shape}, expected {self._frame_shape}")
        if self._left == 0:
            raise VosbenchError("more frames written than the probability file was opened for")
        self._stream.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
        self._left -= 1


@contextlib.contextmanager
def write_probs(path: str | Path, shape: tuple[int, int, int, int]) -> Iterator[ProbWriter]:
    """``with write_probs(path, (T, K + 1, H, W)) as w: w.write(prob)`` T times."""
    with atomic_file(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("prob.npy", "w", force_zip64=True) as stream:
                header = {"descr": "<f4", "fortran_order": False, "shape": tuple(int(s) for s in shape)}
                np.lib.format.write_array_header_2_0(stream, header)
                writer = ProbWriter(stream, shape)
                yield writer
                if writer._left:
                    raise VosbenchError(f"{path}: {writer._left} frames missing from the probability file")
