"""The run directory: where each output lies, the manifest, and committing a sequence.

Layout of ``RUN_DIR`` (one method; with several, ``masks/`` and ``probs/`` hold a folder
per method label, and the manifest's ``layout`` says which):

- ``manifest.json``: the settings that decide the outputs (``config``), the dataset, the
  planned sequences and one entry per invocation (command, environment, telemetry);
- ``masks/``: predictions in the dataset's own submission layout (``masks/<sequence>/``
  for DAVIS; ``masks/Annotations/<video>/`` for YouTube-VOS, plus ``masks.zip``);
- ``probs/<sequence>.npz`` with ``--save-probs``;
- ``parts/<label>/<sequence>/``: that sequence's per-frame records (``frames.parquet``)
  and per-object scores (``objects.parquet``);
- ``frames.parquet``, ``objects.parquet``, ``sequences.parquet``, ``summary.csv``:
  rebuilt from the parts when a run ends.

A sequence is produced in ``.staging/`` and moved in: masks, then probabilities, then
its part, whose arrival is what marks the sequence done. A kill at any moment leaves
finished sequences intact and unfinished ones without a part, to be redone. Each staged
sequence names the process making it (``worker.json``: host, pid), so a stuck or dead
worker can be found. Only the process holding the lock clears ``.staging/``; tasks it
runs elsewhere may stage and commit distinct sequences meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from vosbench.atomic import atomic_file
from vosbench.data.submission import sequence_folder
from vosbench.errors import VosbenchError

MANIFEST = "manifest.json"
STAGING = ".staging"
LOCK = ".lock"
WORKER = "worker.json"
FRAMES_PART = "frames.parquet"
OBJECTS_PART = "objects.parquet"
TABLES = ("frames.parquet", "objects.parquet", "sequences.parquet", "summary.csv")


@dataclass(frozen=True)
class Layout:
    """Where a run directory keeps each output."""

    root: Path
    nested: bool  # several methods: a folder per label under masks/ and probs/
    prediction_layout: str  # the dataset's: davis or youtube

    @classmethod
    def of(cls, root: str | Path, manifest: dict[str, Any]) -> Layout:
        return cls(Path(root), manifest["layout"]["nested"], manifest["layout"]["predictions"])

    def describe(self) -> dict[str, Any]:
        label = "<label>/" if self.nested else ""
        sequence = "<sequence>" if self.prediction_layout == "davis" else "Annotations/<sequence>"
        return {
            "nested": self.nested,
            "predictions": self.prediction_layout,
            "masks": f"masks/{label}{sequence}/<frame>.png",
            "probs": f"probs/{label}<sequence>.npz",
            "parts": "parts/<label>/<sequence>/",
        }

    def masks_root(self, label: str) -> Path:
        return self.root / "masks" / label if self.nested else self.root / "masks"

    def masks_dir(self, label: str, sequence: str) -> Path:
        return sequence_folder(self.masks_root(label), sequence, self.prediction_layout)

    def probs_path(self, label: str, sequence: str) -> Path:
        folder = self.root / "probs" / label if self.nested else self.root / "probs"
        return folder / f"{sequence}.npz"

    def part_dir(self, label: str, sequence: str) -> Path:
        return self.root / "parts" / label / sequence

    def is_done(self, label: str, sequence: str) -> bool:
        return (self.part_dir(label, sequence) / FRAMES_PART).is_file()


def read_manifest(root: str | Path) -> dict[str, Any] | None:
    """The run directory's manifest, or None when there is none."""
    path = Path(root) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VosbenchError(f"{path}: cannot read the manifest ({error}); restore it or start a new run directory") from None
    if not isinstance(manifest, dict) or "config" not in manifest or "layout" not in manifest:
        raise VosbenchError(f"{path}: not a manifest of this vosbench version; start a new run directory")
    return manifest


