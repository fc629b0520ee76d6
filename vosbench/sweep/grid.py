"""A sweep's grid: ``--grid name=v1,v2`` axes, their Cartesian product, readable labels.

Each chosen method takes the axes it has a parameter for (a method with none of them
runs once, at its settings); every combination of their values is one setting, a run
label ``METHOD@name=value,...`` in axis order, e.g. ``swem@num_bases=64,em_iters=2``.
Labels are written from the parsed values, so ``64`` and ``064`` are one setting and a
rerun of the same command finds the same labels.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Sequence

from vosbench import registry
from vosbench.errors import VosbenchError
from vosbench.run.config import LABEL, MethodChoice, RunConfig, checkpoint_targets, split_target

# characters of a label's tag that are not separators there ("," and "=" are)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


@dataclass(frozen=True)
class Axis:
    """One ``--grid`` option: a parameter name and its values as typed."""

    name: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Axis:
        name, sep, values = text.partition("=")
        items = tuple(v.strip() for v in values.split(","))
        if not sep or not name.strip() or not values.strip():
            raise VosbenchError(f"--grid {text!r}: write it as name=value1,value2,... (see `vosbench methods`)")
        if "" in items:
            raise VosbenchError(f"--grid {text!r}: an empty value between commas; list each value once")
        return cls(name.strip(), items)


@dataclass(frozen=True)
class Sweep:
    """The grid's axes and the run's methods, one per setting, in grid order."""

    axes: tuple[Axis, ...]
    choices: tuple[MethodChoice, ...]

    @property
    def axis_names(self) -> list[str]:
        return [axis.name for axis in self.axes]

    def point(self, choice: MethodChoice) -> dict[str, Any]:
        """The grid values of one setting (the axes its method has)."""
        return {name: choice.settings[name] for name in self.axis_names if name in choice.settings}

    def config(self, **options: Any) -> RunConfig:
        """The run of every setting, with ``RunConfig``'s other options."""
        return RunConfig(self.choices, **options)

    def describe(self) -> dict[str, Any]:
        """What ``sweep.json`` records; a rerun into the same folder must describe the same."""
        points = [self.point(c) for c in self.choices]
        return {
            "format": 1,
            "methods": list(dict.fromkeys(c.name for c in self.choices)),
            "axes": [
                {"name": name, "values": list(dict.fromkeys(value_text(p[name]) for p in points if name in p))}
                for name in self.axis_names
            ],
            "settings": [{"label": c.label, "method": c.name, "values": p} for c, p in zip(self.choices, points)],
        }


def value_text(value: Any) -> str:
    """A parameter value as a label writes it: short, and only label-safe characters."""
    if value is None:
        text = "none"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as the same number
    elif isinstance(value, (tuple, list)):
        text = "x".join(value_text(v) for v in value)
    else:
        text = str(value)
    return _UNSAFE.sub("_", text)


def label_of(method: str, point: dict[str, Any]) -> str:
    """``swem@num_bases=64,em_iters=2``; just the method's name without grid values."""
    if not point:
        return method
    return f"{method}@" + ",".join(f"{_UNSAFE.sub('_', name)}={value_text(v)}" for name, v in point.items())


