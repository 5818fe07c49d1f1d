"""Small inline SVG charts for the run reports (no JavaScript, no network, no library).

:func:`line_chart` draws one or more series over the same categorical x axis (runs, oldest
first). Every point carries a ``<title>`` so hovering shows run and value; missing values
(``None``) break the line instead of being drawn as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

__all__ = ["line_chart", "PALETTE", "nice_ticks"]

#: Colour-blind-friendly palette (Okabe-Ito), cycled over series.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def nice_ticks(upper: float, n: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``upper`` (``n`` intervals or fewer)."""
    if not upper or upper <= 0 or not math.isfinite(upper):
        return [0.0, 1.0]
    raw = upper / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    count = math.ceil(upper / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def _fmt_default(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1_000_000:
        return f"{v / 1_000_000:.3g}M"
    if abs(v) >= 1_000:
        return f"{v / 1_000:.3g}k"
    return f"{v:.3g}"


def line_chart(
    chart_id: str,
    title: str,
    x_labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    y_format: Callable[[float], str] = _fmt_default,
    width: int = 460,
    height: int = 220,
    highlight: int | None = None,
    min_top: float = 0.0,
) -> str:
    """An SVG line chart (markers on every point) as a string.

    ``series`` maps a legend name to one value per ``x_labels`` entry; ``highlight`` is the
    index of the x position to mark (the run the page is about); ``min_top`` is the smallest
    top of the y axis (so a run of zeros is not drawn against an axis up to 1). With no
    values at all the chart says so instead of drawing empty axes.
    """
    for name, values in series.items():
        if len(values) != len(x_labels):
            raise ValueError(f"series {name!r} has {len(values)} values for "
                             f"{len(x_labels)} x labels")
    values_all = [v for vs in series.values() for v in vs if v is not None]
    left, right, top, bottom = 52, 24, 26, 46
    legend_rows = math.ceil(len(series) / 3) if len(series) > 1 else 0
    height += legend_rows * 16
    plot_w, plot_h = width - left - right, height - top - bottom - legend_rows * 16
    parts = [
        f'<svg id="{_e(chart_id)}" class="chart" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{_e(title)}</title>",
        f'<text x="{left}" y="16" class="chart-title">{_e(title)}</text>',
    ]
    if not values_all:
        parts.append(f'<text x="{left}" y="{top + plot_h / 2:.1f}" class="chart-empty">'
                     "no data recorded for these runs</text></svg>")
        return "".join(parts)
    ticks = nice_ticks(max(max(values_all), min_top))
    y_max = ticks[-1] or 1.0
    n = len(x_labels)

    def x_at(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else i * plot_w / (n - 1))

    def y_at(v: float) -> float:
        return top + plot_h - (v / y_max) * plot_h

    for t in ticks:
        y = y_at(t)
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{left - 5}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{_e(y_format(t))}</text>')
    if highlight is not None and 0 <= highlight < n:
        parts.append(f'<line class="current" x1="{x_at(highlight):.1f}" '
                     f'x2="{x_at(highlight):.1f}" y1="{top}" y2="{top + plot_h}"/>')
    step = max(1, math.ceil(n / 8))
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text class="tick" x="{x_at(i):.1f}" y="{top + plot_h + 14}" '
                         f'text-anchor="middle">{_e(label)}</text>')
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                segments.append([])
                continue
            segments[-1].append(f"{x_at(i):.1f},{y_at(v):.1f}")
        for seg in segments:
            if len(seg) > 1:
                parts.append(f'<polyline class="series" fill="none" stroke="{colour}" '
                             f'stroke-width="2" points="{" ".join(seg)}"/>')
        for i, v in enumerate(values):
            if v is not None:
                parts.append(
                    f'<circle class="point" data-series="{_e(name)}" cx="{x_at(i):.1f}" '
                    f'cy="{y_at(v):.1f}" r="3" fill="{colour}"><title>{_e(x_labels[i])} '
                    f'{_e(name)}: {_e(y_format(v))}</title></circle>'
                )
        if legend_rows:
            lx = left + (k % 3) * (plot_w / 3)
            ly = top + plot_h + 32 + (k // 3) * 16
            parts.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" '
                         f'fill="{colour}"/><text class="legend" x="{lx + 14:.1f}" y="{ly}">'
                         f"{_e(name)}</text>")
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" '
                 f'y2="{top + plot_h}"/></svg>')
    return "".join(parts)
