"""Chart geometry for inline SVG drawn on the server (no chart library, no script; SVG
presentation attributes are not styles, so the CSP allows them)."""

from __future__ import annotations

from dataclasses import dataclass

from wfapp.services.monitor import DayCount


@dataclass
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    css: str
    text_x: float = 0
    text_y: float = 0


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, float, str]]  # x, y, text
    axis_y: float = 0
    title: str = ""


def day_chart(days: list[DayCount], width: int = 640, height: int = 180) -> Chart:
    """Grouped columns per day: started and completed."""
    top, bottom, left = 16, 28, 8
    plot_h = height - top - bottom
    peak = max([max(d.started, d.completed) for d in days] + [1])
    group = (width - left * 2) / max(len(days), 1)
    bar_w = max(group / 2 - 3, 2)
    bars: list[Bar] = []
    labels: list[tuple[float, float, str]] = []
    for i, d in enumerate(days):
        x0 = left + i * group + 2
        for j, (value, css) in enumerate(((d.started, "bar-started"), (d.completed, "bar-completed"))):
            h = plot_h * value / peak
            x = x0 + j * (bar_w + 1)
            bars.append(
                Bar(
                    f"{d.day:%b %d} {'started' if j == 0 else 'completed'}",
                    value,
                    round(x, 1),
                    round(top + plot_h - h, 1),
                    round(bar_w, 1),
                    round(h, 1),
                    css,
                    round(x + bar_w / 2, 1),
                    round(top + plot_h - h - 3, 1),
                )
            )
        if len(days) <= 16 or i % 2 == 0:
            labels.append((round(x0 + group / 2 - 2, 1), height - 10, f"{d.day:%d %b}"))
    return Chart(width, height, bars, labels, axis_y=top + plot_h)


def hbar_chart(items: list[tuple[str, int, str]], total: int, width: int = 640, row: int = 24) -> Chart:
    """Horizontal bars, one per item, scaled to `total` (e.g. the number of workflows)."""
    label_w, right = 190, 70
    plot_w = width - label_w - right
    total = max(total, max([v for _l, v, _c in items] + [1]))
    bars: list[Bar] = []
    labels: list[tuple[float, float, str]] = []
    for i, (label, value, css) in enumerate(items):
        y = 6 + i * row
        w = plot_w * value / total if total else 0
        bars.append(Bar(label, value, label_w, y, round(w, 1), row - 8, css, round(label_w + w + 4, 1), y + row - 12))
        labels.append((label_w - 6, y + row - 12, label if len(label) <= 28 else label[:27] + "…"))
    return Chart(width, 12 + len(items) * row, bars, labels)