def plan_sweep(
    methods: Sequence[str], grid: Sequence[str], settings: Sequence[str] = (), checkpoints: Sequence[str] = (),
    family: str | None = None,
) -> Sweep:
    """The command line's ``-m``, ``--grid``, ``--set`` and ``--checkpoint`` -> a checked
    sweep, with the defaults of dataset ``family`` where a method has its own.

    ``--set [METHOD:]name=value`` fixes a parameter for every method (each must have it)
    or for one; ``--checkpoint [METHOD:]FILE`` as in ``vosbench run``. Every setting is
    resolved through the registry and built once training-free on the CPU, so a bad
    value fails here, before anything runs.
    """
    names = _method_names(methods)
    if not grid:
        raise VosbenchError("no --grid given; name a parameter and its values, e.g. --grid num_bases=64,128")
    axes = tuple(Axis.parse(item) for item in grid)
    seen = [axis.name for axis in axes]
    repeated = sorted({name for name in seen if seen.count(name) > 1})
    if repeated:
        raise VosbenchError(f"--grid {repeated[0]} is given twice; list all its values in one --grid")
    params = {name: {p.name: p for p in registry.get(name).params} for name in names}
    for axis in axes:
        if not any(axis.name in params[name] for name in names):
            known = "; ".join(f"{name}: {', '.join(params[name])}" for name in names)
            raise VosbenchError(f"--grid {axis.name}: no chosen method has this parameter ({known})")
    fixed = _fixed_settings(settings, names, set(seen))
    checkpoint_of = checkpoint_targets(checkpoints, names, "METHOD")

    choices = []
    for name in names:
        mine = [axis for axis in axes if axis.name in params[name]]
        values = [_axis_values(axis, params[name][axis.name], name) for axis in mine]
        for combination in itertools.product(*values):
            point = dict(zip((axis.name for axis in mine), combination))
            label = label_of(name, point)
            choices.append(MethodChoice.of(name, {**fixed[name], **point}, checkpoint_of.get(name), label=label, family=family))
    labels = [c.label for c in choices]
    for label in labels:
        if not LABEL.match(label) or labels.count(label) > 1:
            raise VosbenchError(f"--grid: the setting label {label!r} is not usable (invalid or repeated); "
                                "use plain values (letters, digits, . - +)")
    for choice in choices:
        _check_builds(choice)
    return Sweep(axes, tuple(choices))


def _method_names(methods: Sequence[str]) -> list[str]:
    if not methods:
        raise VosbenchError("no method given; name one or more with --method (see `vosbench methods`)")
    for name in methods:
        if "@" in name:
            raise VosbenchError(f"--method {name!r}: give the method's name; a sweep labels its settings itself")
    repeated = sorted({name for name in methods if list(methods).count(name) > 1})
    if repeated:
        raise VosbenchError(f"--method {repeated[0]} is given twice; a sweep runs each method over the whole grid")
    for name in methods:
        registry.get(name)  # an unknown method fails before anything else
    return list(methods)


def _axis_values(axis: Axis, param: registry.Param, method: str) -> list[Any]:
    parsed = []
    for text in axis.values:
        try:
            value = param.parse(text)
        except VosbenchError as error:
            raise VosbenchError(f"--grid {axis.name} ({method}): {error}") from None
        if value in parsed:
            raise VosbenchError(f"--grid {axis.name}: the value {text!r} is given twice")
        parsed.append(value)
    return parsed


def _fixed_settings(items: Sequence[str], names: list[str], axes: set[str]) -> dict[str, dict[str, str]]:
    """``--set [METHOD:]name=value`` -> {method: {name: value}}; a grid axis may not be set."""
    fixed: dict[str, dict[str, str]] = {name: {} for name in names}
    for item in items:
        target, setting_text = split_target(item)
        if target is not None and target not in fixed:
            raise VosbenchError(f"--set {item!r}: {target!r} is not a chosen method; methods: {', '.join(names)}")
        setting = registry.parse_settings([setting_text])
        for key in setting:
            if key in axes:
                raise VosbenchError(f"--set {item!r}: {key} is also a --grid axis; give its values in --grid only")
        for name in [target] if target is not None else names:
            fixed[name].update(setting)
    return fixed


def _check_builds(choice: MethodChoice) -> None:
    """Build the setting training-free (cheap: no weights), where the method checks its values."""
    try:
        registry.get(choice.name).factory(dict(choice.settings), checkpoint=None, device="cpu", dtype=None)
    except VosbenchError as error:
        raise VosbenchError(f"sweep setting {choice.label}: {error}") from None
