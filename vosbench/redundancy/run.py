"""``vosbench redundancy``: every analysis over a dataset, into an output folder.

Layout of ``OUT_DIR``:
- ``manifest.json``: method, checkpoint, method settings, analysis settings, dataset,
  frame limit, and per sequence the key grid, positions, channels and stride;
- ``histograms.parquet`` / ``.csv``: sequence, frame, analysis, bin_lo, bin_hi, count
  (bins with no count left out);
- ``frames.parquet`` / ``.csv``: per frame, SwiftNet's variation, the periodic bank's
  redundancy, that of XMem's long-term memory and that of the method's object memory;
- ``sequences.csv``: per sequence, frames, grid, positions, channels, objects, and
  whether the mask analyses ran (and why not);
- ``summary.csv`` / ``.parquet``: the headline fractions per sequence and overall;
- ``features/<sequence>.npy`` with ``--save-features``: the raw key features used,
  float32 [T, N, C];
- ``figures/``: the paper-style figures (PNG and PDF);
- ``parts/<sequence>/``: each sequence's tables, moved in when it is complete, so a
  rerun skips finished sequences; the combined tables are rebuilt from them.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch

from methods.base import Method
from vosbench import registry
from vosbench.atomic import atomic_dir, atomic_file
from vosbench.data import Dataset, Video
from vosbench.engine import frames_to_run
from vosbench.errors import VosbenchError
from vosbench.redundancy.analysis import ANALYSES, Frame, Result, Settings, analyse
from vosbench.redundancy.grid import grid_colour, grid_masks
from vosbench.redundancy.summary import summarise


@dataclass
class RedundancyConfig:
    features: str  # the registered method whose key features are analysed
    checkpoint: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the method's parameters
    device: str = "cpu"
    analysis: Settings = field(default_factory=Settings)
    max_frames: int | None = None
    save_features: bool = False


@dataclass
class Tables:
    histograms: pd.DataFrame
    frames: pd.DataFrame
    sequences: pd.DataFrame
    summary: pd.DataFrame


def run_redundancy(
    config: RedundancyConfig,
    dataset: Dataset,
    out: str | Path,
    on_frame: Callable[[str, int, int], None] | None = None,
    figures: bool = True,
) -> Tables:
    """Analyse every sequence of ``dataset`` not yet complete in ``out``; returns the combined tables.

    ``on_frame(sequence, index, count)`` is called after each frame (progress display).
    """
    out = Path(out)
    spec = registry.get(config.features)
    resolved = spec.resolve(config.settings, dataset.family)
    method = spec.factory(resolved, checkpoint=config.checkpoint, device=config.device)
    manifest = {
        "features": config.features,
        "checkpoint": config.checkpoint,
        "training_free": config.checkpoint is None,
        "settings": resolved,
        "analysis": asdict(config.analysis),
        "dataset": {
            "kind": type(dataset).__name__,
            "name": getattr(dataset, "name", None),
            "root": str(Path(getattr(dataset, "root", "")).resolve()),
            "synthetic": getattr(dataset, "synthetic", False),
        },
        "max_frames": config.max_frames,
    }
    _claim(out, manifest)
    for sequence in dataset.sequences:
        part = out / "parts" / sequence
        features_path = out / "features" / f"{sequence}.npy"
        if (part / "sequence.json").is_file() and (features_path.is_file() or not config.save_features):
            continue
        video = dataset.video(sequence)
        with atomic_dir(part) as tmp:
            with _maybe_file(features_path if config.save_features else None) as features_tmp:
                result, info = _analyse_video(method, video, config, features_tmp, on_frame)
            result.histograms.insert(0, "sequence", sequence)
            result.frames.insert(0, "sequence", sequence)
            result.histograms.to_parquet(tmp / "histograms.parquet", index=False)
            result.frames.to_parquet(tmp / "frames.parquet", index=False)
            (tmp / "sequence.json").write_text(json.dumps(info, indent=2))
    tables = combine(out, dataset.sequences)
    manifest["sequences"] = tables.sequences.set_index("sequence").to_dict(orient="index")
    _write_json(out / "manifest.json", manifest)
    _write_table(out / "histograms", tables.histograms)
    _write_table(out / "frames", tables.frames)
    _write_table(out / "summary", tables.summary)
    with atomic_file(out / "sequences.csv") as tmp:
        tables.sequences.to_csv(tmp, index=False)
    if figures:
        from vosbench.redundancy.figures import write_figures

        write_figures(out / "figures", tables.histograms, tables.frames, config.analysis.p_th)
    return tables


def combine(out: Path, sequences: list[str]) -> Tables:
    """The tables of the finished sequences (in dataset order), and their summary."""
    parts = [out / "parts" / s for s in sequences if (out / "parts" / s / "sequence.json").is_file()]
    if not parts:
        raise VosbenchError(f"{out}: no finished sequence to combine")
    histograms = pd.concat([pd.read_parquet(p / "histograms.parquet") for p in parts], ignore_index=True)
    histograms["sequence"] = pd.Categorical(histograms["sequence"], categories=[p.name for p in parts])
    histograms["analysis"] = pd.Categorical(histograms["analysis"].astype(str), categories=ANALYSES)
    frames = pd.concat([pd.read_parquet(p / "frames.parquet") for p in parts], ignore_index=True)
    info = pd.DataFrame([json.loads((p / "sequence.json").read_text()) for p in parts])
    return Tables(histograms, frames, info, summarise(histograms))


class _FrameSource:
    """A video's frames as the analyses see them, read lazily.

    It remembers the key grid of the first frame (every later one must match) and, given
    a path, writes each frame's features into a float32 [T, N, C] .npy as it goes.
    """

    def __init__(self, method: Method, video: Video, count: int, with_masks: bool, features_path: Path | None):
        self.method, self.video, self.count = method, video, count
        self.with_masks = with_masks
        self.features_path = features_path
        self.grid: tuple[int, int] | None = None
        self.channels = 0
        self._saved: np.ndarray | None = None

    def __iter__(self) -> Iterator[Frame]:
        info = self.video.info
        for index in range(self.count):
            image = self.video.frame(index)
            keys = self.method.key_features(image)  # [C, h, w]
            features = keys.flatten(1).T.contiguous().numpy()
            self._check_grid(index, tuple(keys.shape[-2:]), features)
            if self._saved is not None:
                self._saved[index] = features
            colour = masks = summaries = None
            if self.with_masks:
                labels = info.objects.to_contiguous(self.video.gt_mask(index))
                if labels.shape != image.shape[:2]:
                    raise VosbenchError(
                        f"{info.name} frame {index}: ground truth is {labels.shape[1]}x{labels.shape[0]}, the frame "
                        f"{image.shape[1]}x{image.shape[0]}; give annotations of the frames' size"
                    )
                colour = grid_colour(image, self.grid)
                masks = grid_masks(labels, len(info.objects), self.grid)
                ids = torch.arange(1, len(info.objects) + 1)[:, None, None]
                given = self.method.object_summaries(image, (torch.from_numpy(labels)[None] == ids).float())
                summaries = None if given is None else given.numpy()
            yield Frame(features, colour, masks, summaries)

    def _check_grid(self, index: int, grid: tuple[int, int], features: np.ndarray) -> None:
        if self.grid is None:
            self.grid, self.channels = grid, features.shape[1]
            if self.features_path is not None:
                self._saved = np.lib.format.open_memmap(
                    self.features_path, mode="w+", dtype=np.float32, shape=(self.count, *features.shape)
                )
        elif grid != self.grid:
            raise VosbenchError(f"{self.video.info.name} frame {index}: key grid {grid} differs from the first frame's {self.grid}")

    def close(self) -> None:
        if self._saved is not None:
            self._saved.flush()
            self._saved = None


def _analyse_video(
    method: Method,
    video: Video,
    config: RedundancyConfig,
    features_path: Path | None,
    on_frame: Callable[[str, int, int], None] | None,
) -> tuple[Result, dict[str, Any]]:
    """One sequence's analyses, and its row of the sequences table."""
    info = video.info
    count = frames_to_run(video, config.max_frames)
    have_gt = set(video.gt_frames)
    missing_gt = [i for i in range(count) if i not in have_gt]
    with_masks = not missing_gt and len(info.objects) > 0
    if with_masks:
        note = ""
    elif not len(info.objects):
        note = "no objects: matching and variation skipped"
    else:
        note = (
            f"ground truth on {count - len(missing_gt)} of {count} frames: matching and variation need every "
            "frame's masks and were skipped"
        )
    source = _FrameSource(method, video, count, with_masks, features_path)

    def frames() -> Iterator[Frame]:
        for index, frame in enumerate(source):
            yield frame
            if on_frame is not None:
                on_frame(info.name, index, count)

    result = analyse(frames(), count, len(info.objects), config.analysis)
    source.close()
    h, w = source.grid
    row = {
        "sequence": info.name,
        "frames": count,
        "height": info.height,
        "width": info.width,
        "grid_h": h,
        "grid_w": w,
        "positions": h * w,
        "channels": source.channels,
        "stride": round(max(info.height / h, info.width / w), 3),
        "objects": len(info.objects),
        "masks": with_masks,
        "note": note,
    }
    return result, row


def _claim(out: Path, manifest: dict) -> None:
    """Make ``out`` this run's folder; one that holds a run with other settings raises."""
    path = out / "manifest.json"
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except ValueError:
            raise VosbenchError(f"{path}: not valid JSON; delete the folder or give another --out") from None
        before.pop("sequences", None)
        if json.loads(json.dumps(manifest, default=str)) != before:
            changed = sorted(k for k in manifest if json.loads(json.dumps(manifest[k], default=str)) != before.get(k))
            raise VosbenchError(
                f"{out}: holds a redundancy run with other {', '.join(changed)}; give another --out or delete it to start over"
            )
    elif out.exists() and any(out.iterdir()):
        raise VosbenchError(f"{out}: exists and is not a redundancy run's folder; give a new or empty --out")
    _write_json(path, manifest)


def _write_json(path: Path, data: dict) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str))


def _write_table(stem: Path, table: pd.DataFrame) -> None:
    with atomic_file(stem.with_suffix(".parquet")) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_file(stem.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)


def _maybe_file(path: Path | None):
    return atomic_file(path) if path is not None else contextlib.nullcontext()
