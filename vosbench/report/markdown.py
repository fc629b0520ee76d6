"""The report as Markdown: the same sections, tables as pipe tables, figures as links to
the PNG files written beside it (``figures/<name>.png``)."""

from __future__ import annotations

from vosbench.report.content import FigureItem, Report, TableItem
from vosbench.report.table_formats import to_markdown


def render_markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", f"Made by vosbench on {report.created}.", ""]
    lines += [f"- **{key}**: {value}" for key, value in report.facts]
    if report.absent:
        lines += ["", "## Not in this report", ""] + [f"- {line}" for line in report.absent]
    for section in report.sections:
        lines += ["", f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for item in section.items:
            lines += _item(item) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _item(item: TableItem | FigureItem) -> list[str]:
    if item.absent:
        return [f"*{item.absent}*"]
    if isinstance(item, TableItem):
        return [f"### {item.title}", "", to_markdown(item.shown, item.digits).rstrip(), "", item.caption]
    return [f"### {item.title}", "", f"![{item.title}](figures/{item.name}.png)", "", item.caption]
