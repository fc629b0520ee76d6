"""Qualitative strips: a few frames of a sequence with each method's mask overlaid.

A strip is one mosaic image per sequence: a row per method (the ground truth first,
when the dataset has it), a column per chosen frame (evenly spaced, the first and last
included). Each mask is filled with its method's colour and every object is outlined
in its DAVIS palette colour, so objects stay apart. Frames are reread from the dataset
the run's manifest names; when it is gone the strips are absent, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import to_rgb
from PIL import Image

from vosbench.data import Dataset, open_dataset
from vosbench.errors import VosbenchError
from vosbench.masks import DAVIS_PALETTE, read_mask
from vosbench.report.inputs import Inputs, RunInput, dataset_name

GROUND_TRUTH = "ground truth"
GAP = 4  # white pixels between tiles
FILL = 0.5  # opacity of a mask's fill colour


@dataclass(frozen=True)
class Strip:
    """One sequence's mosaic and what its rows and columns are."""

    dataset: str
    sequence: str
    mosaic: np.ndarray  # uint8 [H, W, 3]
    rows: list[str]  # method labels (and GROUND_TRUTH), top to bottom
    columns: list[int]  # frame indices, left to right
    row_centres: list[float] = field(default_factory=list)
    column_centres: list[float] = field(default_factory=list)


def choose_frames(count: int, per_sequence: int) -> list[int]:
    """``per_sequence`` frame indices evenly spread over ``count`` frames, first and last included."""
    if count <= 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, min(per_sequence, count))})


def open_frames(manifest: dict[str, Any]) -> Dataset:
    """The dataset a run segmented, reopened from its manifest; ``VosbenchError`` when gone."""
    info = manifest.get("dataset") or {}
    root = info.get("root")
    if not root or not Path(root).is_dir():
        raise VosbenchError(f"the run's dataset folder {root} is gone")
    kind = info.get("class")
    sequences = manifest.get("sequences")
    if kind in ("DavisDataset", "YouTubeDataset"):
        name, _, split = str(info.get("name", "")).partition("-")
        return open_dataset(name, root, split or None, sequences=sequences)
    if kind == "FolderDataset":
        mask = _recorded_option(manifest, "--mask")
        if mask is None or not Path(mask).is_file():
            raise VosbenchError(f"the first-frame mask of the folder {root} is not where the run's command says ({mask})")
        return open_dataset("frames", root, mask=mask)
    raise VosbenchError(f"the run's dataset kind {kind!r} cannot be reopened")


def _recorded_option(manifest: dict[str, Any], option: str) -> str | None:
    """The value of ``option`` in the run's latest command line that gave it."""
    for session in reversed(manifest.get("sessions") or []):
        words = list(session.get("command") or [])
        for i, word in enumerate(words):
            if word == option and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(option + "="):
                return word.split("=", 1)[1]
    return None


def thumbnail(image: np.ndarray, width: int, nearest: bool = False) -> np.ndarray:
    """``image`` scaled to ``width`` pixels wide, keeping its aspect."""
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(image).resize((width, height), resample))


def outline(ids: np.ndarray) -> np.ndarray:
    """Two-pixel outlines of every object: the object id on its outline, 0 elsewhere."""
    h, w = ids.shape
    padded = np.pad(ids, 1, mode="edge")
    neighbours = [padded[dy : dy + h, dx : dx + w] for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2))]
    inner = np.zeros_like(ids)
    for other in neighbours:
        inner = np.where((ids != other) & (ids > 0), ids, inner)
    # one more pixel outwards, so the line shows on a small thumbnail
    padded = np.pad(inner, 1)
    lines = inner.copy()
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        lines = np.where(lines == 0, padded[dy : dy + h, dx : dx + w], lines)
    return lines


def overlay(frame: np.ndarray, ids: np.ndarray | None, colour: str) -> np.ndarray:
    """``frame`` with the mask ``ids`` filled in ``colour`` and each object outlined."""
    if ids is None:
        return (frame * 0.35).astype(np.uint8)  # no mask for this frame: dimmed
    out = frame.astype(np.float32)
    fill = np.asarray(to_rgb(colour), dtype=np.float32) * 255
    inside = ids > 0
    out[inside] = out[inside] * (1 - FILL) + fill * FILL
    lines = outline(ids)
    out[lines > 0] = DAVIS_PALETTE[lines[lines > 0]]
    return out.round().astype(np.uint8)


