"""One look for every figure vosbench draws: a colour per method, the same in every plot.

A run label is ``NAME`` or ``NAME@TAG``. Each method name owns a hue; labels that share
a name (settings of one method) get lighter and darker shades of it, in the order given,
so a reader matches STCN to its colour across latency, memory, J&F and sweep figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.colors import to_hex, to_rgb

HUES = {"stcn": "#3b6ea8", "swiftnet": "#d9822b", "swem": "#3f9b5a"}
# Names the table above does not know take these, in order of first appearance.
SPARE = ["#8e5ea2", "#b03a2e", "#4f9da6", "#7f7f7f", "#c9a227"]
FONT_SIZE = 8


def method_of(label: str) -> str:
    """The method name of a run label (``swem@k64`` -> ``swem``)."""
    return label.split("@", 1)[0]


def _shade(colour: str, amount: float) -> str:
    """Lighter (amount > 0, towards white) or darker (amount < 0, towards black)."""
    rgb = to_rgb(colour)
    target = 1.0 if amount > 0 else 0.0
    return to_hex(tuple(c + (target - c) * abs(amount) for c in rgb))


def palette(labels: Sequence[str]) -> dict[str, str]:
    """A colour for every label: the method's hue, shaded when a method has several labels."""
    names = list(dict.fromkeys(method_of(label) for label in labels))
    spare = iter(SPARE)
    hues = {name: HUES.get(name) or next(spare, "#555555") for name in names}
    colours: dict[str, str] = {}
    for name in names:
        mine = [label for label in dict.fromkeys(labels) if method_of(label) == name]
        if len(mine) == 1:
            colours[mine[0]] = hues[name]
            continue
        # Spread shades from darker to lighter around the hue itself.
        for i, label in enumerate(mine):
            amount = -0.35 + 0.8 * i / (len(mine) - 1)
            colours[label] = _shade(hues[name], amount)
    return colours


def tidy_axes(ax) -> None:
    """The house axes: no top/right spines, light horizontal grid, small ticks."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
