"""What a run is asked to do: methods with labels and settings, device, shard.

A method is named on the command line as ``NAME`` or ``NAME@TAG``; the whole string is
its label (``stcn``, ``stcn@every10``), unique within a run. ``--set`` and
``--checkpoint`` take an optional ``LABEL:`` prefix: ``--set stcn@every10:mem_every=10``
sets one method, ``--set tf_stride=8`` every method of the run.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from vosbench import registry
from vosbench.errors import VosbenchError

DTYPES = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}
LABEL = re.compile(r"^[A-Za-z0-9_.-]+(@[A-Za-z0-9_.,=+-]+)?$")


@dataclass(frozen=True)
class MethodChoice:
    """One method of a run: its label, registered name, resolved settings and checkpoint."""

    label: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None

    @classmethod
    def of(
        cls, name: str, settings: dict[str, Any] | None = None, checkpoint: str | None = None, label: str | None = None,
        family: str | None = None,
    ):
        """Resolve ``settings`` (values or ``--set`` strings) against the registry's defaults
        (for dataset ``family``); the checkpoint path made absolute (tasks on other
        machines start in other folders)."""
        spec = registry.get(name)
        resolved = _plain(spec.resolve(settings, family))
        return cls(label or name, name, resolved, str(Path(checkpoint).absolute()) if checkpoint is not None else None)

    def build(self, device: str, dtype: str) -> Any:
        spec = registry.get(self.name)
        return spec.factory(dict(self.settings), checkpoint=self.checkpoint, device=device, dtype=DTYPES[dtype])

    def identity(self) -> dict[str, Any]:
        """What must agree between a run and its resumption (the checkpoint by content)."""
        return {
            "label": self.label,
            "method": self.name,
            "settings": self.settings,
            "checkpoint_sha256": _sha256(self.checkpoint) if self.checkpoint else None,
        }


def _plain(settings: dict[str, Any]) -> dict[str, Any]:
    # as JSON keeps them (tuples become lists), so a manifest read back compares equal
    return json.loads(json.dumps(settings, default=str))


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise VosbenchError(f"{path}: checkpoint file not found") from None
    except OSError as error:
        raise VosbenchError(f"{path}: cannot read the checkpoint ({error.strerror})") from None
    return digest.hexdigest()


def choose_methods(
    methods: Sequence[str], settings: Sequence[str] = (), checkpoints: Sequence[str] = (), family: str | None = None
) -> tuple[MethodChoice, ...]:
    """The command line's ``--method``, ``--set`` and ``--checkpoint`` values -> methods,
    with the defaults of dataset ``family`` (``Dataset.family``) where a method has its own.

    ``--set [LABEL:]name=value``: with a label, for that method; without, for every method.
    ``--checkpoint [LABEL:]PATH``: with one method the label may be left out.
    """
    if not methods:
        raise VosbenchError("no method given; name one or more with --method (see `vosbench methods`)")
    labels = list(methods)
    for label in labels:
        if not LABEL.match(label):
            raise VosbenchError(f"--method {label!r}: write NAME or NAME@TAG (letters, digits, _ . - ; the tag may add , = +)")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise VosbenchError(f"--method {repeated[0]} is given twice; tell runs of one method apart as NAME@TAG")
    names = {label: label.split("@", 1)[0] for label in labels}
    for name in set(names.values()):
        registry.get(name)  # an unknown method fails before anything else

    per_label: dict[str, dict[str, str]] = {label: {} for label in labels}
    for item in settings:
        target, setting_text = split_target(item)
        if target is not None and target not in per_label:
            raise VosbenchError(f"--set {item!r}: no --method labelled {target!r}; labels: {', '.join(labels)}")
        setting = registry.parse_settings([setting_text])
        for label in [target] if target is not None else labels:
            per_label[label].update(setting)

    checkpoint_of = checkpoint_targets(checkpoints, labels, "LABEL")
    return tuple(
        MethodChoice.of(names[label], per_label[label], checkpoint_of.get(label), label=label, family=family)
        for label in labels
    )


SETTING_TARGET = re.compile(r"([^:]+):(\s*[A-Za-z_]\w*\s*=.*)", re.S)


def split_target(item: str) -> tuple[str | None, str]:
    """A ``--set`` option ``[TARGET:]name=value`` -> (TARGET or None, ``name=value``).

    A target (a label or method name) holds no ":", but may hold "=" (sweep labels such
    as ``stcn@mem_every=5``); the prefix is what stands before the first ":" when a
    parameter name and "=" follow it, so values may hold ":" too.
    """
    match = SETTING_TARGET.fullmatch(item)
    return (match.group(1), match.group(2)) if match else (None, item)


def checkpoint_targets(items: Sequence[str], targets: Sequence[str], kind: str) -> dict[str, str]:
    """``--checkpoint`` options (``PATH``, or ``TARGET:PATH`` where ``TARGET`` is one of
    ``targets``: run labels or method names, ``kind`` says which) -> path by target."""
    checkpoint_of: dict[str, str] = {}
    for item in items:
        target, colon, path = item.partition(":")
        if not colon or target not in targets:
            if len(targets) > 1:
                raise VosbenchError(
                    f"--checkpoint {item!r}: with several methods write {kind}:PATH ({kind.lower()}s: {', '.join(targets)})"
                )
            target, path = targets[0], item
        if target in checkpoint_of:
            raise VosbenchError(f"--checkpoint: method {target} is given two checkpoints")
        checkpoint_of[target] = path
    return checkpoint_of


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based): every count-th name of the sorted sequence list."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise VosbenchError(f"--shard {text!r}: write i/n with 1 <= i <= n, e.g. 1/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def pick(self, sequences: Sequence[str]) -> list[str]:
        return sorted(sequences)[self.index - 1 :: self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's outputs, apart from the dataset."""

    methods: tuple[MethodChoice, ...]
    device: str = "cpu"
    dtype: str = "float32"
    save_probs: bool = False
    max_frames: int | None = None
    warmup: int = 1  # first frames of each sequence marked warm-up, left out of speed figures
    seed: int = 0  # torch's global seed, set before each sequence
    telemetry: bool = True
    evaluate: bool = True
    shard: Shard | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise VosbenchError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")
        try:
            device = torch.device(self.device)
        except (RuntimeError, ValueError):
            raise VosbenchError(f"--device {self.device!r}: write cpu, cuda or cuda:N") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise VosbenchError(f"--device {self.device}: torch sees no CUDA device here; use --device cpu")
        if device.type not in ("cpu", "cuda"):
            raise VosbenchError(f"--device {self.device}: only cpu and cuda are supported")
        if self.max_frames is not None and self.max_frames < 1:
            raise VosbenchError(f"--max-frames {self.max_frames}: give at least 1")
        if self.warmup < 0:
            raise VosbenchError(f"--warmup {self.warmup}: give 0 or more frames")
        labels = [m.label for m in self.methods]
        if not labels or len(set(labels)) != len(labels):
            raise VosbenchError(f"a run needs methods with distinct labels, got {labels}")

    def identity(self, dataset: dict[str, Any]) -> dict[str, Any]:
        """The manifest's ``config``: a resumed run must match it, merged shards must
        match it apart from ``shard``."""
        return {
            "methods": [m.identity() for m in self.methods],
            "dataset": dataset,
            "device": self.device,
            "dtype": self.dtype,
            "save_probs": self.save_probs,
            "max_frames": self.max_frames,
            "warmup": self.warmup,
            "seed": self.seed,
            "telemetry": self.telemetry,
            "evaluate": self.evaluate,
            "shard": {"index": self.shard.index, "count": self.shard.count} if self.shard else None,
        }


def checkpoint_paths(methods: Sequence[MethodChoice]) -> dict[str, str | None]:
    return {m.label: str(Path(m.checkpoint).resolve()) if m.checkpoint else None for m in methods}