def mosaic(tiles: list[list[np.ndarray]]) -> tuple[np.ndarray, list[float], list[float]]:
    """Tiles of one size in rows and columns with white gaps; the row and column centres."""
    h, w = tiles[0][0].shape[:2]
    rows, cols = len(tiles), len(tiles[0])
    image = np.full((rows * h + (rows - 1) * GAP, cols * w + (cols - 1) * GAP, 3), 255, dtype=np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            image[r * (h + GAP) : r * (h + GAP) + h, c * (w + GAP) : c * (w + GAP) + w] = tile
    return image, [r * (h + GAP) + h / 2 for r in range(rows)], [c * (w + GAP) + w / 2 for c in range(cols)]


@dataclass(frozen=True)
class Strips:
    strips: list[Strip]
    notes: list[str]  # which sequences are shown, rows left out
    absent: list[str]  # datasets whose frames could not be reread, and why


def load_strips(
    inputs: Inputs, colours: dict[str, str], max_sequences: int = 6, per_sequence: int = 4, width: int = 200
) -> Strips:
    """Strips of the first ``max_sequences`` sequences, and sentences on what is left out."""
    strips: list[Strip] = []
    notes: list[str] = []
    absent: list[str] = []
    for runs in _by_dataset(inputs.runs):
        manifest = runs[0].manifest
        name = dataset_name(manifest.get("dataset"))
        try:
            dataset = open_frames(manifest)
        except VosbenchError as error:
            absent.append(f"Qualitative strips of {name} ({', '.join(r.name for r in runs)}): not drawn, {error}.")
            continue
        sequences = list(dict.fromkeys(s for r in runs for s in r.run.frames["sequence"]))
        room = max_sequences - len(strips)
        shown = [s for s in sequences if s in dataset.sequences][: max(room, 0)]
        if len(shown) < len(sequences):
            notes.append(
                f"Qualitative strips of {name}: {len(shown)} of {len(sequences)} sequences shown "
                f"({', '.join(shown) or 'none'})."
            )
        for sequence in shown:
            strip = _strip(dataset, sequence, runs, colours, per_sequence, width, notes)
            if strip is not None:
                strips.append(strip)
    return Strips(strips, notes, absent)


def _by_dataset(runs: tuple[RunInput, ...]) -> list[list[RunInput]]:
    """Runs grouped by the dataset they segmented (name and root), in run order."""
    groups: dict[tuple[str, str], list[RunInput]] = {}
    for run in runs:
        info = run.manifest.get("dataset") or {}
        groups.setdefault((str(info.get("name")), str(info.get("root"))), []).append(run)
    return list(groups.values())


def _strip(
    dataset: Dataset, sequence: str, runs: list[RunInput], colours: dict[str, str], per_sequence: int, width: int,
    notes: list[str],
) -> Strip | None:
    video = dataset.video(sequence)
    records = [r.run.frames[r.run.frames["sequence"] == sequence] for r in runs]
    names = list(dict.fromkeys(n for table in records for n in table.sort_values("frame")["frame_name"]))
    written = set(video.frame_names[i] for i in video.output_frames)
    names = [n for n in names if n in written]
    chosen = [names[i] for i in choose_frames(len(names), per_sequence)]
    if not chosen:
        notes.append(f"Qualitative strip of {sequence}: no frame with written masks.")
        return None
    indices = [video.frame_names.index(n) for n in chosen]
    frames = [video.frame(i) for i in indices]
    size = frames[0].shape[:2]
    rows: list[str] = []
    tiles: list[list[np.ndarray]] = []
    if all(i in video.gt_frames for i in indices):
        rows.append(GROUND_TRUTH)
        tiles.append([_tile(f, video.gt_mask(i), "#ffffff", width) for f, i in zip(frames, indices)])
    for run in runs:
        for own, label in run.labels.items():
            if not (run.run.frames[(run.run.frames["method"] == own) & (run.run.frames["sequence"] == sequence)]).size:
                continue
            folder = run.run.masks_dir(own, sequence)
            masks = [_read(folder / f"{n}.png") for n in chosen]
            if any(m is not None and m.shape != size for m in masks):
                notes.append(f"Qualitative strip of {sequence}: {label}'s masks are not the frames' size; row left out.")
                continue
            rows.append(label)
            tiles.append([_tile(f, m, colours.get(label, "#555555"), width) for f, m in zip(frames, masks)])
    image, row_centres, column_centres = mosaic(tiles)
    name = getattr(dataset, "name", "?")
    return Strip(name, sequence, image, rows, indices, row_centres, column_centres)


def _read(path: Path) -> np.ndarray | None:
    return read_mask(path) if path.is_file() else None


def _tile(frame: np.ndarray, ids: np.ndarray | None, colour: str, width: int) -> np.ndarray:
    small = thumbnail(frame, width)
    mask = None if ids is None else thumbnail(ids, width, nearest=True)
    return overlay(small, mask, colour)

