"""The method registry: methods register themselves; the harness reads only this.

A method is registered with a factory and its parameters (name, default, help), and
optionally defaults per dataset family (``Dataset.family``: davis, youtube, mose, lvos,
ltv, sav, generic) where its official evaluation sets some per dataset. Method
packages are found through the ``vosbench.methods`` entry-point group, so a third-party
package can add methods without touching vosbench.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Callable

from vosbench.errors import VosbenchError


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    nullable: bool = False  # "none" is a value too (always, when the default is None)

    def parse(self, text: str) -> Any:
        """Turn a ``--set name=value`` string into the type of the default."""
        kind = type(self.default)
        try:
            if self.nullable and text.lower() in ("none", "null"):
                value = None
            elif self.default is None:
                value: Any = None if text.lower() in ("none", "null", "") else _auto(text)
            elif kind is bool:
                if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(text)
                value = text.lower() in ("1", "true", "yes", "on")
            elif kind is tuple:
                value = tuple(type(self.default[0])(v) for v in text.replace("x", ",").split(","))
            else:
                value = kind(text)
        except ValueError:
            raise VosbenchError(f"parameter {self.name}: cannot read {text!r} as {kind.__name__}") from None
        if self.choices is not None and value not in self.choices:
            raise VosbenchError(f"parameter {self.name}: {value!r} is not one of {list(self.choices)}")
        return self.check(value)

    def check(self, value: Any) -> Any:
        """``value`` if it is usable: nan and inf never are (they pass every ``<`` test a
        factory makes, then turn a whole run's output into zeros)."""
        numbers = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            raise VosbenchError(f"parameter {self.name}: {value!r} is not a finite number; give a real value")
        return value


def _auto(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class MethodSpec:
    name: str
    factory: Callable[..., Any]
    params: tuple[Param, ...] = ()
    summary: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    dataset_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # family -> {name: value}

    def defaults(self, family: str | None = None) -> dict[str, Any]:
        """The parameters' defaults, those of dataset ``family`` where the method has its own."""
        return {**{p.name: p.default for p in self.params}, **self.dataset_defaults.get(family, {})}

    def resolve(self, settings: dict[str, Any] | None = None, family: str | None = None) -> dict[str, Any]:
        """Defaults (for dataset ``family``) overridden by ``settings`` (values or ``--set``
        strings); unknown names raise."""
        known = {p.name: p for p in self.params}
        config = self.defaults(family)
        for key, value in (settings or {}).items():
            if key not in known:
                raise VosbenchError(f"method {self.name} has no parameter {key!r}; known: {', '.join(sorted(known))}")
            config[key] = known[key].parse(value) if isinstance(value, str) else known[key].check(value)
        return config


def parse_settings(items: list[str]) -> dict[str, str]:
    """``--set name=value`` strings -> {name: value}; ``MethodSpec.resolve`` types them."""
    settings = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise VosbenchError(f"--set {item!r}: write it as name=value")
        settings[name.strip()] = value.strip()
    return settings


_REGISTRY: dict[str, MethodSpec] = {}
_loaded = False


def register(
    name: str,
    params: tuple[Param, ...] = (),
    summary: str = "",
    tags: tuple[str, ...] = (),
    dataset_defaults: dict[str, dict[str, Any]] | None = None,
):
    """Decorator for a method factory: ``@register("stcn", params=(...))``;
    ``dataset_defaults={"lvos": {"long_term": True}}`` for defaults of a dataset family."""
    known = {p.name for p in params}
    for family, values in (dataset_defaults or {}).items():
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"method {name!r}: dataset defaults for {family} name unknown parameters {unknown}")

    def wrap(factory):
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"method {name!r} is registered twice")
        _REGISTRY[name] = MethodSpec(name, factory, tuple(params), summary, tuple(tags), dict(dataset_defaults or {}))
        return factory

    return wrap


def _load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    found = list(entry_points(group="vosbench.methods"))
    for entry in found:
        entry.load()
    if not found:
        # Running from a source tree that was never installed: the built-in package
        # still registers itself.
        import_module("methods")


def methods() -> dict[str, MethodSpec]:
    _load_plugins()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> MethodSpec:
    known = methods()
    if name not in known:
        raise VosbenchError(f"unknown method {name!r}; known: {', '.join(known) or 'none registered'}")
    return known[name]
