"""The report as one self-contained HTML file: figures embedded, no external asset, no script.

Plots are embedded as the PNGs the report wrote (``content.DPI``), shown a little larger
than their printed size; strips of video frames as JPEG at one pixel per CSS pixel,
which keeps a report of many sequences a few MB.
"""

from __future__ import annotations

import base64
import io

import jinja2
from PIL import Image

from vosbench.report.content import FigureItem, Report, TableItem
from vosbench.report.table_formats import is_numeric, texts

PLOT_CSS_DPI = 120  # CSS pixels per inch of a plot: its 8-point text reads at about 13 px

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{ report.title }}</title>
<style>
body { margin: 0; background: #f4f4f2; color: #222;
  font: 15px/1.45 "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 36px 56px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 20px; margin: 40px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 16px; margin: 26px 0 6px; }
p, li { max-width: 920px; }
.meta { color: #666; font-size: 13px; margin: 0 0 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 13px; margin: 8px 0; }
dl.facts dt { color: #666; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
nav { font-size: 14px; margin: 10px 0; }
nav a { margin-right: 14px; color: #2a5d9f; text-decoration: none; }
.legend span { display: inline-block; margin-right: 16px; font-size: 14px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; margin: 6px 0 4px; }
thead th { border-top: 2px solid #333; border-bottom: 1px solid #333; font-weight: 600; }
tbody tr:last-child td { border-bottom: 2px solid #333; }
th, td { padding: 3px 11px; text-align: left; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f7f7f7; }
.num { text-align: right; }
.caption { color: #555; font-size: 13px; max-width: 920px; margin: 4px 0 18px; }
figure { margin: 6px 0 22px; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 13px; max-width: 920px; margin-top: 4px; }
.absent { max-width: 900px; color: #6b4a00; background: #fff6e0; border-left: 3px solid #e0a030;
  padding: 6px 10px; font-size: 14px; margin: 8px 0 16px; }
ul.absent { padding-left: 28px; }
</style>
</head>
<body>
<main>
<h1>{{ report.title }}</h1>
<p class="meta">Made by vosbench on {{ report.created }}.</p>
<dl class="facts">
{% for key, value in report.facts %}<dt>{{ key }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
<div class="legend">{% for label, colour in report.colours.items() %}<span><i class="swatch" style="background: {{ colour }}"></i>{{ label }}</span>{% endfor %}</div>
<nav>{% for section in report.sections %}<a href="#{{ section.anchor }}">{{ section.title }}</a>{% endfor %}</nav>
{% if report.absent %}
<h2 id="absent">Not in this report</h2>
<ul class="absent">{% for line in report.absent %}<li>{{ line }}</li>{% endfor %}</ul>
{% endif %}
{% for section in report.sections %}
<h2 id="{{ section.anchor }}">{{ section.title }}</h2>
{% for paragraph in section.paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}
{% for item in section.entries %}
{% if item.absent %}<p class="absent">{{ item.absent }}</p>
{% elif item.kind == "table" %}
<h3>{{ item.title }}</h3>
<div class="scroll"><table>
<thead><tr>{% for cell in item.header %}<th class="{{ 'num' if item.numeric[loop.index0] }}">{{ cell }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in item.rows %}<tr>{% for cell in row %}<td class="{{ 'num' if item.numeric[loop.index0] }}">{% if loop.first and cell in report.colours %}<i class="swatch" style="background: {{ report.colours[cell] }}"></i>{% endif %}{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table></div>
<p class="caption">{{ item.caption }}</p>
{% else %}
<h3>{{ item.title }}</h3>
<figure><img src="{{ item.src }}" alt="{{ item.title }}" width="{{ item.width }}" height="{{ item.height }}">
<figcaption>{{ item.caption }}</figcaption></figure>
{% endif %}
{% endfor %}
{% endfor %}
</main>
</body>
</html>
"""


def _anchor(title: str) -> str:
    return "-".join(title.lower().split())


def _table_view(item: TableItem) -> dict:
    table = item.shown
    return {
        "kind": "table", "title": item.title, "caption": item.caption, "absent": None,
        "header": [str(c) for c in table.columns], "numeric": [is_numeric(table[c]) for c in table.columns],
        "rows": texts(table, item.digits),
    }


def _figure_view(item: FigureItem) -> dict:
    image = Image.open(io.BytesIO(item.png))
    width, height = image.size
    if item.photo:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=85, optimize=True)
        src = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    else:
        src = "data:image/png;base64," + base64.b64encode(item.png).decode("ascii")
    scale = 1.0 if item.photo else PLOT_CSS_DPI / item.dpi  # frames: one pixel per CSS pixel
    return {
        "kind": "figure", "title": item.title, "caption": item.caption, "absent": None, "src": src,
        "width": round(width * scale), "height": round(height * scale),
    }


def _item_view(item: TableItem | FigureItem) -> dict:
    if item.absent:
        return {"absent": item.absent}
    return _table_view(item) if isinstance(item, TableItem) else _figure_view(item)


def render_html(report: Report) -> str:
    """The report's HTML text."""
    sections = [
        {"title": s.title, "anchor": _anchor(s.title), "paragraphs": s.paragraphs, "entries": [_item_view(i) for i in s.items]}
        for s in report.sections
    ]
    view = {
        "title": report.title, "created": report.created, "facts": report.facts, "colours": report.colours,
        "absent": report.absent, "sections": sections,
    }
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(TEMPLATE).render(report=view)
