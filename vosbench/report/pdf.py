"""The report as a PDF with the HTML's content, made by matplotlib alone (no browser).

Pages are A4 landscape. Content flows down the page: headings, sentences, tables drawn
as text with booktabs rules, and figures (the report's own PNGs, embedded unresampled);
a block that does not fit starts a new page, and a long table continues with its header
repeated.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.lines import Line2D
from PIL import Image

from vosbench.report.content import FigureItem, Report, TableItem
from vosbench.report.table_formats import is_numeric, texts

PAGE = (11.69, 8.27)  # A4 landscape, inches
MARGIN = 0.55
WIDTH = PAGE[0] - 2 * MARGIN
TEXT = "#222222"
GREY = "#666666"
ABSENT = "#8a5a00"
FONT = FontProperties(family="DejaVu Sans")
BOLD = FontProperties(family="DejaVu Sans", weight="bold")
# inches: two figures (or qualitative strips) with their titles and captions share a page,
# so a report of many figures is not a run of half-empty pages
FIGURE_MAX = (PAGE[1] - 2 * MARGIN) / 2 - 0.85


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of ``text`` at ``size`` points, in inches (FreeType's advance, as Agg measures)."""
    if not text:
        return 0.0
    font = get_font(findfont(BOLD if bold else FONT))
    font.set_size(size, 72)
    font.set_text(text, 0.0)
    return font.get_width_height()[0] / 64 / 72


class Pages:
    """A4 pages filled top to bottom; ``y`` is the next free height, in inches from the bottom."""

    def __init__(self, pdf: PdfPages, title: str):
        self.pdf, self.title = pdf, title
        self.figure: Figure | None = None
        self.count = 0
        self.y = 0.0

    def new_page(self) -> None:
        self.flush()
        self.figure = Figure(figsize=PAGE)
        self.count += 1
        self.y = PAGE[1] - MARGIN
        self.figure.text(MARGIN / PAGE[0], 0.3 / PAGE[1], self.title, fontsize=7, color=GREY)
        self.figure.text(1 - MARGIN / PAGE[0], 0.3 / PAGE[1], f"page {self.count}", fontsize=7, color=GREY, ha="right")

    def flush(self) -> None:
        if self.figure is not None:
            self.pdf.savefig(self.figure)
            self.figure = None

    def room(self, height: float) -> None:
        """Start a new page unless ``height`` inches fit below ``y``."""
        if self.figure is None or self.y - height < MARGIN:
            self.new_page()

    def _at(self, x: float, y: float) -> tuple[float, float]:
        return x / PAGE[0], y / PAGE[1]

    def text(self, text: str, size: float = 9, bold: bool = False, colour: str = TEXT, gap: float = 0.08,
             keep: float = 0.0, indent: float = 0.0) -> None:
        """A paragraph wrapped to the page width; ``keep`` inches must fit after it (headings)."""
        lines = _wrap(text, size, indent)
        height = len(lines) * size * 1.4 / 72
        self.room(height + keep)
        self.figure.text(*self._at(MARGIN + indent, self.y), "\n".join(lines), fontsize=size, color=colour,
                         va="top", fontproperties=BOLD if bold else FONT, linespacing=1.4)
        self.y -= height + gap

    def rule(self, y: float, x0: float, x1: float, width: float) -> None:
        self.figure.add_artist(Line2D([x0 / PAGE[0], x1 / PAGE[0]], [y / PAGE[1]] * 2, linewidth=width, color=TEXT,
                                      transform=self.figure.transFigure))

    def table(self, header: list[str], rows: list[list[str]], numeric: list[bool], colours: dict[str, str],
              after: float = 0.0) -> None:
        """A booktabs-style table; the font shrinks (to 5.5 pt) until it fits the width.
        ``after`` inches (its caption) stay on the page of its last rows."""
        size = 8.0
        while True:
            widths = [max(text_width(h, size, bold=True), *(text_width(r[c], size) for r in rows)) + 0.18
                      for c, h in enumerate(header)]
            if sum(widths) <= WIDTH or size <= 5.5:
                break
            size -= 0.5
        line = size * 1.7 / 72
        starts = np.concatenate([[MARGIN], MARGIN + np.cumsum(widths)[:-1]])
        right = MARGIN + sum(widths)
        whole = line * (len(rows) + 1) + 0.15 + after
        if whole <= PAGE[1] - 2 * MARGIN and self.y - whole < MARGIN:
            self.new_page()  # it fits on a page of its own: do not split it
        index = 0
        while index < len(rows) or index == 0:
            self.room(line * min(3, len(rows) + 1) + 0.1)
            fits = max(1, int((self.y - MARGIN - 0.1) / line) - 1)
            if index + fits >= len(rows) and (len(rows) - index + 1) * line + 0.1 + after > self.y - MARGIN:
                fits = max(1, fits - int(np.ceil(after / line)))  # the last rows move over with the caption
            chunk = rows[index : index + fits]
            self.rule(self.y, MARGIN, right, 1.0)
            self._row(header, starts, widths, numeric, size, bold=True)
            self.rule(self.y, MARGIN, right, 0.5)
            self.y -= 0.03
            for row in chunk:
                self._row(row, starts, widths, numeric, size, colour=colours.get(row[0]))
            self.rule(self.y, MARGIN, right, 1.0)
            self.y -= 0.08
            index += len(chunk)
            if not rows:
                break

    def _row(self, cells: list[str], starts, widths, numeric, size: float, bold: bool = False,
             colour: str | None = None) -> None:
        line = size * 1.7 / 72
        for c, (cell, x, w) in enumerate(zip(cells, starts, widths)):
            xpos = x + w - 0.09 if numeric[c] else x + 0.09
            shade = colour if (c == 0 and colour) else TEXT
            self.figure.text(*self._at(xpos, self.y - 0.03), cell, fontsize=size, va="top",
                             ha="right" if numeric[c] else "left", color=shade,
                             fontproperties=BOLD if bold or (c == 0 and colour) else FONT)
        self.y -= line

    def image(self, png: bytes, dpi: float, max_height: float = FIGURE_MAX) -> None:
        """A figure at its size (shrunk to fit), embedded as its own pixels."""
        array = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        h, w = array.shape[0] / dpi, array.shape[1] / dpi
        scale = min(1.0, WIDTH / w, max_height / h)
        w, h = w * scale, h * scale
        self.room(h + 0.05)
        ax = self.figure.add_axes((MARGIN / PAGE[0], (self.y - h) / PAGE[1], w / PAGE[0], h / PAGE[1]))
        ax.imshow(array, interpolation="none", aspect="auto")
        ax.set_axis_off()
        self.y -= h + 0.08

    def legend(self, colours: dict[str, str]) -> None:
        self.room(0.3)
        x = MARGIN
        for label, colour in colours.items():
            self.figure.text(*self._at(x, self.y), "\u25a0 " + label, fontsize=9, color=colour, va="top",
                             fontproperties=BOLD)
            x += text_width("\u25a0 " + label, 9, bold=True) + 0.25
        self.y -= 0.3


