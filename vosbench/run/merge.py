"""``vosbench merge``: the run directories of a run's shards joined into one.

The shards must come from the same settings (manifests equal apart from the shard),
be every shard 1..n exactly once, and each be finished. Masks, probabilities and parts
are hard-linked (copied across filesystems) into a new directory, which appears
complete or not at all; its tables are rebuilt from the parts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from vosbench.atomic import atomic_dir
from vosbench.errors import VosbenchError
from vosbench.run import store
from vosbench.run.tables import build_tables, write_tables


def merge(out: str | Path, shard_dirs: Sequence[str | Path]) -> Path:
    out = Path(out)
    shard_dirs = [Path(d) for d in shard_dirs]
    if not shard_dirs:
        raise VosbenchError("merge: give the run directories of the shards")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VosbenchError(f"{out}: exists and is not empty; merge into a new folder")
    manifests = [_shard_manifest(d) for d in shard_dirs]
    first = manifests[0]
    count = first["config"]["shard"]["count"]
    by_index: dict[int, Path] = {}
    for folder, manifest in zip(shard_dirs, manifests):
        changed = store.differences(_unsharded(first["config"]), _unsharded(manifest["config"]))
        if changed:
            raise VosbenchError(f"{folder}: not a shard of the same run as {shard_dirs[0]} ({'; '.join(changed[:3])})")
        shard = manifest["config"]["shard"]
        if shard["count"] != count:
            raise VosbenchError(f"{folder}: shard {shard['index']}/{shard['count']}, but {shard_dirs[0]} is one of {count}")
        if shard["index"] in by_index:
            raise VosbenchError(f"{folder} and {by_index[shard['index']]} are both shard {shard['index']}/{count}; give each once")
        by_index[shard["index"]] = folder
    missing = sorted(set(range(1, count + 1)) - set(by_index))
    if missing:
        raise VosbenchError(f"merge: shard {', '.join(f'{i}/{count}' for i in missing)} missing; give its run directory too")

    seen: dict[tuple[str, str], Path] = {}
    for folder, manifest in zip(shard_dirs, manifests):
        layout = store.Layout.of(folder, manifest)
        for pair in store.planned_pairs(manifest):
            if pair in seen:
                raise VosbenchError(f"{folder}: {pair[0]} {pair[1]} is also in {seen[pair]}; shards must not overlap")
            if not layout.is_done(*pair):
                raise VosbenchError(f"{folder}: {pair[0]} on {pair[1]} is not finished; rerun that shard's command first")
            seen[pair] = folder

    merged = _merged_manifest(manifests, shard_dirs)
    with atomic_dir(out) as tmp:
        target = store.Layout.of(tmp, merged)
        for folder, manifest in zip(shard_dirs, manifests):
            source = store.Layout.of(folder, manifest)
            for label, sequence in store.planned_pairs(manifest):
                _link_tree(source.masks_dir(label, sequence), target.masks_dir(label, sequence))
                if source.probs_path(label, sequence).is_file():
                    _link_file(source.probs_path(label, sequence), target.probs_path(label, sequence))
                _link_tree(source.part_dir(label, sequence), target.part_dir(label, sequence))
        store.write_manifest(tmp, merged)
        write_tables(tmp, build_tables(target, merged))
        if target.prediction_layout == "youtube":
            from vosbench.run.runner import zip_submissions

            zip_submissions(target, merged)
    return out


def _shard_manifest(folder: Path) -> dict[str, Any]:
    manifest = store.read_manifest(folder)
    if manifest is None:
        raise VosbenchError(f"{folder}: no manifest.json; not a vosbench run directory")
    if manifest["config"]["shard"] is None:
        raise VosbenchError(f"{folder}: not a shard (made without --shard); nothing to merge")
    return manifest


def _unsharded(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "shard"}


def _merged_manifest(manifests: list[dict[str, Any]], folders: list[Path]) -> dict[str, Any]:
    first = manifests[0]
    selection = first["config"]["dataset"]["sequences"]
    return {
        **first,
        "config": {**first["config"], "shard": None},
        "sequences": list(selection),
        "sessions": [
            {**session, "shard": m["config"]["shard"]["index"]} for m in manifests for session in m["sessions"]
        ],
        "merged_from": [str(f.resolve()) for f in folders],
    }


def _link_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or no hard links there
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file():
            _link_file(path, target / path.relative_to(source))
