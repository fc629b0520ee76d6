"""Run one method over a dataset into a run directory.

Layout of ``RUN_DIR``:
- ``manifest.json``: the command's settings (method, parameters, dataset, checkpoint);
- ``masks/``: predictions in the dataset's own submission layout (DAVIS palette PNGs
  ``masks/<sequence>/<frame>.png``, or YouTube-VOS ``masks/Annotations/<video>/``);
- ``probs/<sequence>.npz`` with ``--save-probs``: float32 [T, K + 1, H, W].

Each sequence's outputs are written into temporary places and moved in when complete;
a rerun skips the sequences already complete.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from vosbench import registry
from vosbench.atomic import atomic_file
from vosbench.data import Dataset
from vosbench.data.submission import sequence_folder, write_sequence
from vosbench.engine import frames_to_run, labels_of, segment
from vosbench.errors import VosbenchError
from vosbench.probs import write_probs

DTYPES = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class RunConfig:
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    save_probs: bool = False
    max_frames: int | None = None


def run_method(
    config: RunConfig,
    dataset: Dataset,
    out: str | Path,
    on_frame: Callable[[str, int, int], None] | None = None,
) -> list[str]:
    """Segment every sequence of ``dataset`` not yet complete in ``out``; returns those run.

    ``on_frame(sequence, index, count)`` is called after each frame (progress display).
    """
    out = Path(out)
    spec = registry.get(config.method)
    if config.dtype not in DTYPES:
        raise VosbenchError(f"unknown dtype {config.dtype!r}; known: {', '.join(DTYPES)}")
    resolved = spec.resolve(config.settings)
    method = spec.factory(resolved, checkpoint=config.checkpoint, device=config.device, dtype=DTYPES[config.dtype])
    manifest = {"run": asdict(config) | {"settings": resolved}, "dataset": type(dataset).__name__}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
    done = []
    for sequence in dataset.sequences:
        masks_dir = sequence_folder(out / "masks", sequence, dataset.prediction_layout)
        probs_path = out / "probs" / f"{sequence}.npz"
        if masks_dir.is_dir() and (probs_path.is_file() or not config.save_probs):
            continue
        video = dataset.video(sequence)
        count = frames_to_run(video, config.max_frames)
        shape = (count, len(video.info.objects) + 1, *video.info.size)
        with write_sequence(out / "masks", video, dataset.prediction_layout, frames=count) as sink:
            with _maybe_probs(probs_path if config.save_probs else None, shape) as probs:
                for index, prob in segment(method, video, config.max_frames):
                    sink.write(index, labels_of(prob).numpy())
                    if probs is not None:
                        probs.write(prob)
                    if on_frame is not None:
                        on_frame(sequence, index, count)
        done.append(sequence)
    return done


def _maybe_probs(path: Path | None, shape):
    return write_probs(path, shape) if path is not None else contextlib.nullcontext()