def _wrap(text: str, size: float, indent: float = 0.0) -> list[str]:
    chars = max(20, int((WIDTH - indent) * 72 / (0.55 * size)))
    return textwrap.wrap(text, chars) or [""]


def _text_height(text: str, size: float, gap: float) -> float:
    """The height ``Pages.text`` takes for ``text``, its gap included."""
    return len(_wrap(text, size)) * size * 1.4 / 72 + gap


def _figure_height(item: FigureItem) -> float:
    width, height = Image.open(io.BytesIO(item.png)).size
    w, h = width / item.dpi, height / item.dpi
    return min(h * min(1.0, WIDTH / w), FIGURE_MAX)


def _height(item: TableItem | FigureItem) -> float:
    """About how much of a page the start of ``item`` needs (to keep a heading with it)."""
    if item.absent:
        return 0.4
    if isinstance(item, TableItem):
        whole = 0.19 * (len(item.shown) + 1) + 0.15  # a table that fits a page is not split
        return 0.3 + (whole if whole <= PAGE[1] - 2 * MARGIN else 0.19 * 4)
    return 0.3 + _figure_height(item) + _text_height(item.caption, 8, 0.2)


def write_pdf(report: Report, path: Path) -> int:
    """Write the report's PDF to ``path``; returns its page count."""
    metadata = {"Title": report.title, "Creator": "vosbench"}
    with PdfPages(path, metadata=metadata) as pdf:
        pages = Pages(pdf, report.title)
        pages.text(report.title, size=17, bold=True, gap=0.12)
        pages.text(f"Made by vosbench on {report.created}.", size=9, colour=GREY, gap=0.15)
        for key, value in report.facts:
            pages.text(f"{key}: {value}", size=9, gap=0.04)
        pages.y -= 0.1
        pages.legend(report.colours)
        if report.absent:
            pages.text("Not in this report", size=13, bold=True, gap=0.08, keep=0.3)
            for line in report.absent:
                pages.text("\u2022 " + line, size=9, colour=ABSENT, gap=0.04, indent=0.1)
        for section in report.sections:
            pages.y -= 0.15
            # the heading, its sentences and the start of its first item stay together
            first = _height(section.items[0]) if section.items else 0.0
            pages.room(0.45 + 0.2 * len(section.paragraphs) + first)
            pages.text(section.title, size=14, bold=True, gap=0.1)
            for paragraph in section.paragraphs:
                pages.text(paragraph, size=9)
            for item in section.items:
                _item(pages, item, report.colours)
        pages.flush()
        return pages.count


def _item(pages: Pages, item: TableItem | FigureItem, colours: dict[str, str]) -> None:
    if item.absent:
        pages.text(item.absent, size=9, colour=ABSENT, gap=0.12)
        return
    caption = _text_height(item.caption, 8, 0.2)
    if isinstance(item, TableItem):
        table = item.shown
        pages.text(item.title, size=11, bold=True, gap=0.08, keep=_height(item) - 0.3)
        pages.table([str(c) for c in table.columns], texts(table, item.digits), [is_numeric(table[c]) for c in table.columns],
                    colours, after=caption)
        pages.text(item.caption, size=8, colour=GREY, gap=0.2)
        return
    # the title, the figure and its caption stay together
    pages.text(item.title, size=11, bold=True, gap=0.06, keep=_figure_height(item) + 0.08 + caption)
    pages.image(item.png, item.dpi, FIGURE_MAX)
    pages.text(item.caption, size=8, colour=GREY, gap=0.2)