def write_manifest(root: str | Path, manifest: dict[str, Any]) -> None:
    with atomic_file(Path(root) / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as ``path: old -> new`` lines."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(k for k in new if k not in old)]:
            found += differences(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = []
        for i, (a, b) in enumerate(zip(old, new)):
            found += differences(a, b, f"{path}[{i}]")
        return found
    return [] if old == new else [f"{path}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Only one process writes a run directory at a time."""
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VosbenchError(f"{root}: another vosbench process is writing this run directory; wait for it or use another --out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def entries(root: Path) -> set[str] | None:
    """The names in ``root`` (None when it does not exist): what ``undone_if_failed`` keeps."""
    return {p.name for p in root.iterdir()} if root.is_dir() else None


@contextlib.contextmanager
def undone_if_failed(root: Path, before: set[str] | None) -> Iterator[None]:
    """A first attempt that fails before committing any sequence leaves ``root`` as it was
    (``before``: its ``entries`` then).

    What the attempt added goes (the manifest, which records settings a corrected command
    may change; lock, staging, masks), and ``root`` itself when it did not exist. A run
    directory that already had a manifest, or gained a finished sequence, is kept for a
    resume.
    """
    first = not (root / MANIFEST).exists()
    try:
        yield
    except BaseException:
        if first and not (root / "parts").exists():
            if before is None:
                shutil.rmtree(root, ignore_errors=True)
            else:
                for path in root.iterdir():
                    if path.name not in before:
                        if path.is_dir():
                            shutil.rmtree(path, ignore_errors=True)
                        else:
                            path.unlink(missing_ok=True)
        raise


def clear_staging(root: Path) -> None:
    """Remove what an interrupted run left half-made (only while holding the lock)."""
    shutil.rmtree(root / STAGING, ignore_errors=True)


@dataclass(frozen=True)
class Staged:
    """Temporary places for one sequence's outputs, inside the run directory."""

    folder: Path

    @property
    def masks_root(self) -> Path:
        return self.folder / "masks"

    @property
    def probs(self) -> Path:
        return self.folder / "probs.npz"

    @property
    def part(self) -> Path:
        return self.folder / "part"

    def write_part(self, frames: pd.DataFrame, objects: pd.DataFrame) -> None:
        self.part.mkdir()
        frames.to_parquet(self.part / FRAMES_PART, index=False)
        objects.to_parquet(self.part / OBJECTS_PART, index=False)


@contextlib.contextmanager
def staged_sequence(layout: Layout, label: str, sequence: str) -> Iterator[Staged]:
    """Yield a ``Staged``; when the block ends without error, commit it (``commit``)."""
    staging = layout.root / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{label}.{sequence}.", dir=staging))
    try:
        staged = Staged(folder)
        with atomic_file(folder / WORKER) as tmp:
            worker = {"label": label, "sequence": sequence, "host": socket.gethostname(), "pid": os.getpid()}
            tmp.write_text(json.dumps(worker) + "\n", encoding="utf-8")
        yield staged
        commit(layout, label, sequence, staged)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit(layout: Layout, label: str, sequence: str, staged: Staged) -> None:
    """Move a staged sequence in; its part last, as the mark that it is done."""
    part = layout.part_dir(label, sequence)
    if part.exists():
        shutil.rmtree(part)  # redone (--overwrite): unmark before replacing anything
    replace_dir(sequence_folder(staged.masks_root, sequence, layout.prediction_layout), layout.masks_dir(label, sequence))
    if staged.probs.is_file():
        target = layout.probs_path(label, sequence)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.probs, target)
    part.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged.part, part)


def replace_dir(source: Path, target: Path) -> None:
    """Move the folder ``source`` to ``target``, replacing what is there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        old = source.with_name(f"{source.name}.old")
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def planned_pairs(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(method label, sequence) in run order: method by method."""
    return [(m["label"], s) for m in manifest["config"]["methods"] for s in manifest["sequences"]]


def read_parts(layout: Layout, pairs: list[tuple[str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Frame records and object scores of the finished ``pairs``, in that order."""
    frames, objects = [], []
    for label, sequence in pairs:
        if not layout.is_done(label, sequence):
            continue
        part = layout.part_dir(label, sequence)
        try:
            frames.append(pd.read_parquet(part / FRAMES_PART))
            objects.append(pd.read_parquet(part / OBJECTS_PART))
        except (OSError, ValueError) as error:
            raise VosbenchError(f"{part}: cannot read the sequence's records ({error}); delete the folder and rerun to redo it") from None
    return _concat(frames), _concat(objects)


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    tables = [t for t in tables if len(t)] or tables[:1]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def remove_tables(root: Path) -> None:
    """The run-level tables are about to go stale: drop them, so readers use the parts."""
    for name in TABLES:
        (root / name).unlink(missing_ok=True)
