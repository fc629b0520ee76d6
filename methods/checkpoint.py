"""Load an official checkpoint file into a network, as data, never as code.

Users hand over files as the official code saved them: a flat state dict, sometimes
with a ``module.`` prefix (``nn.DataParallel``) or nested under ``state_dict`` /
``model``. ``load_checkpoint`` reads such a file with ``weights_only=True`` and finds
the state dict; ``load_state`` loads it strictly and, on any mismatch, raises one line
that lists the missing, unexpected and mis-shaped keys (or the weights that are not
finite).
"""

from __future__ import annotations

import os
import pickle
import pickletools
import zipfile
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from vosbench.errors import VosbenchError

NESTING_KEYS = ("state_dict", "model", "network", "net", "model_state_dict")


def load_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read ``path`` as a state dict (name -> tensor) on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise VosbenchError(f"{path}: checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        named = pickle_globals(path)
        if named is None:  # the bytes are no pickle at all
            raise VosbenchError(f"{path}: not a PyTorch checkpoint (no readable pickle data); give the .pth file itself") from None
        foreign = [n for n in named if not n.startswith(("torch.", "collections.OrderedDict"))]
        shown = ", ".join(dict.fromkeys(foreign[:3])) or "pickle instructions the safe loader does not take"
        raise VosbenchError(
            f"{path}: holds objects other than tensors ({shown}), so it was refused for safety: vosbench loads "
            "checkpoints with weights_only=True and never runs code from a file; re-save it as "
            "torch.save(model.state_dict(), FILE)"
        ) from None
    except Exception as error:  # noqa: BLE001 - arbitrary bytes surface as many types (KeyError for text)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise VosbenchError(f"{path}: not a PyTorch checkpoint ({type(error).__name__}: {first[:160]})") from None
    return find_state_dict(obj, path)


def pickle_globals(path: Path) -> list[str] | None:
    """The classes and functions a checkpoint's pickle names, read without running it,
    or None when the file holds no pickle (``torch.save``'s zip keeps it as ``*/data.pkl``)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                inner = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                if inner is None:
                    return None
                data = archive.read(inner)
        else:
            data = path.read_bytes()
        named, strings = [], []
        for opcode, argument, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST"):
                named.append(str(argument).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                named.append(".".join(strings[-2:]))
            elif isinstance(argument, str):
                strings.append(argument)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    return named


def find_state_dict(obj: object, path: Path | str = "checkpoint") -> dict[str, torch.Tensor]:
    """The flat name -> tensor mapping inside a loaded checkpoint object."""
    for _ in range(3):
        if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return {str(k): v for k, v in obj.items()}
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in NESTING_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is not None:
                obj = inner
                continue
        break
    raise VosbenchError(
        f"{path}: no state dict found (expected a mapping of parameter names to tensors, "
        f"possibly under one of {', '.join(NESTING_KEYS)})"
    )


def _adapt_prefix(state: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    # DataParallel adds "module." to every key; accept a file with or without it.
    if not state or set(state) & expected:
        return state
    if all(k.startswith("module.") for k in state):
        stripped = {k[len("module."):]: v for k, v in state.items()}
        if set(stripped) & expected:
            return stripped
    return state


def load_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path | str = "checkpoint") -> None:
    """Strictly load ``state`` into ``module``; any mismatch raises one clear line."""
    own = module.state_dict()
    state = _adapt_prefix(state, set(own))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape (file vs model)", shapes)):
            if items:
                shown = ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")
                parts.append(f"{label}: {shown}")
        raise VosbenchError(
            f"{path}: does not match the {type(module).__name__} network; " + "; ".join(parts)
            + ". Give the official checkpoint of this method"
        )
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        shown = ", ".join(broken[:6]) + (f", ... ({len(broken)} in all)" if len(broken) > 6 else "")
        raise VosbenchError(
            f"{path}: weights hold NaN or infinity ({shown}); the file is damaged or was saved from a diverged "
            "training run: give a checkpoint whose weights are finite"
        )
    with torch.no_grad():
        module.load_state_dict(state, strict=True)
