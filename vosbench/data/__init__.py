"""Datasets: DAVIS 2016/2017, YouTube-VOS 2018/2019, LVOS, MOSE, Long-Time Video, SA-V,
a folder of frames, synthetic.

``open_dataset`` is the one way in: a kind, a root folder, a split and options.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from vosbench.data.davis import DavisDataset
from vosbench.data.flat import LongVideoDataset, MoseDataset
from vosbench.data.folder import FolderDataset
from vosbench.data.lvos import LvosDataset
from vosbench.data.sav import SavDataset
from vosbench.data.video import Dataset, Video, VideoInfo
from vosbench.data.youtube import YouTubeDataset
from vosbench.errors import VosbenchError


# kind -> (dataset class, the arguments the kind fixes)
KINDS: dict[str, tuple[type[Dataset], dict[str, Any]]] = {
    "davis2016": (DavisDataset, {"year": 2016}),
    "davis2017": (DavisDataset, {"year": 2017}),
    "youtube2018": (YouTubeDataset, {"version": 2018}),
    "youtube2019": (YouTubeDataset, {"version": 2019}),
    "lvos": (LvosDataset, {}),
    "mose": (MoseDataset, {}),
    "ltv": (LongVideoDataset, {}),
    "sav": (SavDataset, {}),
    "frames": (FolderDataset, {}),
}


def open_dataset(kind: str, root: str | Path, split: str | None = None, **options: Any) -> Dataset:
    """Open the dataset of ``kind`` at ``root``; ``split`` None means the kind's default.

    Options are the dataset class's keyword arguments: ``sequences`` (a subset, by name)
    for every kind; ``resolution`` for DAVIS; ``all_frames`` for YouTube-VOS; ``mask``
    for ``frames``. Unknown kinds or options and missing folders raise ``VosbenchError``.
    """
    root = Path(root)
    if kind == "synthetic":
        return _open_synthetic(root, split, options)
    if kind not in KINDS:
        raise VosbenchError(f"unknown dataset kind {kind!r}; known: {', '.join([*KINDS, 'synthetic'])}")
    cls, fixed = KINDS[kind]
    known = set(inspect.signature(cls).parameters) - {"root", *fixed}
    if split is not None:
        if "split" not in known:
            raise VosbenchError(f"dataset kind {kind!r} has no splits; leave the split out (got {split!r})")
        options["split"] = split
    unknown = sorted(set(options) - known)
    if unknown:
        raise VosbenchError(f"dataset kind {kind!r} has no option {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if not root.exists():
        raise VosbenchError(f"{root}: dataset root not found")
    from vosbench.data.synth import RECORD

    dataset = cls(root, **fixed, **options)
    dataset.synthetic = (root / RECORD).is_file()
    return dataset


def _open_synthetic(root: Path, split: str | None, options: dict[str, Any]) -> Dataset:
    """Generate (or reuse) a synthetic set at ``root`` and open it in its own layout.

    Generator options (``layout``, ``videos``, ``frames``, ``size`` as "HxW", ``objects``,
    ``seed``, ``quality``) go to the generator; the rest (``sequences``, ``all_frames``)
    to the reader. A rerun with the same options reuses the finished videos.
    """
    from dataclasses import fields

    from vosbench.data.synth import SynthParams, generate, parse_size

    names = {f.name for f in fields(SynthParams)} | {"size"}
    settings = {k: options.pop(k) for k in list(options) if k in names}
    if "size" in settings:
        settings["height"], settings["width"] = parse_size(str(settings.pop("size")))
    params = SynthParams(**settings)
    generate(root, params)
    kind, default_split = {
        "davis": ("davis2017", "val"), "youtube": ("youtube2019", "valid"), "lvos": ("lvos", "valid"),
        "mose": ("mose", "valid"), "ltv": ("ltv", None), "sav": ("sav", "val"),
    }[params.layout]
    return open_dataset(kind, root, split or default_split, **options)


__all__ = ["Dataset", "KINDS", "Video", "VideoInfo", "open_dataset"]
